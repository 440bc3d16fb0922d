"""The trust boundary: the agent user gets no path to root through the files
root touches, and a failed run leaves the device as it found it, on disk.

Runs in order on a fresh device: first the failure modes (each followed by a
"reboot"), then the attacks on a converted device."""

import json
import os

from qbee_checks import AGENT, CONFIG, DROPIN_DIR, fresh_status, run_playbook

SITE = "qbee.unprivileged.site"
REVERT = "qbee.unprivileged.revert"
APPLY = os.path.join(os.path.dirname(__file__), "..", "..", "failure", "apply.yml")
HEAL = "/usr/local/sbin/qbee-agent-heal"
BREAKER = DROPIN_DIR + "/05-test-root-only.conf"
# Files outside the agent's folders that its planted links point at.
TARGETS = ["/etc/shadow", "/etc/systemd/system", "/home/victim", "/usr/bin/sudo", "/etc/passwd", "/root/secret.json"]


def site(host, *args, **extra_vars):
    return run_playbook(SITE, extra_vars, limit=host.backend.get_hostname(), args=list(args))


def as_agent(host, command):
    host.run_expect([0], "runuser -u %s -- sh -c %s" % (AGENT, json.dumps(command)))


def reboot(host):
    """What the next boot does with what the run left on disk."""
    host.run_expect([0], "systemctl daemon-reload && systemctl restart qbee-agent")
    return fresh_status(host)


def device(host):
    """What must be exactly as before a failed run."""
    return {
        "config": host.check_output("sha256sum %s" % CONFIG),
        "dropins": host.check_output("ls -A %s 2>/dev/null || true" % DROPIN_DIR),
        "user": host.run("getent passwd %s" % AGENT).stdout,
        "home": host.run("ls -d /home/%s" % AGENT).rc,
        "owners": host.check_output("stat -c '%%U:%%G %%a %%n' /etc/qbee /etc/qbee/* /etc/qbee/ppkeys/* /var/lib/qbee"),
        "heal": host.file(HEAL).exists,
        "journal": host.run("ls -A /var/lib/qbee-unprivileged/journal 2>/dev/null").stdout,
    }


def targets(host):
    return host.check_output("stat -c '%%U:%%G %%a %%s %%n' %s && sha256sum %s" % (
        " ".join(TARGETS), " ".join(t for t in TARGETS if host.file(t).is_file)))


def break_the_unprivileged_start(host):
    """A drop-in of somebody else's that lets the agent start only as root."""
    host.run_expect([0], "mkdir -p %s && printf '[Service]\\nExecStartPre=/bin/sh -c \"test $(id -u) = 0\"\\n' > %s"
                    % (DROPIN_DIR, BREAKER))


def assert_failed_and_as_before(host, before, rc, output, *messages):
    assert rc != 0, output
    for message in messages:
        assert message in output, output
    report = reboot(host)
    assert report["user"] == "root", report
    assert device(host) == before


# ---- failure modes on a fresh device ------------------------------------------------------

def test_fresh_device_is_in_root_mode(host):
    host.run_expect([0], "useradd -m victim && chmod 0700 /home/victim")
    host.run_expect([0], "printf '{\"secret\":\"TOPSECRET-VALUE\"}' > /root/secret.json && chmod 0600 /root/secret.json")
    assert fresh_status(host)["user"] == "root"
    assert not host.file(DROPIN_DIR).exists or host.file(DROPIN_DIR).listdir() == []


def test_an_agent_older_than_elevation_is_refused_changing_nothing(host):
    before = device(host)
    host.run_expect([0], "mkdir -p /etc/qbee-standin && echo 2025.49 > /etc/qbee-standin/version")
    try:
        rc, output = site(host)
        assert_failed_and_as_before(host, before, rc, output, "nothing was changed",
                                    "qbee-agent 2025.49 is older than qbee_agent_min_version 2026.11")
    finally:
        host.run_expect([0], "rm -rf /etc/qbee-standin")


