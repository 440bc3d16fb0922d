"""Every feature composed by the site playbook: the agent runs unprivileged
and can do what each feature promises, and nothing more through sudo."""

import functools
import json

import pytest

from qbee_checks import (AGENT, CONFIG, DROPIN_DIR, SUDOERS, dropins, fresh_status,
                         main_pid_user, run_playbook, start_count)


@pytest.fixture(scope="module")
def report(host):
    return fresh_status(host)


def test_agent_runs_as_its_user_with_every_feature_group(host, report):
    user = host.user(AGENT)
    assert report["user"] == AGENT and report["uid"] == user.uid and report["gid"] == user.gid
    assert set(report["group_names"]) >= {"docker", "tss"}
    assert main_pid_user(host) == AGENT


def test_agent_user_is_a_nologin_system_user_with_a_real_home(host):
    user = host.user(AGENT)
    assert user.uid < 1000
    assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin")
    assert user.home == "/home/qbee-agent"
    home = host.file(user.home)
    assert home.is_directory and home.user == AGENT


def test_restarted_exactly_once(host):
    # One start at boot, one at the end of converge; none in check mode or
    # in the idempotence run.
    assert start_count(host) == 2


def test_folders_belong_to_the_agent(host):
    for path in ("/etc/qbee", "/etc/qbee/ppkeys", "/var/lib/qbee"):
        folder = host.file(path)
        assert (folder.user, folder.group, folder.mode) == (AGENT, AGENT, 0o700), path
    for key in ("ca.cert", "qbee.key", "qbee.cert"):
        assert host.file("/etc/qbee/ppkeys/" + key).user == AGENT


def test_each_feature_has_its_own_root_owned_dropin(host):
    assert dropins(host) == [
        "10-unprivileged.conf", "20-remote-console.conf", "30-docker.conf", "40-podman.conf", "50-tpm.conf",
    ]
    for name in dropins(host):
        dropin = host.file("%s/%s" % (DROPIN_DIR, name))
        assert (dropin.user, dropin.group, dropin.mode) == ("root", "root", 0o644)
        assert dropin.content_string.startswith("#")  # ansible_managed comment


def test_remote_console_gets_bash(report):
    assert report["shell_env"] == "/bin/bash" and report["console_shell"] == "/bin/bash"


CHECKER = "/usr/local/sbin/qbee-agent-elevate"


def test_elevation_through_sudo_works(host, report):
    config = json.loads(host.file(CONFIG).content_string)
    assert config["elevation_command"] == ["/usr/bin/sudo", "-n", CHECKER]
    assert report["elevation"]["mode"] == "elevation_command"
    assert report["elevation"]["ok"] is True, report["elevation"]
    assert report["elevation"]["output"] == "LoadState=loaded"


def test_sudoers_file_is_least_privilege(host):
    sudoers = host.file(SUDOERS)
    assert (sudoers.user, sudoers.group, sudoers.mode) == ("root", "root", 0o440)
    assert host.run("visudo -cf %s" % SUDOERS).rc == 0
    checker = host.file(CHECKER)
    assert (checker.user, checker.group, checker.mode) == ("root", "root", 0o755)
    listing = host.check_output("sudo -n -l -U %s" % AGENT)
    assert "(root) NOPASSWD: %s" % CHECKER in listing
    assert "NOPASSWD: ALL" not in listing and "/usr/bin/apt-get" not in listing


def test_least_profile_denies_a_shell(host):
    denied = host.run("runuser -u %s -- sudo -n /bin/sh -c id" % AGENT)
    assert denied.rc != 0 and "uid=0" not in denied.stdout
    allowed = host.run("runuser -u %s -- sudo -n %s systemctl show --property=LoadState qbee-agent.service" % (AGENT, CHECKER))
    assert allowed.rc == 0 and allowed.stdout.strip() == "LoadState=loaded"


