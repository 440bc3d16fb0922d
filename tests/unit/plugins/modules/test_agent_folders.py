"""agent_folders: hands the agent's folders over without following, or re-owning, what the agent planted."""

import grp
import os
import pwd
import subprocess
import threading
import time

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal
from ansible_collections.qbee.unprivileged.plugins.modules import agent_folders
from module_result import module_result

pytestmark = pytest.mark.root  # it changes owners

SPARE_UID, SPARE_GID = 12345, 12346


def run(capsys, monkeypatch, check=False, diff=True, commands=None, **args):
    """Run the module; commands (a list) collects what it runs, which is never really run."""
    def run_command(self, argv, *a, **k):
        if commands is not None:
            commands.append(argv)
        return 0, "", ""

    monkeypatch.setattr(agent_folders.AnsibleModule, "run_command", run_command)
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(SystemExit) as exc:
            agent_folders.main()
    return exc.value.code, module_result(capsys)


@pytest.fixture
def account():
    """A real user and its primary group, not root: (user, group, uid, gid)."""
    for entry in [e for e in pwd.getpwall() if e.pw_name == "nobody"] + pwd.getpwall():
        if entry.pw_uid != 0:
            try:
                return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid
            except KeyError:
                continue
    pytest.skip("no user but root on this host")


@pytest.fixture
def state(tmp_path):
    """/var/lib/qbee with what the agent may have planted: a link out, a hard link to a root file, a socket."""
    top = tmp_path / "var-lib-qbee"
    (top / "ppkeys").mkdir(parents=True)
    (top / "ppkeys" / "agent.key").write_text("k")
    (top / "ppkeys" / "agent.key").chmod(0o600)
    (top / "app.state").write_text("s")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("root's")
    (top / "cache").symlink_to(outside)
    (tmp_path / "shadow").write_text("root's secret")
    os.link(tmp_path / "shadow", top / "hard")
    return top


def owners(*paths):
    return [tuple(os.lstat(p)[4:6]) for p in paths]


def test_hands_the_folder_and_what_is_under_it_to_the_owner(capsys, monkeypatch, tmp_path, state, account):
    user, group, uid, gid = account
    code, result = run(capsys, monkeypatch, paths=[str(state)], owner=user, group=group)
    assert code == 0 and result["changed"] is True, result
    assert result["folders"][str(state)] == {"exists": True, "changed": 4, "links": ["cache"], "hardlinks": ["hard"],
                                             "special": []}
    assert owners(state, state / "ppkeys", state / "ppkeys" / "agent.key", state / "app.state") == [(uid, gid)] * 4
    assert result["diff"] == [{"before_header": "%s (owners)" % state, "after_header": "%s (owners)" % state,
                               "before": "root:%s\n" % grp.getgrgid(0).gr_name, "after": "%s:%s\n" % (user, group)}]


def test_links_and_hard_links_are_left_alone_and_named_in_a_warning(capsys, monkeypatch, tmp_path, state, account,
                                                                    warning_messages):
    code, result = run(capsys, monkeypatch, paths=[str(state)], owner=account[0], group=account[1])
    assert code == 0
    assert warning_messages(result) == ["left alone under %s (never followed or re-owned): cache, hard" % state]
    # The link was not followed: neither it, nor the folder it points at, nor what is in there changed hands.
    assert owners(state / "cache", tmp_path / "outside", tmp_path / "outside" / "file") == [(0, 0)] * 3
    # The hard-linked file is root's file by another name: its owner is unchanged.
    assert owners(state / "hard", tmp_path / "shadow") == [(0, 0)] * 2


def test_check_mode_reports_the_change_and_changes_nothing(capsys, monkeypatch, state, account):
    code, result = run(capsys, monkeypatch, check=True, paths=[str(state)], owner=account[0], group=account[1])
    assert code == 0 and result["changed"] is True and result["folders"][str(state)]["changed"] == 4
    assert owners(state, state / "ppkeys", state / "ppkeys" / "agent.key", state / "app.state") == [(0, 0)] * 4
    assert result["diff"][0]["after"] == "%s:%s\n" % account[:2]


def test_check_mode_for_a_user_still_to_be_created(capsys, monkeypatch, state):
    code, result = run(capsys, monkeypatch, check=True, paths=[str(state)], owner="qbee-agent-not-yet",
                       group="qbee-agent-not-yet")
    assert code == 0 and result["changed"] is True
    # What a hand-over would change (the folder, ppkeys, its key, app.state), never the link or the hard link.
    assert result["folders"][str(state)]["changed"] == 4
    assert result["diff"][0]["before"] == "root:%s\n" % grp.getgrgid(0).gr_name
    assert owners(state, state / "app.state") == [(0, 0)] * 2


def test_a_user_that_does_not_exist_fails_and_changes_nothing(capsys, monkeypatch, state):
    code, result = run(capsys, monkeypatch, paths=[str(state)], owner="qbee-agent-not-yet", group="root")
    assert code == 1 and result["msg"] == ("cannot hand folders to qbee-agent-not-yet:root: no such user or group on "
                                           "this host; nothing was changed")
    assert owners(state) == [(0, 0)]