def test_docker_and_tpm_forced_on_without_group_or_device_are_refused_before_any_change(host):
    before = device(host)
    rc, output = site(host, qbee_agent_docker_enabled=True, qbee_agent_tpm_enabled=True)
    assert_failed_and_as_before(host, before, rc, output, "nothing was changed",
                                'this host has no "docker" group', "this host has no 'tss' group")


def test_a_bad_switch_or_setting_is_refused_naming_it_before_any_change(host):
    """The switch filter's message and the roles' argument specs (checked by the
    site playbook's preflight, for every role of the play at once)."""
    before = device(host)
    rc, output = site(host, qbee_agent_docker_enabled="maybe")
    assert_failed_and_as_before(host, before, rc, output, "qbee_agent_docker_enabled must be true, false or auto, got 'maybe'")
    rc, output = site(host, qbee_agent_tpm_use_resource_manager="sometimes")
    assert_failed_and_as_before(host, before, rc, output, "Validation of arguments failed",
                                "argument 'qbee_agent_tpm_use_resource_manager' is of type str and we were unable to convert to bool")


def test_paths_the_agent_user_could_replace_and_a_bad_min_version_are_refused_before_any_change(host):
    before = device(host)
    rc, output = site(host, qbee_agent_journal_dir="/var/lib/qbee/journal", qbee_agent_heal_program="/etc/qbee/heal",
                      qbee_agent_min_version="latest")
    assert_failed_and_as_before(host, before, rc, output, "nothing was changed",
                                "qbee_agent_journal_dir /var/lib/qbee/journal lies inside a folder the agent user owns",
                                "qbee_agent_heal_program /etc/qbee/heal lies inside a folder the agent user owns",
                                "qbee_agent_min_version must be a version such as 2026.11, got latest")
    assert not host.file("/var/lib/qbee/journal").exists and not host.file("/etc/qbee/heal").exists


def test_a_sudoers_rule_sudo_rejects_is_refused_before_any_change(host):
    """As sudo-rs refused the vendor's '!syslog': a visudo that rejects the file."""
    host.run_expect([0], "mv /usr/sbin/visudo /usr/sbin/visudo.qbee-test && "
                    "printf '#!/bin/sh\\necho \"$2:4: syntax error\" >&2\\nexit 1\\n' > /usr/sbin/visudo && chmod 0755 /usr/sbin/visudo")
    try:
        before = device(host)
        rc, output = site(host)
        assert_failed_and_as_before(host, before, rc, output,
                                    "Nothing was changed: checking the sudoers rules the play writes failed",
                                    "failed validation", "syntax error")
        assert "put back" not in output
    finally:
        host.run_expect([0], "mv /usr/sbin/visudo.qbee-test /usr/sbin/visudo")


def test_an_agent_that_does_not_come_up_is_put_back_as_it_was(host):
    break_the_unprivileged_start(host)
    try:
        before = device(host)
        rc, output = site(host, qbee_agent_restart_timeout=15)
        assert_failed_and_as_before(host, before, rc, output, "qbee-agent did not come up as configured",
                                    "The agent runs as root again, as before.")
    finally:
        host.run_expect([0], "rm -f %s && systemctl daemon-reload" % BREAKER)


