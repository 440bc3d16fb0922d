"""Bad inputs: a clear failure naming the problem, and the device as it was.

Each case runs apply.yml against one device with one bad input,
then checks that device."""

import os

from qbee_checks import AGENT, CONFIG, DROPIN_DIR, SUDOERS, dropins, fresh_status, run_playbook

APPLY = os.path.join(os.path.dirname(__file__), "..", "apply.yml")


def snapshot(host):
    return {
        "sudoers": host.file(SUDOERS).content_string,
        "config": host.file(CONFIG).content_string,
        "dropins": dropins(host),
        "console": host.file(DROPIN_DIR + "/20-remote-console.conf").content_string,
    }


def assert_unchanged_and_running(host, before):
    assert snapshot(host) == before
    report = fresh_status(host)
    assert report["user"] == AGENT and report["elevation"]["ok"] is True


def apply(host, **extra_vars):
    return run_playbook(APPLY, extra_vars, limit=host.backend.get_hostname())


def test_invalid_custom_sudoers_rule_is_rejected_by_visudo(host):
    before = snapshot(host)
    rc, output = apply(host, qbee_test_roles=["sudoers"], qbee_agent_sudoers_profile="custom",
                       qbee_agent_sudoers_custom_commands=["/usr/bin/systemctl restart a:b"])
    assert rc != 0 and "failed validation (/usr/sbin/visudo -cf <new file>), so nothing was changed" in output, output
    assert_unchanged_and_running(host, before)
    assert host.run("sudo -n -l -U %s" % AGENT).rc == 0


def test_nonexistent_console_shell_is_refused(host):
    before = snapshot(host)
    rc, output = apply(host, qbee_test_roles=["remote_console"], qbee_agent_console_shell="/bin/zsh")
    assert rc != 0 and "qbee_agent_console_shell /bin/zsh does not exist on this host" in output, output
    assert_unchanged_and_running(host, before)


def test_docker_without_its_group_is_refused(host):
    before = snapshot(host)
    rc, output = apply(host, qbee_test_roles=["docker"], qbee_agent_docker_state="present")
    assert rc != 0 and 'this host has no "docker" group' in output, output
    assert_unchanged_and_running(host, before)


def test_malformed_config_fails_clearly_and_stays_as_it_was(host):
    before = snapshot(host)
    original = host.file(CONFIG).content_string
    broken = '{"server":"device.app.qbee.io","port":"443",'
    host.run_expect([0], "printf '%%s' '%s' > %s" % (broken, CONFIG))
    try:
        rc, output = apply(host, qbee_test_roles=["base", "sudoers"])
        assert rc != 0 and "cannot be used: not valid JSON" in output, output
        assert host.file(CONFIG).content_string == broken
    finally:
        host.run_expect([0], "printf '%%s' '%s' > %s" % (original, CONFIG))
    assert_unchanged_and_running(host, before)


def test_config_the_agent_cannot_decode_is_refused_when_all_else_is_in_place(host):
    # The preflight reports the bad type, so sudoers does not skip its tasks
    # and agent_config refuses to write a config the agent would not start with.
    before = snapshot(host)
    original = host.file(CONFIG).content_string
    broken = original.replace('"port":"443"', '"port":443')
    assert broken != original
    host.run_expect([0], "printf '%%s' '%s' > %s" % (broken, CONFIG))
    try:
        rc, output = apply(host, qbee_test_roles=["sudoers"])
        assert rc != 0 and "key 'port' in %s is a number, but the agent needs a string" % CONFIG in output, output
        assert host.file(CONFIG).content_string == broken
    finally:
        host.run_expect([0], "printf '%%s' '%s' > %s" % (original, CONFIG))
    assert_unchanged_and_running(host, before)


def test_agent_that_cannot_start_unprivileged_is_rolled_back_to_root(host):
    # A drop-in of somebody else's that only lets root start the agent: the
    # next change's restart fails, and the device must end up in root mode.
    breaker = DROPIN_DIR + "/05-test-root-only.conf"
    host.run_expect([0], "printf '[Service]\\nExecStartPre=/bin/sh -c \"test $(id -u) = 0\"\\n' > %s" % breaker)
    try:
        rc, output = apply(host, qbee_test_roles=["remote_console"], qbee_agent_remote_console_state="absent",
                           qbee_agent_restart_timeout=15)
        assert rc != 0, output
        assert "qbee-agent did not come up as configured" in output, output
        # The run's change (the console drop-in removed) is put back first; the
        # agent cannot start unprivileged even so, so root mode is the last resort.
        assert "put back: restored /etc/systemd/system/qbee-agent.service.d/20-remote-console.conf" in output, output
        assert "rolled back to root mode: the agent now runs as root" in output, output
        report = fresh_status(host)
        assert report["user"] == "root"
        assert dropins(host) == ["05-test-root-only.conf"]
        assert "elevation_command" not in host.file(CONFIG).content_string
        assert host.file("/etc/qbee").user == "root" and host.file("/var/lib/qbee").user == "root"
    finally:
        host.run_expect([0], "rm -f %s && systemctl daemon-reload" % breaker)


def test_custom_profile_grants_exactly_the_listed_commands(host):
    """Not a bad input: the custom profile, then back to least."""
    command = "/usr/bin/systemctl restart qbee-agent.service"
    try:
        rc, output = apply(host, qbee_test_roles=["sudoers"], qbee_agent_sudoers_profile="custom",
                           qbee_agent_sudoers_custom_commands=[command])
        assert rc == 0, output
        listing = host.check_output("sudo -n -l -U %s" % AGENT)
        assert "(root) NOPASSWD: %s" % command in listing
        assert "/usr/bin/apt-get" not in listing and "NOPASSWD: ALL" not in listing
        denied = host.run("runuser -u %s -- sudo -n systemctl show -p LoadState qbee-agent.service" % AGENT)
        assert denied.rc != 0
    finally:
        rc, output = apply(host, qbee_test_roles=["sudoers"])
        assert rc == 0, output
    assert "NOPASSWD: /usr/local/sbin/qbee-agent-elevate" in host.file(SUDOERS).content_string