def test_a_second_run_changes_nothing(capsys, monkeypatch, state, account):
    run(capsys, monkeypatch, paths=[str(state)], owner=account[0], group=account[1])
    code, result = run(capsys, monkeypatch, paths=[str(state)], owner=account[0], group=account[1])
    assert code == 0 and result["changed"] is False and "diff" not in result
    assert result["folders"][str(state)]["changed"] == 0


def test_a_missing_folder_is_skipped(capsys, monkeypatch, tmp_path, account):
    code, result = run(capsys, monkeypatch, paths=[str(tmp_path / "none")], owner=account[0], group=account[1])
    assert code == 0 and result["changed"] is False
    assert result["folders"][str(tmp_path / "none")] == {"exists": False, "changed": 0, "links": [], "hardlinks": [],
                                                         "special": []}


def test_a_folder_reached_through_a_link_the_agent_can_change_is_refused(capsys, monkeypatch, tmp_path, state, account):
    agent_home = tmp_path / "home"
    agent_home.mkdir()
    (agent_home / "qbee").symlink_to(state)
    os.chown(agent_home, SPARE_UID, SPARE_GID)
    code, result = run(capsys, monkeypatch, paths=[str(agent_home / "qbee" / "ppkeys")], owner=account[0],
                       group=account[1])
    assert code == 1 and result["msg"].startswith("cannot hand over the agent's folders: %s is a symbolic link (to %s)"
                                                  % (agent_home / "qbee", state))
    assert owners(state / "ppkeys") == [(0, 0)]


def test_journal_records_the_old_owners_and_undo_gives_them_back(capsys, monkeypatch, tmp_path, state, account):
    os.chown(state / "app.state", SPARE_UID, SPARE_GID)
    journal = str(tmp_path / "journal-parent" / "journal")
    code, result = run(capsys, monkeypatch, paths=[str(state)], owner=account[0], group=account[1], journal=journal)
    assert code == 0 and result["changed"] is True
    [entry] = Journal(journal).entries()
    assert entry["kind"] == "owners" and entry["top"] == str(state)
    assert sorted(entry["changes"]) == [["", 0, 0], ["app.state", SPARE_UID, SPARE_GID], ["ppkeys", 0, 0],
                                        ["ppkeys/agent.key", 0, 0]]
    assert Journal(journal).undo(lambda argv: (0, "", "")) == ["gave 4 entries under %s their owners back" % state]
    assert owners(state, state / "ppkeys", state / "ppkeys" / "agent.key") == [(0, 0)] * 3
    assert owners(state / "app.state") == [(SPARE_UID, SPARE_GID)]


def test_nothing_is_recorded_when_nothing_changes_or_in_check_mode(capsys, monkeypatch, tmp_path, state, account):
    journal = str(tmp_path / "journal")
    run(capsys, monkeypatch, check=True, paths=[str(state)], owner=account[0], group=account[1], journal=journal)
    assert Journal(journal).entries() == []
    run(capsys, monkeypatch, paths=[str(state)], owner="root", group=grp.getgrgid(0).gr_name, journal=journal)
    assert Journal(journal).entries() == []


def test_the_service_is_stopped_only_when_something_changes_hands(capsys, monkeypatch, state, account):
    commands = []
    args = dict(paths=[str(state)], owner=account[0], group=account[1], stop_service="qbee-agent.service")
    run(capsys, monkeypatch, commands=commands, **args)
    assert commands == [["systemctl", "stop", "qbee-agent.service"]]
    del commands[:]
    code, result = run(capsys, monkeypatch, commands=commands, **args)
    assert code == 0 and result["changed"] is False and commands == []


def test_the_old_owners_processes_are_ended_before_the_hand_over(capsys, monkeypatch, state):
    """Handing back to root: the agent user must not be left running to swap files while root takes them."""
    real_getpwnam = pwd.getpwnam
    monkeypatch.setattr(pwd, "getpwnam", lambda name: pwd.struct_passwd(
        ("qbee-agent-test", "x", SPARE_UID, SPARE_GID, "", "/", "/bin/sh")) if name == "qbee-agent-test" else real_getpwnam(name))
    os.chown(state, SPARE_UID, SPARE_GID)
    agent = subprocess.Popen(["sleep", "60"], user=SPARE_UID, group=SPARE_GID)
    threading.Thread(target=agent.wait, daemon=True).start()  # reaped at once, as systemd would
    try:
        commands = []
        code, result = run(capsys, monkeypatch, commands=commands, paths=[str(state)], owner="root",
                           group=grp.getgrgid(0).gr_name, end_processes_of="qbee-agent-test")
        assert code == 0 and result["ended"] == [agent.pid], result
        deadline = time.time() + 5
        while agent.returncode is None and time.time() < deadline:
            time.sleep(0.05)
        assert agent.returncode is not None
        assert ["systemctl", "stop", "user@%d.service" % SPARE_UID] in commands
        assert owners(state) == [(0, 0)]
    finally:
        if agent.returncode is None:
            agent.kill()
