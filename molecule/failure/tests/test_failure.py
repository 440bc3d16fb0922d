"""Bad inputs: a clear failure naming the problem, and the device as it was.

Each case runs apply.yml against one device with one bad input,
then checks that device."""

import json
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
    assert report["user"] == AGENT and report["elevation"]["ok"] is True, json.dumps(report["elevation"])


def apply(host, **extra_vars):
    return run_playbook(APPLY, extra_vars, limit=host.backend.get_hostname())


# Custom commands that would grant more than they list, under sudo or sudo-rs.
WIDER_THAN_LISTED = [
    "/bin/true : ALL = (ALL) NOPASSWD: ALL",  # a second rule
    "/bin/true, /bin/sh",  # a second command
    "/usr/bin/apt-get *",  # a wildcard, which matches across spaces
    "/usr/bin/systemctl restart a?.service",
    "/usr/bin/systemctl restart [ab].service",
    "/usr/bin/less !x",
    "/usr/bin/id #1",
    "/usr/bin/id \\, /bin/sh",
    "/usr/bin/id  -u",  # two spaces
    "ALL",
    "sudoedit /etc/shadow",
    "/usr/bin/id \"-u\"",
    "/home/qbee-agent/bin/tool",  # the agent user's to replace
    "/usr/../home/qbee-agent/bin/tool",
    "/run/qbee/tool",  # the agent's runtime folder
    "/usr/bin/",  # a folder: every program in it
]


def test_custom_rules_that_grant_more_than_they_list_are_refused(host):
    before = snapshot(host)
    rc, output = apply(host, qbee_test_roles=["sudoers"], qbee_agent_sudoers_profile="custom",
                       qbee_agent_sudoers_custom_commands=WIDER_THAN_LISTED)
    assert rc != 0 and "This device is not ready, nothing was changed" in output, output
    assert "qbee_agent_sudoers_custom_commands must list commands" in output
    # All of them named, in the message as printed or as JSON.
    listed = ", ".join(WIDER_THAN_LISTED)
    assert "these are not: " + listed in output or "these are not: " + json.dumps(listed)[1:-1] in output, output
    assert_unchanged_and_running(host, before)


def test_sudoers_syntax_in_the_user_or_checker_name_is_refused(host):
    before = snapshot(host)
    rc, output = apply(host, qbee_test_roles=["sudoers"], qbee_agent_user="ALL",
                       qbee_agent_sudoers_checker="/usr/local/sbin/x, /bin/sh")
    assert rc != 0 and "nothing was changed" in output, output
    assert "qbee_agent_user ALL cannot be named in a sudoers rule" in output
    assert "qbee_agent_sudoers_checker /usr/local/sbin/x, /bin/sh cannot be named in a sudoers rule" in output
    assert_unchanged_and_running(host, before)


VENDOR_RULE = "/etc/sudoers.d/99-qbee-agent"


def test_a_foreign_rule_that_widens_the_agents_grant_is_reported(host):
    """The vendor guide's file, a group rule for the agent's group: the preflight
    fails (or, switched to warn, warns), verify reports them."""
    before = snapshot(host)
    host.run_expect([0], "printf 'qbee-agent ALL=(ALL) NOPASSWD: ALL\\n%%qbee-agent ALL=(root) NOPASSWD: /bin/sh\\n' > {0} "
                    "&& chmod 0440 {0} && visudo -cf {0}".format(VENDOR_RULE))
    try:
        rc, output = apply(host, qbee_test_roles=["sudoers"])
        assert rc != 0 and "This device is not ready, nothing was changed" in output, output
        # Paths as the files they name: sudo-rs lists /bin/sh as /usr/bin/sh.
        assert "grants qbee-agent more than the least profile: (ALL) NOPASSWD: ALL; (root) NOPASSWD: /usr/bin/sh" in output
        assert_unchanged_and_running(host, before)

        rc, output = run_playbook("qbee.unprivileged.verify", limit=host.backend.get_hostname())
        assert rc != 0 and "sudo grants qbee-agent more than the least profile: (ALL) NOPASSWD: ALL" in output, output

        rc, output = apply(host, qbee_test_roles=["sudoers"], qbee_agent_sudoers_foreign_grants="warn")
        assert rc == 0, output
        assert "sudo grants qbee-agent more than this collection's rules: (ALL) NOPASSWD: ALL" in output
        assert_unchanged_and_running(host, before)
    finally:
        host.run_expect([0], "rm -f %s" % VENDOR_RULE)


def test_verify_does_not_trust_the_sudoers_file_it_audits(host):
    """A rule added to the collection's own file is a foreign grant too."""
    host.run_expect([0], "cp -p {0} /root/sudoers.saved && echo 'qbee-agent ALL=(ALL) NOPASSWD: ALL' >> {0}".format(SUDOERS))
    try:
        rc, output = run_playbook("qbee.unprivileged.verify", limit=host.backend.get_hostname())
        assert rc != 0 and "sudo grants qbee-agent more than the least profile: (ALL) NOPASSWD: ALL" in output, output
    finally:
        host.run_expect([0], "cp -p /root/sudoers.saved {0} && rm /root/sudoers.saved".format(SUDOERS))


