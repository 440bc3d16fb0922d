"""Every feature composed by the site playbook: the agent runs unprivileged
and can do what each feature promises, and nothing more through sudo."""

import functools
import json
import os
import re

import pytest

from qbee_checks import (AGENT, CONFIG, DROPIN_DIR, SUDOERS, dropins, fresh_status,
                         main_pid_user, run_playbook, start_count, wait_for)


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


def sudo_rs(host):
    """Whether this device's sudo is sudo-rs (the qbee-test/debian:13-sudo-rs image)."""
    return host.run("sudo --version 2>&1").stdout.startswith("sudo-rs ")


def test_sudoers_file_is_least_privilege(host):
    sudoers = host.file(SUDOERS)
    assert (sudoers.user, sudoers.group, sudoers.mode) == ("root", "root", 0o440)
    assert host.run("visudo -cf %s" % SUDOERS).rc == 0
    # sudo-rs refuses requiretty; the original sudo gets it switched off for the agent.
    assert ("Defaults:%s !requiretty" % AGENT in sudoers.content_string) != sudo_rs(host)
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


# Stand-ins, root's like the real programs, for what a test device cannot run
# (shutdown would reboot it) or does not have (rauc, iptables): each logs its
# uid and arguments, so the log shows what got through the checker as root.
STANDIN_LOG = "/run/qbee-test-standin.log"
STANDINS = ["/usr/sbin/shutdown", "/usr/bin/rauc", "/usr/sbin/iptables"]


@pytest.fixture(scope="module")
def standins(host):
    for path in STANDINS:
        host.run_expect([0], "if [ -e {0} ] || [ -L {0} ]; then mv {0} {0}.qbee-test; fi && "
                        "printf '#!/bin/sh\\necho \"$(id -u) $(basename $0) $*\" >> {1}\\n' > {0} && chmod 0755 {0}"
                        .format(path, STANDIN_LOG))
    host.run_expect([0], "rm -f %s" % STANDIN_LOG)
    yield STANDIN_LOG
    for path in STANDINS:
        host.run("rm -f {0} && if [ -e {0}.qbee-test ] || [ -L {0}.qbee-test ]; then mv {0}.qbee-test {0}; fi".format(path))
    host.run("rm -f %s" % STANDIN_LOG)


def standin_log(host):
    return host.file(STANDIN_LOG).content_string if host.file(STANDIN_LOG).exists else ""


# What qbee-agent 2026.27 sends for each feature, as separate argv elements
# (DESIGN.md): each must get through the checker and do its work as root.
# Not run: yum, rpm and opkg (not on Debian).
APT = ["/usr/bin/apt-get", '-o Dpkg::Options::="--force-confdef"', '-o Dpkg::Options::="--force-confold"', "-f", "-y"]
AGENT_SENDS = [
    ["systemctl", "show", "--property=LoadState", "qbee-test-unit.service"],
    ["systemctl", "restart", "qbee-test-unit.service"],
    ["systemctl", "--no-block", "restart", "qbee-test-unit.service"],
    ["/usr/sbin/useradd", "--comment", "qbeetest,,,,User added by qbee", "--create-home", "--shell", "/bin/sh", "qbeetest"],
    ["/usr/sbin/userdel", "--remove", "qbeetest"],
    ["/usr/bin/dpkg", "-l"],
    ["/usr/bin/dpkg", "-i", "/tmp/qbee-test-pkg.deb"],
    APT + ["--allow-downgrades", "install", "qbee-test-pkg"],
    APT + ["install"],
    ["/usr/bin/apt-get", "update"],
    APT + ["upgrade"],
    APT + ["dist-upgrade"],
    ["/sbin/shutdown", "-r", "+1"],
    ["iptables", "-t", "filter", "-S", "INPUT"],
    ["iptables", "-t", "filter", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
    ["rauc", "status", "--output-format", "json", "--detailed"],
    ["rauc", "info", "--output-format", "json", "/var/lib/qbee/bundle.raucb"],
    ["rauc", "install", "/var/lib/qbee/bundle.raucb"],
]
STANDIN_RUNS = ["0 shutdown -r +1", "0 iptables -t filter -S INPUT", "0 iptables -t filter -A INPUT -p tcp --dport 22 -j ACCEPT",
                "0 rauc status --output-format json --detailed",
                "0 rauc info --output-format json /var/lib/qbee/bundle.raucb", "0 rauc install /var/lib/qbee/bundle.raucb"]


def quoted(argv):
    return " ".join("'%s'" % arg.replace("'", "'\\''") for arg in argv)


def test_every_command_the_agent_sends_gets_through_and_runs_as_root(host, standins):
    marker = "/run/qbee-test-unit.ran"
    host.run_expect([0], (
        "printf '[Service]\\nType=oneshot\\nExecStart=/bin/sh -c \"id -u >> %s\"\\n' > /etc/systemd/system/qbee-test-unit.service"
        " && systemctl daemon-reload && rm -rf /tmp/qbee-test-pkg && mkdir -p /tmp/qbee-test-pkg/DEBIAN"
        " && printf 'Package: qbee-test-pkg\\nVersion: 1\\nArchitecture: all\\nMaintainer: t <t@invalid>\\nDescription: t\\n'"
        " > /tmp/qbee-test-pkg/DEBIAN/control && dpkg-deb --root-owner-group -b /tmp/qbee-test-pkg /tmp/qbee-test-pkg.deb" % marker))
    try:
        for argv in AGENT_SENDS:
            result = host.run("runuser -u %s -- sudo -n %s %s </dev/null" % (AGENT, CHECKER, quoted(argv)))
            assert result.rc == 0, (argv, result.stdout[-500:], result.stderr[-500:])
            if argv[1] == "show":
                assert result.stdout.strip() == "LoadState=loaded"
            if argv[0] == "/usr/sbin/useradd":
                assert host.user("qbeetest").exists and host.file("/home/qbeetest").user == "qbeetest"
        assert wait_for(lambda: host.file(marker).exists and host.file(marker).content_string.split() == ["0", "0"])
        assert host.run("getent passwd qbeetest").rc != 0 and not host.file("/home/qbeetest").exists
        assert host.package("qbee-test-pkg").is_installed
        assert standin_log(host).splitlines() == STANDIN_RUNS
        # sudo logs each use, under both implementations.
        logged = host.check_output("journalctl -q --no-pager -t sudo")
        assert "COMMAND=%s /usr/sbin/userdel --remove qbeetest" % CHECKER in logged, logged[-2000:]
    finally:
        host.run("dpkg -P qbee-test-pkg; userdel -r qbeetest; rm -rf %s /tmp/qbee-test-pkg /tmp/qbee-test-pkg.deb "
                 "/etc/systemd/system/qbee-test-unit.service; systemctl daemon-reload" % marker)


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
    "apt-get a third option": ("/usr/bin/apt-get '-o Dpkg::Options::=\"--force-confdef\"' "
                               "'-o Dpkg::Options::=\"--force-confold\"' -o APT::Update::Post-Invoke::='touch MARK' -f -y install"),
    "dpkg -i with an option": "/usr/bin/dpkg -i --force-all /tmp/evil.deb",
    "systemctl start": "systemctl start evil.service",
    "systemctl restart of a shell unit": "systemctl restart debug-shell.service",
    "useradd into a privileged group": "/usr/sbin/useradd --comment x --create-home --shell /bin/sh -G sudo evil",
    "rauc write-slot": "/usr/bin/rauc write-slot rootfs.0 /tmp/evil.img",
    "shutdown now": "/sbin/shutdown -h now",
    "a shell through the checker": "/bin/sh -c 'touch MARK'",
}


