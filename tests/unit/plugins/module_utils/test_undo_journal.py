"""module_utils/journal: what a run changed is recorded before the change and put back exactly on undo.

(Named test_undo_journal.py so as not to clash with tests/unit/plugins/modules/test_journal.py.)
"""

import base64
import json
import os
import stat

import pytest

from ansible_collections.qbee.unprivileged.plugins.module_utils import fs
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal

SPARE_UID, SPARE_GID = 12345, 12346

pytestmark = pytest.mark.root  # the journal must be root's, and the tests restore other users' owners


@pytest.fixture
def journal(tmp_path):
    return Journal(str(tmp_path / "qbee-unprivileged" / "journal"))


@pytest.fixture
def commands():
    """A run_command that records what undo runs; returns (calls, run_command)."""
    calls = []

    def run_command(argv):
        calls.append(argv)
        return (1, "", "it broke\n") if argv[0] == "false" else (0, "", "")
    return calls, run_command


def attributes(path):
    st = os.lstat(path)
    with open(path, "rb") as handle:
        return handle.read(), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), stat.S_ISREG(st.st_mode)


def record_as_it_is(journal, path):
    data, st = fs.read_regular(str(path))
    journal.record_file(str(path), data, st)


def test_journal_folder_is_created_root_only_0700_with_its_parent(journal, tmp_path):
    journal.record({"kind": "command", "argv": ["true"], "why": "nothing"})
    for folder in (tmp_path / "qbee-unprivileged", tmp_path / "qbee-unprivileged" / "journal"):
        st = os.stat(folder)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o700), folder
    [name] = os.listdir(journal.path)
    st = os.stat(os.path.join(journal.path, name))
    assert name == "00001-command.json" and (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o600)


@pytest.mark.parametrize("mode", [0o755, 0o770, 0o701, 0o777], ids=["0755", "0770", "0701", "0777"])
def test_journal_folder_others_can_read_or_write_is_refused_for_record_and_undo(journal, commands, mode):
    os.makedirs(journal.path)
    os.chmod(journal.path, mode)
    message = "the undo journal %s must be root's alone (0700), it is %04o owned by uid 0" % (journal.path, mode)
    with pytest.raises(fs.UnsafePath) as exc:
        journal.record({"kind": "command", "argv": ["true"], "why": "x"})
    assert str(exc.value) == message and os.listdir(journal.path) == []
    with pytest.raises(fs.UnsafePath, match="must be root's alone"):
        journal.undo(commands[1])
    assert commands[0] == []


def test_journal_folder_owned_by_another_user_is_refused(journal):
    os.makedirs(journal.path, 0o700)
    os.chown(journal.path, SPARE_UID, SPARE_GID)
    with pytest.raises(fs.UnsafePath, match="it is 0700 owned by uid %d" % SPARE_UID):
        journal.record({"kind": "command", "argv": ["true"], "why": "x"})
    with pytest.raises(fs.UnsafePath, match="must be root's alone"):
        journal.entries()


def test_entries_planted_in_a_loose_journal_are_never_undone(journal, tmp_path, commands):
    """Undo writes as root what an entry says: a journal anyone could write would be a root exploit."""
    victim = tmp_path / "victim"
    os.makedirs(journal.path, 0o700)
    os.chmod(journal.path, 0o777)
    planted = {"kind": "file", "path": str(victim), "existed": True, "uid": 0, "gid": 0, "mode": 0o4755,
               "content": base64.b64encode(b"#!/bin/sh\nexec sh\n").decode()}
    with open(os.path.join(journal.path, "00001-file.json"), "w") as handle:
        json.dump(planted, handle)
    with pytest.raises(fs.UnsafePath, match="must be root's alone"):
        journal.undo(commands[1])
    assert not victim.exists()


def test_undo_puts_back_content_mode_and_owner_exactly(journal, tmp_path, commands):
    path = tmp_path / "qbee-agent.json"
    path.write_bytes(b'{"port":"443"}\n\x00binary\xff')
    os.chown(path, SPARE_UID, SPARE_GID)
    path.chmod(0o640)
    before = attributes(path)
    record_as_it_is(journal, path)
    fs.replace_file(str(path), b'{"port":"8443"}', 0o600, 0, 0)
    assert journal.undo(commands[1]) == ["restored %s" % path]
    assert attributes(path) == before
    assert journal.entries() == [] and os.listdir(journal.path) == []


def test_undo_removes_a_file_that_did_not_exist(journal, tmp_path, commands):
    path = tmp_path / "10-unprivileged.conf"
    journal.record_file(str(path), None, None)
    path.write_text("[Service]\n")
    assert journal.undo(commands[1]) == ["removed %s" % path]
    assert not path.exists()


def test_undo_of_a_file_that_did_not_exist_and_still_does_not(journal, tmp_path, commands):
    path = tmp_path / "never"
    journal.record_file(str(path), None, None)
    assert journal.undo(commands[1]) == ["%s stays absent" % path]


def test_undo_of_an_absent_file_removes_a_link_planted_there_not_its_target(journal, tmp_path, commands):
    path, secret = tmp_path / "drop-in.conf", tmp_path / "secret"
    secret.write_text("keep")
    journal.record_file(str(path), None, None)
    path.symlink_to(secret)
    assert journal.undo(commands[1]) == ["removed %s" % path]
    assert not os.path.lexists(path) and secret.read_text() == "keep"