def cut_short(host):
    """Start site and kill the controller while the run waits for the agent
    it restarted (the breaker keeps it down): what a lost controller leaves."""
    import signal
    import subprocess
    import time

    from qbee_checks import wait_for

    argv = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], SITE, "--limit", host.backend.get_hostname(),
            "-e", json.dumps({"qbee_agent_restart_timeout": 60})]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.cfg"))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        waiting = wait_for(lambda: host.run("systemctl is-active qbee-agent").stdout.strip() != "active"
                           and host.run("ls -A /var/lib/qbee-unprivileged/journal").stdout.strip(), timeout=240, interval=1)
        assert waiting, "the run never reached its restart"
        time.sleep(2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert host.run("ls -A /var/lib/qbee-unprivileged/journal").stdout.strip(), "the cut run left no journal"


def test_a_run_cut_short_is_undone_by_the_next_run_that_fails(host):
    break_the_unprivileged_start(host)
    try:
        before = device(host)
        cut_short(host)
        rc, output = site(host, qbee_agent_restart_timeout=15)
        assert_failed_and_as_before(host, before, rc, output, "qbee-agent did not come up as configured",
                                    "removed user %s" % AGENT)
    finally:
        host.run_expect([0], "rm -f %s && systemctl daemon-reload && systemctl restart qbee-agent" % BREAKER)


def test_a_run_cut_short_is_kept_by_the_next_run_that_succeeds(host):
    break_the_unprivileged_start(host)
    try:
        cut_short(host)
    finally:
        host.run_expect([0], "rm -f %s" % BREAKER)
    rc, output = site(host)
    assert rc == 0, output
    assert not host.run("ls -A /var/lib/qbee-unprivileged/journal").stdout.strip()
    assert reboot(host)["user"] == AGENT
    rc, output = site(host)
    assert rc == 0 and "changed=0" in output, output
    rc, output = run_playbook(REVERT, {}, limit=host.backend.get_hostname())
    assert rc == 0, output
    assert reboot(host)["user"] == "root"


def test_no_sudo_and_no_package_source_is_refused_before_any_change(host):
    host.run_expect([0], "SUDO_FORCE_REMOVE=yes dpkg -r sudo >/dev/null && mkdir -p /root/apt-sources && mv /etc/apt/sources.list* /root/apt-sources/"
                    " && rm -rf /var/lib/apt/lists/*")
    try:
        before = device(host)
        rc, output = site(host)
        assert_failed_and_as_before(host, before, rc, output, "Nothing was changed: installing sudo failed")
        # apt's own words: python3-apt, which the apt module needs first, or sudo itself.
        assert "Unable to locate package" in output or "No package matching 'sudo'" in output, output
        assert "put back" not in output
    finally:
        host.run_expect([0], "mv /root/apt-sources/* /etc/apt/ && apt-get update -qq && "
                        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sudo >/dev/null")


def test_no_sudo_and_empty_package_lists_get_sudo_installed_before_the_first_change(host):
    """A minimal image ships empty lists: the preflight refreshes them and
    installs sudo before anything of the agent's changes."""
    host.run_expect([0], "SUDO_FORCE_REMOVE=yes dpkg -r sudo >/dev/null && rm -rf /var/lib/apt/lists/*")
    rc, output = site(host, "--check")
    assert rc == 0, output
    assert fresh_status(host)["user"] == "root" and not host.exists("sudo")
    rc, output = site(host)
    assert rc == 0, output
    assert host.exists("sudo") and fresh_status(host)["user"] == AGENT
    rc, output = run_playbook(REVERT, {}, limit=host.backend.get_hostname())
    assert rc == 0, output
    assert fresh_status(host)["user"] == "root"


# ---- the agent user attacks a converted device ----------------------------------------------

def test_planted_links_and_hard_links_are_never_followed_or_re_owned(host):
    rc, output = site(host)
    assert rc == 0, output
    before = targets(host)
    as_agent(host, "ln -s /etc/shadow /var/lib/qbee/x && ln -s /etc/systemd/system /etc/qbee/y"
                   " && ln -s /home/victim /var/lib/qbee/victim && ln -s /usr/bin/sudo /etc/qbee/z"
                   " && mkdir -p /var/lib/qbee/d/e && ln -s /etc /var/lib/qbee/d/e/etc")
    # A hard link the kernel would refuse the agent (protected_hardlinks), made as root.
    host.run_expect([0], "ln /etc/passwd /var/lib/qbee/passwd-link && touch /var/lib/qbee/root-owned")
    rc, output = site(host, "--diff")
    assert rc == 0, output
    assert "left alone under /var/lib/qbee" in output and "passwd-link" in output, output
    assert targets(host) == before
    assert host.file("/var/lib/qbee/root-owned").user == AGENT
    assert host.file("/var/lib/qbee/passwd-link").user == "root"
    assert fresh_status(host)["user"] == AGENT


def test_the_heal_before_every_start_re_owns_what_an_upgrade_left_and_follows_nothing(host):
    before = targets(host)
    # What a package upgrade leaves (cp -a as root), and what the agent user plants beside it.
    host.run_expect([0], "chown root:root /etc/qbee/ppkeys/ca.cert && chmod 0600 /etc/qbee/ppkeys/ca.cert")
    as_agent(host, "ln -s /etc/shadow /etc/qbee/ppkeys/evil && ln -s /etc /etc/qbee/etc")
    host.run_expect([0], "ln /etc/passwd /etc/qbee/passwd-link")
    try:
        report = reboot(host)
        assert report["user"] == AGENT
        assert host.file("/etc/qbee/ppkeys/ca.cert").user == AGENT
        assert host.file("/etc/qbee/passwd-link").user == "root"
        assert targets(host) == before
        heal_log = host.check_output("journalctl -u qbee-agent --no-pager -o cat | grep qbee-agent-heal | tail -n 2")
        assert "left alone under /etc/qbee" in heal_log and "passwd-link" in heal_log, heal_log
    finally:
        host.run_expect([0], "rm -f /etc/qbee/passwd-link /etc/qbee/ppkeys/evil /etc/qbee/etc")


def test_a_config_replaced_by_a_link_fifo_or_huge_file_is_refused_and_never_shown(host):
    original = host.file(CONFIG).content_string
    before = targets(host)
    try:
        for plant, message in (("ln -sf /root/secret.json %s" % CONFIG, "is a symbolic link to /root/secret.json"),
                               ("rm -f %s && mkfifo %s" % (CONFIG, CONFIG), "is a FIFO"),
                               ("rm -f %s && head -c 10485760 /dev/zero > %s" % (CONFIG, CONFIG), "more than the 65536")):
            as_agent(host, plant)
            rc, output = site(host, "--diff")
            assert rc != 0 and message in output and "nothing was changed" in output, output
            assert "TOPSECRET" not in output
            assert targets(host) == before
    finally:
        host.run_expect([0], "rm -f %s" % CONFIG)
        host.run_expect([0], "printf '%%s' '%s' > %s && chown %s: %s" % (original, CONFIG, AGENT, CONFIG))


def test_revert_ends_the_agent_user_and_hands_back_without_following(host):
    before = targets(host)
    as_agent(host, "sleep 600 </dev/null >/dev/null 2>&1 &")
    rc, output = run_playbook(REVERT, {}, limit=host.backend.get_hostname())
    assert rc == 0, output
    assert targets(host) == before
    assert host.run("pgrep -u %s" % AGENT).rc == 1, "a process of the agent user survived root mode"
    assert host.file("/var/lib/qbee").user == "root" and host.file("/etc/qbee").user == "root"
    assert host.file("/var/lib/qbee/x").is_symlink and host.file("/etc/shadow").user == "root"
    assert fresh_status(host)["user"] == "root"


def test_a_forced_rollback_reaches_root_mode_only_after_the_agent_user_is_gone(host):
    rc, output = site(host)
    assert rc == 0, output
    before = targets(host)
    as_agent(host, "sleep 600 </dev/null >/dev/null 2>&1 &")
    host.run_expect([0], "printf '[Service]\\nExecStartPre=/bin/sh -c \"test $(id -u) = 0\"\\n' > %s" % BREAKER)
    try:
        rc, output = site(host, qbee_agent_remote_console_enabled=False, qbee_agent_restart_timeout=15)
        assert rc != 0 and "rolled back to root mode: the agent now runs as root" in output, output
        assert host.run("pgrep -u %s" % AGENT).rc == 1
        assert targets(host) == before
        assert host.file("/var/lib/qbee").user == "root"
        assert reboot(host)["user"] == "root"
    finally:
        host.run_expect([0], "rm -f %s && systemctl daemon-reload" % BREAKER)