def test_nonexistent_console_shell_is_refused(host):
    before = snapshot(host)
    rc, output = apply(host, qbee_test_roles=["remote_console"], qbee_agent_console_shell="/bin/zsh")
    assert rc != 0 and "qbee_agent_console_shell /bin/zsh does not exist on this host" in output, output
    assert_unchanged_and_running(host, before)


def test_docker_without_its_group_is_refused(host):
    before = snapshot(host)
    rc, output = apply(host, qbee_test_roles=["docker"], qbee_agent_docker_enabled=True)
    assert rc != 0 and 'qbee_agent_docker_enabled is true, but this host has no "docker" group' in output, output
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
        # The role's state variable of 1.x still works, with a deprecation warning.
        assert "qbee_agent_remote_console_state is deprecated: set qbee_agent_remote_console_enabled" in output, output
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
    """Not a bad input: the custom profile, through the argument checker, then back to least."""
    checker = "/usr/local/sbin/qbee-agent-elevate"
    commands = ["/usr/bin/systemctl restart qbee-agent.service",
                "/usr/bin/systemctl show --property=LoadState qbee-agent.service", "/usr/bin/id \"\"",
                # A program in a folder anyone may write in: never run, whatever it is (the agent's
                # own folders are refused before any change, see WIDER_THAN_LISTED).
                "/var/tmp/qbee-apply /var/tmp/qbee-app.conf"]
    marker = "/root/qbee-custom-link-ran"
    try:
        host.run_expect([0], "rm -f %s /var/tmp/qbee-apply /var/tmp/qbee-app.conf" % marker)
        host.run_expect([0], "runuser -u %s -- sh -c 'ln -s /bin/sh /var/tmp/qbee-apply && echo \"id > %s\" > /var/tmp/qbee-app.conf'"
                        % (AGENT, marker))
        rc, output = apply(host, qbee_test_roles=["sudoers"], qbee_agent_sudoers_profile="custom",
                           qbee_agent_sudoers_custom_commands=commands)
        assert rc == 0, output
        listing = host.check_output("sudo -n -l -U %s" % AGENT)
        assert "(root) NOPASSWD: %s" % checker in listing
        assert "/usr/bin/apt-get" not in listing and "NOPASSWD: ALL" not in listing
        assert '"elevation_command":["/usr/bin/sudo","-n","%s"]' % checker in host.file(CONFIG).content_string
        allowed = host.run("runuser -u %s -- sudo -n %s /usr/bin/systemctl show --property=LoadState qbee-agent.service"
                           % (AGENT, checker))
        assert allowed.rc == 0 and allowed.stdout.strip() == "LoadState=loaded", allowed.stderr
        assert host.run("runuser -u %s -- sudo -n %s /usr/bin/id" % (AGENT, checker)).stdout.startswith("uid=0(root)")
        # Wider forms, and the same words split differently (which the original
        # sudo, matching arguments as one string, would let through).
        for wider in ("/usr/bin/systemctl show --property=LoadState ssh.service",
                      "/usr/bin/systemctl show -p LoadState qbee-agent.service",
                      "/usr/bin/systemctl 'show --property=LoadState' qbee-agent.service",
                      "/usr/bin/id -u", "/usr/bin/id root", "/usr/bin/apt-get update"):
            denied = host.run("runuser -u %s -- sudo -n %s %s" % (AGENT, checker, wider))
            assert denied.rc == 126 and "qbee-agent-elevate: denied" in denied.stderr, (wider, denied.stderr)
        assert host.run("runuser -u %s -- sudo -n /usr/bin/id" % AGENT).rc != 0
        # The agent's link to /bin/sh, listed as the operator asked: refused, the script never runs as root.
        linked = host.run("runuser -u %s -- sudo -n %s /var/tmp/qbee-apply /var/tmp/qbee-app.conf" % (AGENT, checker))
        assert linked.rc == 126 and "where root alone can change it" in linked.stderr, linked.stderr
        assert not host.file(marker).exists
        # verify finds the grant the profile has, under either sudo. (The
        # device runs as root by now, after the rollback test: verify says so.)
        rc, output = run_playbook("qbee.unprivileged.verify", {"qbee_agent_sudoers_profile": "custom",
                                                               "qbee_agent_sudoers_custom_commands": commands},
                                  limit=host.backend.get_hostname())
        row = [line for line in output.splitlines() if "%s | " % host.backend.get_hostname() in line][0]
        assert " | custom | " in row and "the agent runs as root" in row, row
        assert "sudo grants" not in row and "sudo does not grant" not in row and "sudo cannot" not in row, row
    finally:
        host.run("rm -f /var/tmp/qbee-apply /var/tmp/qbee-app.conf")
        rc, output = apply(host, qbee_test_roles=["sudoers"])
        assert rc == 0, output
    assert "NOPASSWD: /usr/local/sbin/qbee-agent-elevate" in host.file(SUDOERS).content_string
