"""agent_wait: waits for the restarted agent, reads, never writes, and says why it is not up."""

import os

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.qbee.unprivileged.plugins.module_utils import sudo as sudo_utils
from ansible_collections.qbee.unprivileged.plugins.modules import agent_wait
from module_result import module_result

SHOW = """LoadState=loaded
ActiveState={state}
SubState=running
MainPID={pid}
User={user}
SupplementaryGroups=
NRestarts=0
"""


def run(capsys, monkeypatch, shows=None, booted=True, **args):
    """Run the module with a fake systemctl whose `show` answers are shows, one per call (the last repeats)."""
    monkeypatch.setattr(agent_wait.units.os.path, "isdir", lambda p: booted if p == "/run/systemd/system" else os.path.isdir(p))
    monkeypatch.setattr(agent_wait.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/bin/" + name)
    answers = list(shows or [SHOW.format(state="active", pid=os.getpid(), user="")])
    calls = []

    def run_command(self, argv, *a, **k):
        calls.append(argv)
        if argv[1] == "show":
            return 0, answers.pop(0) if len(answers) > 1 else answers[0], ""
        return 0, "line one\nline two\n", ""

    monkeypatch.setattr(agent_wait.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(agent_wait.time, "sleep", lambda seconds: None)
    with patch_module_args(dict(args, _ansible_check_mode=True)):
        with pytest.raises(SystemExit) as exc:
            agent_wait.main()
    return exc.value.code, module_result(capsys), calls


def test_fails_with_the_reason_and_the_journal(capsys, monkeypatch):
    show = SHOW.format(state="active", pid=os.getpid(), user="nobody-else")
    code, result, calls = run(capsys, monkeypatch, [show], agent={"service": "other.service"}, settle=0, timeout=0)
    assert code == 1 and result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("other.service did not stay up as configured within 0 s: ")
    assert "the unit says nobody-else" in result["msg"]
    assert result["journal"] == ["line one", "line two"]
    assert ["/bin/journalctl", "-u", "other.service", "-n", "20", "--no-pager", "-o", "short-iso"] in calls
    assert "sudo" not in result


@pytest.mark.root(reason="a unit without User= runs as root")
def test_waits_until_the_unit_is_active_then_returns_the_process(capsys, monkeypatch):
    shows = [SHOW.format(state="activating", pid=0, user=""), SHOW.format(state="active", pid=os.getpid(), user="")]
    code, result, calls = run(capsys, monkeypatch, shows, settle=0.01, timeout=5)
    assert code == 0 and result["changed"] is False
    assert result["process"]["pid"] == os.getpid() and result["process"]["age_seconds"] >= 0.01
    assert len([c for c in calls if c[1] == "show"]) == 2
    assert result["journal"] == [] and result["waited"] >= 0


@pytest.mark.root(reason="a unit without User= runs as root")
def test_reports_sudo_grants_once_up(capsys, monkeypatch):
    seen = []

    def read_grants(module, candidates, user, rules, own_file):
        seen.append((candidates, user, rules, own_file))
        return {"grants": [], "foreign": ["(ALL) ALL"], "missing": []}

    monkeypatch.setattr(sudo_utils, "read_grants", read_grants)
    code, result, calls = run(capsys, monkeypatch, settle=0, timeout=5, sudo=["/usr/bin/sudo"], sudo_user="qbee-agent",
                              sudo_rules="qbee-agent ALL=(root) NOPASSWD: /x", sudo_foreign="warn", journal_lines=2)
    assert code == 0 and result["sudo"]["foreign"] == ["(ALL) ALL"]
    assert seen == [(["/usr/bin/sudo"], "qbee-agent", "qbee-agent ALL=(root) NOPASSWD: /x", None)]
    assert "sudo grants qbee-agent more than this collection's rules: (ALL) ALL" in str(result["warnings"])
    assert result["journal"] == [] and not [c for c in calls if c[0].endswith("journalctl")]  # up: no journal read


def test_journal_lines_is_how_many_lines_a_failure_shows(capsys, monkeypatch):
    show = SHOW.format(state="failed", pid=0, user="")
    code, result, calls = run(capsys, monkeypatch, [show], settle=0, timeout=0, journal_lines=5)
    assert code == 1 and "the unit is failed (running)" in result["msg"]
    assert ["/bin/journalctl", "-u", "qbee-agent.service", "-n", "5", "--no-pager", "-o", "short-iso"] in calls


def test_without_systemd_it_fails_saying_so(capsys, monkeypatch):
    code, result, calls = run(capsys, monkeypatch, booted=False)
    assert code == 1 and "systemd is not the running init system: cannot wait for qbee-agent.service" in result["msg"]
    assert calls == []


@pytest.mark.parametrize("args", [{"settle": -1}, {"timeout": -5}])
def test_negative_seconds_are_refused(capsys, monkeypatch, args):
    code, result, calls = run(capsys, monkeypatch, **args)
    assert code == 1 and "settle and timeout are seconds, 0 or more" in result["msg"] and calls == []