def test_least_profile_denies_each_way_out_and_logs_it(host, standins):
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
        assert not any(word in standin_log(host) for word in ("write-slot", "--modprobe", "-h now")), standin_log(host)
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


REPORT = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "qbee-fleet-report.json")


@functools.lru_cache(maxsize=None)
def audit():
    """The verify playbook over every device, run once for the module, writing its JSON report."""
    if os.path.exists(REPORT):
        os.unlink(REPORT)
    return run_playbook("qbee.unprivileged.verify", {"qbee_agent_report_path": REPORT})


def test_verify_playbook_passes_and_writes_nothing(host):
    starts = start_count(host)
    config = host.file(CONFIG).content_string
    rc, output = audit()
    assert rc == 0, output
    assert "All 3 devices run qbee-agent as configured." in output
    name = host.backend.get_hostname()
    assert "%s | True | qbee-agent (" % name in output and " | least | /usr/bin/sudo -n %s | ok" % CHECKER in output
    assert "changed=0" in output and "changed=1" not in output
    assert start_count(host) == starts and host.file(CONFIG).content_string == config


def test_site_refuses_to_run_after_verify_in_the_same_run(host):
    """verify's defaults are facts that outlive its play: a site play after it would obey them, not its own."""
    playbook = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "verify-then-site.yml")
    starts = start_count(host)
    config = host.file(CONFIG).content_string
    rc, output = run_playbook(playbook, limit=host.backend.get_hostname())
    assert rc != 0, output
    assert "All 1 devices run qbee-agent as configured." in output
    assert "nothing was changed: the verify playbook ran earlier in this ansible-playbook run" in output, output
    assert start_count(host) == starts and host.file(CONFIG).content_string == config


def test_verify_writes_the_fleet_report_as_json(host):
    """qbee_agent_report_path: the table's rows as data, on the controller, for a dashboard or CI."""
    rc, output = audit()
    assert rc == 0, output
    with open(REPORT) as handle:
        report = json.load(handle)
    assert report["devices"] == report["ok"] == 3 and report["not_ok"] == [] and report["unaudited"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report["generated"])
    row = [r for r in report["results"] if r["host"] == host.backend.get_hostname()][0]
    assert row["ok"] is True and row["problems"] == [] and row["unprivileged"] is True
    assert row["user"] == "qbee-agent" and row["sudoers_profile"] == "least"
    assert sorted(row["features"]) == ["base", "docker", "podman", "remote_console", "sudoers", "tpm"]
    assert all(row["features"][name] is True for name in ("base", "remote_console", "docker", "tpm", "sudoers"))
    assert row["dropins"][0] == "10-unprivileged.conf" and "30-docker.conf" in row["dropins"]
    assert row["elevation_command"] == ["/usr/bin/sudo", "-n", CHECKER]