# Each a way a tool the agent may run becomes a root shell; each, if it got
# through, would create its marker as root.
ESCAPES = {
    "apt-get hook": "/usr/bin/apt-get -o APT::Update::Pre-Invoke::='touch MARK' update",
    "dpkg option": "/usr/bin/dpkg --force-all --admindir=/tmp -l",
    "systemctl link": "systemctl link /tmp/evil.service",
    "useradd uid 0": "/usr/sbin/useradd -o -u 0 -g 0 evil",
    "userdel of a system account": "/usr/sbin/userdel --remove www-data",
    "iptables modprobe": "/usr/sbin/iptables -t filter -A INPUT --modprobe=/tmp/evil.sh -j ACCEPT",
    "apt-get install of a path": ("/usr/bin/apt-get '-o Dpkg::Options::=\"--force-confdef\"' "
                                  "'-o Dpkg::Options::=\"--force-confold\"' -f -y --allow-downgrades install ./evil.deb"),
    "a shell through the checker": "/bin/sh -c 'touch MARK'",
}


def test_least_profile_denies_each_way_out_and_logs_it(host):
    marker = "/tmp/qbee-escape-marker"
    host.run_expect([0], "printf '[Service]\\nExecStart=/bin/touch %s\\n' > /tmp/evil.service && "
                    "printf '#!/bin/sh\\ntouch %s\\n' > /tmp/evil.sh && chmod 0755 /tmp/evil.sh" % (marker, marker))
    try:
        for name, command in ESCAPES.items():
            result = host.run("runuser -u %s -- sudo -n %s %s" % (AGENT, CHECKER, command.replace("MARK", marker)))
            assert result.rc == 126 and "qbee-agent-elevate: denied" in result.stderr, (name, result.stderr)
            assert not host.file(marker).exists, name
        assert host.run("getent passwd evil").rc != 0 and host.run("getent passwd www-data").rc == 0
        assert host.run("systemctl cat evil.service").rc != 0
        logged = host.check_output("journalctl -q --no-pager -t qbee-agent-elevate -p warning")
        assert logged.count("denied %s" % AGENT) >= len(ESCAPES), logged
    finally:
        host.run("rm -f %s /tmp/evil.service /tmp/evil.sh" % marker)


def test_docker_socket_reachable(report):
    assert report["docker_socket"]["ping"] is True, report["docker_socket"]


def test_rootless_podman_socket_reachable(host, report):
    uid = host.user(AGENT).uid
    assert report["environment"]["XDG_RUNTIME_DIR"] == "/run/user/%d" % uid
    assert report["environment"]["CONTAINER_HOST"] == "unix:///run/user/%d/podman/podman.sock" % uid
    assert report["podman_socket"]["ping"] is True, report["podman_socket"]
    assert host.file("/var/lib/systemd/linger/%s" % AGENT).exists
    assert host.service("user@%d" % uid).is_running
    assert host.file("/etc/subuid").contains("^%s:" % AGENT)
    assert host.file("/etc/subgid").contains("^%s:" % AGENT)


def test_tpm_resource_manager_open_to_the_agent(host, report):
    assert json.loads(host.file(CONFIG).content_string)["tpm_device"] == "/dev/tpmrm0"
    assert report["tpm"]["device"] == "/dev/tpmrm0" and report["tpm"]["accessible"] is True


def test_config_keeps_its_compact_layout_and_mode(host):
    config = host.file(CONFIG)
    assert "\n" not in config.content_string and ", " not in config.content_string
    assert config.mode == 0o600 and config.user == AGENT


@functools.lru_cache(maxsize=None)
def audit():
    """The verify playbook over both devices, run once for the module."""
    return run_playbook("qbee.unprivileged.verify")


def test_verify_playbook_passes_and_writes_nothing(host):
    starts = start_count(host)
    config = host.file(CONFIG).content_string
    rc, output = audit()
    assert rc == 0, output
    assert "All 2 devices run qbee-agent as configured." in output
    name = host.backend.get_hostname()
    assert "%s | True | qbee-agent (" % name in output and " | least | /usr/bin/sudo -n %s | ok" % CHECKER in output
    assert "changed=0" in output and "changed=1" not in output
    assert start_count(host) == starts and host.file(CONFIG).content_string == config
