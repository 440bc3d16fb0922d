"""journal (the module): records, undoes and commits a run's undo journal on the device."""

import os

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal
from ansible_collections.qbee.unprivileged.plugins.modules import journal as journal_module
from ansible_collections.qbee.unprivileged.plugins.modules import managed_file
from module_result import module_result

pytestmark = pytest.mark.root  # the journal folder must be root's


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "qbee-unprivileged" / "journal")


@pytest.fixture
def commands(monkeypatch):
    """What the module runs, recorded and never really run; `false` fails."""
    calls = []

    def run_command(self, argv, *a, **k):
        calls.append(argv)
        return (1, "", "refused\n") if argv[0] == "false" else (0, "", "")

    monkeypatch.setattr(journal_module.AnsibleModule, "run_command", run_command)
    return calls


def run(capsys, module=journal_module, check=False, **args):
    with patch_module_args(dict(args, _ansible_check_mode=check)):
        with pytest.raises(SystemExit) as exc:
            module.main()
    return exc.value.code, module_result(capsys)


COMMAND = {"kind": "command", "argv": ["systemctl", "disable", "qbee-heal.service"], "why": "disabled the heal again"}
USER = {"kind": "user", "user": "qbee-agent-gone", "group": "qbee-agent-gone", "group_created": True,
        "home": "/home/qbee-agent-gone", "home_created": True}


def test_recorded_adds_the_entries(capsys, path, commands):
    code, result = run(capsys, path=path, state="recorded", entries=[COMMAND, USER])
    assert code == 0 and result["changed"] is True and result["entries"] == 0
    assert [e["kind"] for e in Journal(path).entries()] == ["command", "user"]
    code, result = run(capsys, path=path, state="recorded", entries=[])
    assert code == 0 and result["changed"] is False and result["entries"] == 2
    assert commands == []


def test_recorded_in_check_mode_records_nothing(capsys, path):
    code, result = run(capsys, check=True, path=path, state="recorded", entries=[COMMAND])
    assert code == 0 and result["changed"] is True
    assert not os.path.exists(path)


@pytest.mark.parametrize("entries, message", [
    ([COMMAND, {"argv": ["x"], "why": "y"}], "entries[1].kind must be one of user, command, got None"),
    ([{"kind": "file", "path": "/etc/passwd"}], "entries[0].kind must be one of user, command, got 'file'"),
    ([COMMAND, COMMAND, {"kind": "command", "argv": ["x"]}], "entries[2] (kind command) lacks why"),
    ([{"kind": "user", "home": "/home/x"}], "entries[0] (kind user) lacks user, group"),
    ([dict(COMMAND, argv="systemctl disable x")], "entries[0].argv must be a list of strings"),
    ([dict(COMMAND, argv=["systemctl", 5])], "entries[0].argv must be a list of strings"),
])
def test_bad_entries_are_rejected_naming_the_entry_and_nothing_is_recorded(capsys, path, entries, message):
    code, result = run(capsys, path=path, state="recorded", entries=entries)
    assert code == 1 and result["msg"] == message
    assert Journal(path).entries() == []


def test_undone_puts_a_managed_file_back_and_runs_commands_newest_first(capsys, tmp_path, path, commands):
    conf = tmp_path / "10-unprivileged.conf"
    conf.write_text("[Service]\nUser=root\n")
    conf.chmod(0o644)
    code, result = run(capsys, module=managed_file, path=str(conf), content="[Service]\nUser=qbee-agent\n", journal=path)
    assert code == 0 and result["changed"] is True
    run(capsys, path=path, state="recorded", entries=[COMMAND, dict(COMMAND, argv=["false"], why="undid y")])
    code, result = run(capsys, path=path, state="undone")
    assert code == 0 and result["changed"] is True and result["entries"] == 3
    assert result["undone"] == ["NOT put back: undid y (false exited 1: refused)", "disabled the heal again",
                                "restored %s" % conf]
    assert commands == [["false"], COMMAND["argv"]]
    assert conf.read_text() == "[Service]\nUser=root\n" and oct(os.stat(conf).st_mode & 0o7777) == "0o644"
    assert Journal(path).entries() == []


def test_undone_in_check_mode_says_what_it_would_take_back_and_does_nothing(capsys, tmp_path, path, commands):
    conf = tmp_path / "f"
    run(capsys, module=managed_file, path=str(conf), content="new\n", journal=path)
    run(capsys, path=path, state="recorded", entries=[COMMAND])
    code, result = run(capsys, check=True, path=path, state="undone", service="qbee-agent.service")
    assert code == 0 and result["changed"] is True
    assert result["undone"] == ["would take back disabled the heal again", "would take back %s" % conf]
    assert conf.read_text() == "new\n" and len(Journal(path).entries()) == 2 and commands == []


def test_undone_stops_the_service_first_and_starts_it_after_a_daemon_reload(capsys, path, commands):
    run(capsys, path=path, state="recorded", entries=[COMMAND])
    code, result = run(capsys, path=path, state="undone", service="qbee-agent.service")
    assert code == 0
    assert commands == [["systemctl", "stop", "qbee-agent.service"], COMMAND["argv"], ["systemctl", "daemon-reload"],
                        ["systemctl", "start", "qbee-agent.service"]]


def test_undone_leaves_the_service_stopped_when_asked(capsys, path, commands):
    run(capsys, path=path, state="recorded", entries=[COMMAND])
    run(capsys, path=path, state="undone", service="qbee-agent.service", start_service=False)
    assert ["systemctl", "start", "qbee-agent.service"] not in commands
    assert commands[0] == ["systemctl", "stop", "qbee-agent.service"]


def test_undone_with_an_empty_journal_changes_nothing_and_leaves_the_service_alone(capsys, path, commands):
    code, result = run(capsys, path=path, state="undone", service="qbee-agent.service")
    assert code == 0 and result == dict(result, changed=False, undone=[], entries=0)
    assert commands == []


def test_undone_a_user_that_is_gone_already(capsys, path, commands):
    run(capsys, path=path, state="recorded", entries=[USER])
    code, result = run(capsys, path=path, state="undone")
    assert code == 0 and result["undone"] == ["user qbee-agent-gone is gone already"] and commands == []


def test_committed_empties_the_journal_and_keeps_the_changes(capsys, tmp_path, path, commands):
    conf = tmp_path / "f"
    run(capsys, module=managed_file, path=str(conf), content="new\n", journal=path)
    code, result = run(capsys, check=True, path=path, state="committed")
    assert code == 0 and result["changed"] is True and len(Journal(path).entries()) == 1
    code, result = run(capsys, path=path, state="committed")
    assert code == 0 and result["changed"] is True and result["entries"] == 1
    assert Journal(path).entries() == [] and conf.read_text() == "new\n"
    code, result = run(capsys, path=path, state="committed")
    assert code == 0 and result["changed"] is False and commands == []


def test_a_journal_folder_others_can_write_is_refused(capsys, path, commands):
    os.makedirs(path)
    os.chmod(path, 0o777)
    for state in ("recorded", "undone", "committed"):
        code, result = run(capsys, path=path, state=state, entries=[COMMAND])
        assert code == 1 and result["msg"] == ("undo journal %s: the undo journal %s must be root's alone (0700), "
                                               "it is 0777 owned by uid 0" % (path, path)), state
    assert os.listdir(path) == [] and commands == []
