"""Changes made by hand after the conversion. The site playbook skips a role
in one step when the preflight finds its files, settings and user as wanted
(its declaration, through the drift filter), and ends a device's play after
the preflight when no role has anything to do. This checks that a rerun
still finds each change, puts it back with one restart, that a rerun with
nothing changed runs no role at all, and that a change to the last role's
file alone runs that role's work and no other's."""

import json
import re

from qbee_checks import AGENT, CONFIG, DROPIN_DIR, SUDOERS, fresh_status, run_playbook, start_count, wait_for

MANAGED = [DROPIN_DIR + "/" + name for name in
           ("10-unprivileged.conf", "20-remote-console.conf", "30-docker.conf", "50-tpm.conf")] + [SUDOERS, CONFIG]
LEFT_BY_ROOT = "/var/lib/qbee/left-by-root"
# Tasks that run only when their role found something to do.
ROLE_WORK = [
    "qbee.unprivileged.base : Install the ownership heal and run the agent as its user (drop-in)",
    "qbee.unprivileged.remote_console : Give the remote console a shell (drop-in), or take it away",
    "qbee.unprivileged.docker : Let the agent use Docker (drop-in), or take it away",
    "qbee.unprivileged.tpm : Let the agent use the TPM (drop-in, tpm_device), or take it away",
    "qbee.unprivileged.podman : Enable and start the agent user's podman socket",
    "qbee.unprivileged.sudoers : Install the argument checker, allow the agent its commands through sudo and tell it to elevate",
]
REPORT = "/tmp/qbee-drift-report.json"


def ran(output, task):
    """Whether the task ran on any host: listed with a result other than skipping."""
    for section in output.split("TASK [")[1:]:
        title, _sep, body = section.partition("]")
        if title == task and re.search(r"^(ok|changed|fatal|failed):", body, re.M):
            return True
    return False


def files(host):
    return dict((path, (host.file(path).content_string, host.file(path).mode, host.file(path).user,
                        host.file(path).group) if host.file(path).exists else None) for path in MANAGED)


def socket_state(host):
    return host.check_output("systemctl --user --machine %s@.host show podman.socket --property=ActiveState "
                             "--property=UnitFileState" % AGENT).splitlines()


def drop_elevation_command(host):
    """Remove the key as a person editing the file would, keeping its compact layout."""
    config = json.loads(host.file(CONFIG).content_string)
    del config["elevation_command"]
    text = json.dumps(config, separators=(",", ":"))
    host.run_expect([0], "printf '%%s' '%s' > %s" % (text, CONFIG))


def test_rerun_puts_back_what_was_changed_by_hand(host):
    name = host.backend.get_hostname()
    before = files(host)
    starts = start_count(host)
    for command in (
        "echo '# changed by hand' >> %s/10-unprivileged.conf" % DROPIN_DIR,
        "chmod 0600 %s/20-remote-console.conf" % DROPIN_DIR,
        "rm %s/30-docker.conf" % DROPIN_DIR,
        "chown nobody %s/50-tpm.conf" % DROPIN_DIR,
        "echo '# changed by hand' >> %s" % SUDOERS,
        "touch %s" % LEFT_BY_ROOT,
        "usermod -s /bin/bash %s" % AGENT,
        "systemctl --user --machine %s@.host disable --now podman.socket" % AGENT,
    ):
        host.run_expect([0], command)
    drop_elevation_command(host)
    assert all(files(host)[path] != before[path] for path in MANAGED)

    # verify runs the roles' declarations in check mode: each file changed by
    # hand is drift, named with what differs, and nothing is put back.
    rc, output = run_playbook("qbee.unprivileged.verify", {"qbee_agent_report_path": REPORT}, limit=name)
    assert rc != 0, output
    with open(REPORT) as handle:
        row = json.load(handle)["results"][0]
    assert row["ok"] is False and dict((d["path"], d["differs"]) for d in row["drift"]) == {
        DROPIN_DIR + "/10-unprivileged.conf": ["content"],
        DROPIN_DIR + "/20-remote-console.conf": ["mode"],
        DROPIN_DIR + "/30-docker.conf": ["absent"],
        DROPIN_DIR + "/50-tpm.conf": ["owner"],
        SUDOERS: ["content"],
        CONFIG: ["elevation_command"],
    }, row["drift"]
    assert "%s/30-docker.conf differs: absent" % DROPIN_DIR in row["problems"]
    assert "%s differs: elevation_command" % CONFIG in row["problems"]
    assert all(files(host)[path] != before[path] for path in MANAGED)

    rc, output = run_playbook("qbee.unprivileged.site", limit=name)
    assert rc == 0, output
    assert [task for task in ROLE_WORK if not ran(output, task)] == []
    assert files(host) == before
    assert host.file(LEFT_BY_ROOT).user == AGENT
    assert host.user(AGENT).shell in ("/usr/sbin/nologin", "/sbin/nologin")
    assert socket_state(host) == ["ActiveState=active", "UnitFileState=enabled"]
    assert start_count(host) == starts + 1
    # The stand-in probes elevation with a 20 s timeout; on a loaded machine
    # one probe may time out, so ask again for up to a minute and show the last report.
    reports = []
    assert wait_for(lambda: reports.append(fresh_status(host)) or reports[-1]["elevation"]["ok"],
                    timeout=60, interval=1), reports[-1]
    assert reports[-1]["user"] == AGENT


def test_rerun_with_nothing_changed_skips_the_roles_work(host):
    name = host.backend.get_hostname()
    starts = start_count(host)
    rc, output = run_playbook("qbee.unprivileged.site", limit=name)
    assert rc == 0, output
    assert "changed=0" in output and "changed=1" not in output
    assert [task for task in ROLE_WORK if ran(output, task)] == []
    assert start_count(host) == starts
    # The play ended after the preflight: no task of any other role was listed.
    assert "TASK [qbee.unprivileged.common : End the play on this host, which is as the play declares]" in output
    assert re.findall(r"^TASK \[qbee\.unprivileged\.(?!common :)[^\]]*", output, re.M) == []


def test_a_change_to_one_role_alone_runs_that_role(host):
    """sudoers is the play's last role: the site playbook's check of whether any
    role has something to do must reach it after finding nothing in the others."""
    name = host.backend.get_hostname()
    before = files(host)
    host.run_expect([0], "echo '# changed by hand' >> %s" % SUDOERS)
    rc, output = run_playbook("qbee.unprivileged.site", limit=name)
    assert rc == 0, output
    assert [task for task in ROLE_WORK if ran(output, task)] == [ROLE_WORK[-1]]
    assert files(host) == before