def test_undo_restores_over_a_link_planted_since_without_writing_through_it(journal, tmp_path, commands):
    path, secret = tmp_path / "qbee-agent.json", tmp_path / "secret"
    path.write_text("before")
    secret.write_text("keep")
    record_as_it_is(journal, path)
    path.unlink()
    path.symlink_to(secret)
    journal.undo(commands[1])
    assert not path.is_symlink() and path.read_text() == "before" and secret.read_text() == "keep"


def test_only_the_first_before_state_of_a_file_is_kept(journal, tmp_path, commands):
    path = tmp_path / "f"
    path.write_text("first")
    record_as_it_is(journal, path)
    path.write_text("second")
    record_as_it_is(journal, path)
    journal.record_file(str(path), None, None)
    assert [e["kind"] for e in journal.entries()] == ["file"]
    path.write_text("third")
    journal.undo(commands[1])
    assert path.read_text() == "first"


def test_owners_a_hand_over_replaced_are_given_back(journal, tmp_path, commands):
    top = tmp_path / "state"
    (top / "ppkeys").mkdir(parents=True)
    (top / "ppkeys" / "key").write_text("k")
    os.chown(top / "ppkeys" / "key", 0, SPARE_GID)
    planned = fs.hand_over(str(top), SPARE_UID, SPARE_UID, check_mode=True)
    journal.record({"kind": "owners", "top": str(top), "changes": planned.changed})
    fs.hand_over(str(top), SPARE_UID, SPARE_UID)
    assert os.stat(top / "ppkeys" / "key").st_uid == SPARE_UID
    assert journal.undo(commands[1]) == ["gave 3 entries under %s their owners back" % top]
    assert [os.stat(p)[4:6] for p in (top, top / "ppkeys", top / "ppkeys" / "key")] == [(0, 0), (0, 0), (0, SPARE_GID)]


def test_owners_give_back_names_what_changed_since(journal, tmp_path, commands):
    top = tmp_path / "state"
    top.mkdir()
    (top / "gone").write_text("")
    planned = fs.hand_over(str(top), SPARE_UID, SPARE_UID)
    journal.record({"kind": "owners", "top": str(top), "changes": planned.changed})
    (top / "gone").unlink()
    assert journal.undo(commands[1]) == ["gave 1 entries under %s their owners back (left alone, changed since: gone)" % top]


def test_command_entries_run_newest_first_and_failures_are_reported(journal, tmp_path, commands):
    calls, run_command = commands
    path = tmp_path / "f"
    journal.record_file(str(path), None, None)
    journal.record({"kind": "command", "argv": ["systemctl", "disable", "x"], "why": "disabled x again"})
    journal.record({"kind": "command", "argv": ["false"], "why": "undid y"})
    journal.record({"kind": "command", "argv": ["false", "ok"], "why": "undid z", "may_fail": True})
    assert journal.undo(run_command) == [
        "undid z", "NOT put back: undid y (false exited 1: it broke)", "disabled x again", "%s stays absent" % path]
    assert calls == [["false", "ok"], ["false"], ["systemctl", "disable", "x"]]
    assert journal.entries() == []


def test_an_entry_that_cannot_be_put_back_does_not_stop_the_others(journal, tmp_path, commands):
    (tmp_path / "now-a-folder").mkdir()
    journal.record_file(str(tmp_path / "now-a-folder"), None, None)
    journal.record({"kind": "command", "argv": ["true"], "why": "ran"})
    done = journal.undo(commands[1])
    assert done[0] == "ran" and done[1].startswith("NOT put back: %s is a folder" % (tmp_path / "now-a-folder"))
    assert journal.entries() == []


def test_undo_of_a_user_that_is_gone_already(journal, commands):
    journal.record({"kind": "user", "user": "no-such-user-qbee", "group": "no-such-user-qbee"})
    assert journal.undo(commands[1]) == ["user no-such-user-qbee is gone already"]
    assert commands[0] == []


def test_unknown_entry_kind_is_reported_not_fatal(journal, commands):
    journal.record({"kind": "mystery"})
    assert journal.undo(commands[1]) == ["NOT put back: unknown journal entry mystery"]


def test_commit_empties_the_journal_and_keeps_every_change(journal, tmp_path, commands):
    path = tmp_path / "f"
    path.write_text("old")
    record_as_it_is(journal, path)
    journal.record({"kind": "command", "argv": ["true"], "why": "x"})
    path.write_text("new")
    assert journal.commit() == 2
    assert journal.entries() == [] and os.listdir(journal.path) == []
    assert journal.undo(commands[1]) == [] and path.read_text() == "new" and commands[0] == []


def test_after_a_commit_the_next_change_of_a_file_is_recorded_again(journal, tmp_path, commands):
    path = tmp_path / "f"
    path.write_text("v1")
    record_as_it_is(journal, path)
    journal.commit()
    path.write_text("v2")
    record_as_it_is(journal, path)
    path.write_text("v3")
    journal.undo(commands[1])
    assert path.read_text() == "v2"


def test_a_missing_journal_has_no_entries(journal):
    assert journal.entries() == [] and journal.commit() == 0
    assert not os.path.exists(journal.path)


def test_entries_are_numbered_in_order_and_kept_on_disk(journal):
    for index in range(3):
        journal.record({"kind": "command", "argv": ["true"], "why": str(index)})
    assert [(e["_name"], e["why"]) for e in journal.entries()] == [
        ("00001-command.json", "0"), ("00002-command.json", "1"), ("00003-command.json", "2")]
    assert Journal(journal.path).entries()[2]["why"] == "2"  # another run reads what this one recorded
