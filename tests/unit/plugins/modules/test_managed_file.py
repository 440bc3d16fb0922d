"""managed_file: one round trip per file, exact content, validated before it replaces anything."""

import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal
from ansible_collections.qbee.unprivileged.plugins.modules import managed_file
from module_result import module_result

ME = str(os.getuid())


def run(capsys, check=False, diff=True, **args):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(SystemExit) as exc:
            managed_file.main()
    result = module_result(capsys)
    return exc.value.code, result


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.root(reason="a new file is root's unless owner is given")
def test_creates_the_file_with_content_and_mode(capsys, tmp_path):
    path = tmp_path / "10-unprivileged.conf"
    code, result = run(capsys, path=str(path), content="[Service]\nUser=qbee-agent\n", mode="0640")
    assert code == 0 and result["changed"] and result["content_changed"]
    assert path.read_text() == "[Service]\nUser=qbee-agent\n" and mode_of(path) == 0o640
    assert result["diff"][0]["before"] == "" and result["diff"][0]["after"] == "[Service]\nUser=qbee-agent\n"
    assert result["diff"][0]["before_header"].endswith("(absent)")
    assert [p.name for p in tmp_path.iterdir()] == ["10-unprivileged.conf"]  # no temporary file left


def test_unchanged_file_reports_nothing(capsys, tmp_path):
    path = tmp_path / "f"
    path.write_text("same\n")
    path.chmod(0o644)
    before = os.stat(path)
    code, result = run(capsys, path=str(path), content="same\n", mode="0644", owner=ME)
    assert code == 0 and result["changed"] is False and "diff" not in result
    assert os.stat(path).st_ino == before.st_ino  # not rewritten


def test_only_the_mode_differs(capsys, tmp_path):
    path = tmp_path / "f"
    path.write_text("same\n")
    path.chmod(0o600)
    code, result = run(capsys, path=str(path), content="same\n", mode="0644")
    assert code == 0 and result["changed"] and not result["content_changed"]
    assert mode_of(path) == 0o644
    st = os.stat(path)
    assert result["diff"] == [{"before": "owner: %d\ngroup: %d\nmode: 0600\n" % (st.st_uid, st.st_gid),
                               "after": "owner: %d\ngroup: %d\nmode: 0644\n" % (st.st_uid, st.st_gid),
                               "before_header": "%s (attributes)" % path, "after_header": "%s (attributes)" % path}]


def test_new_content_keeps_the_old_mode_when_none_is_asked(capsys, tmp_path):
    path = tmp_path / "f"
    path.write_text("old\n")
    path.chmod(0o600)
    code, result = run(capsys, path=str(path), content="new\n")
    assert code == 0 and result["changed"] and path.read_text() == "new\n" and mode_of(path) == 0o600
    assert result["diff"][0]["before"] == "old\n" and result["diff"][0]["after"] == "new\n"


def test_check_mode_writes_nothing(capsys, tmp_path):
    path = tmp_path / "f"
    path.write_text("old\n")
    path.chmod(0o600)
    code, result = run(capsys, check=True, path=str(path), content="new\n", mode="0644")
    assert code == 0 and result["changed"]
    assert path.read_text() == "old\n" and mode_of(path) == 0o600
    assert result["diff"][0]["after"] == "new\n"


def test_check_mode_with_a_missing_folder_is_a_change_not_a_failure(capsys, tmp_path):
    path = tmp_path / "not-yet" / "f"
    code, result = run(capsys, check=True, path=str(path), content="x\n", owner="no-such-user-yet", mode="0644")
    assert code == 0 and result["changed"] and not (tmp_path / "not-yet").exists()


def test_missing_folder_fails_clearly(capsys, tmp_path):
    code, result = run(capsys, path=str(tmp_path / "nope" / "f"), content="x\n")
    assert code == 1 and result["msg"] == "cannot write %s: its folder %s does not exist; nothing was changed" % (
        tmp_path / "nope" / "f", tmp_path / "nope")


@pytest.mark.root(reason="the copy that is validated is root's")
def test_validation_failure_changes_nothing(capsys, tmp_path):
    path = tmp_path / "sudoers"
    path.write_text("good\n")
    path.chmod(0o440)
    code, result = run(capsys, path=str(path), content="bad rule\n", mode="0440",
                       validate="/bin/sh -c 'grep -q good \"$0\" || { echo \"syntax error in $0\" >&2; exit 1; }' %s")
    assert code == 1
    assert result["msg"].startswith("the new content of %s failed validation" % path)
    assert "syntax error in <new file>" in result["msg"] and str(tmp_path) + "/." not in result["msg"]
    assert path.read_text() == "good\n" and [p.name for p in tmp_path.iterdir()] == ["sudoers"]


@pytest.mark.root(reason="the copy that is validated is root's")
def test_validation_sees_the_new_file_with_its_final_mode(capsys, tmp_path):
    path = tmp_path / "sudoers"
    # The module fills in %s; stat's own %a is written %%a.
    code, result = run(capsys, path=str(path), content="good\n", mode="0440",
                       validate="/bin/sh -c 'test \"$(stat -c %%a %s)\" = 440'")
    assert code == 0, result
    assert mode_of(path) == 0o440 and path.read_text() == "good\n"


@pytest.mark.root(reason="the copy that is validated is root's")
def test_validate_with_a_stray_percent_fails_clearly(capsys, tmp_path):
    code, result = run(capsys, path=str(tmp_path / "f"), content="x\n", validate="/bin/check %s 100%")
    assert code == 1 and "validate may hold %s once and no other %" in result["msg"]
    assert not (tmp_path / "f").exists()


def test_validate_needs_a_placeholder(capsys, tmp_path):
    code, result = run(capsys, path=str(tmp_path / "f"), content="x\n", validate="/bin/true")
    assert code == 1 and "validate must contain %s" in result["msg"]
    assert not (tmp_path / "f").exists()


def test_absent_removes_and_diffs(capsys, tmp_path):
    path = tmp_path / "30-docker.conf"
    path.write_text("[Service]\n")
    code, result = run(capsys, path=str(path), state="absent")
    assert code == 0 and result["changed"] and not path.exists()
    assert result["diff"]["before"] == "[Service]\n" and result["diff"]["after"] == ""
    code, result = run(capsys, path=str(path), state="absent")
    assert code == 0 and result["changed"] is False


def test_absent_in_check_mode_keeps_the_file(capsys, tmp_path):
    path = tmp_path / "f"
    path.write_text("x\n")
    code, result = run(capsys, check=True, path=str(path), state="absent")
    assert code == 0 and result["changed"] and path.exists()


@pytest.mark.parametrize("mode", ["u=rw", "999", "0o644"])
def test_mode_must_be_octal(capsys, tmp_path, mode):
    code, result = run(capsys, path=str(tmp_path / "f"), content="x\n", mode=mode)
    assert code == 1 and result["msg"].startswith("%s: mode must be an octal string" % (tmp_path / "f"))
    assert not (tmp_path / "f").exists()


def test_directory_is_refused(capsys, tmp_path):
    code, result = run(capsys, path=str(tmp_path), content="x\n")
    assert code == 1 and result["msg"] == "%s is a folder, not a regular file; nothing was changed" % tmp_path


def test_content_is_required_when_present(capsys, tmp_path):
    code, result = run(capsys, path=str(tmp_path / "f"))
    assert code == 1 and "content" in result["msg"]


# ---- what may have been put at the path --------------------------------------------------------

@pytest.mark.parametrize("state", ["present", "absent"])
def test_link_at_the_path_is_refused_and_its_target_unchanged(capsys, tmp_path, state):
    target = tmp_path / "sudoers"
    target.write_text("root ALL=(ALL) ALL\n")
    target.chmod(0o440)
    link = tmp_path / "qbee-agent"
    link.symlink_to(target)
    code, result = run(capsys, path=str(link), state=state, content="qbee-agent ALL=(ALL) NOPASSWD: ALL\n", mode="0440")
    assert code == 1
    assert result["msg"] == "%s is a symbolic link to %s; refusing to follow it; nothing was changed" % (link, target)
    assert link.is_symlink() and target.read_text() == "root ALL=(ALL) ALL\n" and mode_of(target) == 0o440


def test_fifo_at_the_path_is_refused_without_waiting_for_a_writer(capsys, tmp_path):
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    code, result = run(capsys, path=str(fifo), content="x\n")
    assert code == 1 and result["msg"] == "%s is a FIFO, not a regular file; nothing was changed" % fifo
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_hard_linked_file_is_refused_and_the_other_name_is_unchanged(capsys, tmp_path):
    other = tmp_path / "other"
    other.write_text("old\n")
    other.chmod(0o600)
    os.link(other, tmp_path / "f")
    code, result = run(capsys, path=str(tmp_path / "f"), content="new\n", mode="0644")
    assert code == 1 and result["msg"].endswith("has 2 hard links; refusing to use a file that is also elsewhere; nothing was changed")
    assert other.read_text() == "old\n" and mode_of(other) == 0o600


# ---- validate in check mode, journal -------------------------------------------------------------

@pytest.mark.root(reason="the copy that is validated is root's")
def test_validate_runs_in_check_mode_and_refused_content_fails_the_check(capsys, tmp_path):
    path = tmp_path / "sudoers"
    path.write_text("good\n")
    validate = "/bin/sh -c 'grep -q good \"$0\" || { echo \"syntax error\" >&2; exit 1; }' %s"
    code, result = run(capsys, check=True, path=str(path), content="bad rule\n", validate=validate)
    assert code == 1 and "failed validation" in result["msg"] and "syntax error" in result["msg"]
    assert path.read_text() == "good\n" and [p.name for p in tmp_path.iterdir()] == ["sudoers"]
    code, result = run(capsys, check=True, path=str(path), content="good too\n", validate=validate)
    assert code == 0 and result["changed"] is True and path.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["sudoers"]


def test_validate_does_not_run_when_the_content_is_unchanged(capsys, tmp_path):
    path = tmp_path / "f"
    path.write_text("same\n")
    code, result = run(capsys, path=str(path), content="same\n", validate="/bin/false %s")
    assert code == 0 and result["changed"] is False


@pytest.mark.root
def test_owner_and_group_are_set_on_the_new_file(capsys, tmp_path):
    path = tmp_path / "f"
    code, result = run(capsys, path=str(path), content="x\n", owner="12345", group="12346", mode="0600")
    st = os.stat(path)
    assert code == 0 and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (12345, 12346, 0o600)


@pytest.mark.root
def test_journal_records_each_file_as_it_was_and_undo_puts_it_back(capsys, tmp_path):
    journal = str(tmp_path / "j" / "journal")
    old, attrs, new, gone = (tmp_path / n for n in ("old", "attrs", "new", "gone"))
    old.write_text("old\n")
    attrs.write_text("same\n")
    attrs.chmod(0o600)
    gone.write_text("was here\n")
    assert run(capsys, path=str(old), content="changed\n", journal=journal)[0] == 0
    assert run(capsys, path=str(attrs), content="same\n", mode="0644", owner="12345", journal=journal)[0] == 0
    assert run(capsys, path=str(new), content="created\n", journal=journal)[0] == 0
    assert run(capsys, path=str(gone), state="absent", journal=journal)[0] == 0
    assert run(capsys, path=str(tmp_path / "never"), state="absent", journal=journal)[1]["changed"] is False
    assert [e["path"] for e in Journal(journal).entries()] == [str(old), str(attrs), str(new), str(gone)]
    Journal(journal).undo(lambda argv: (0, "", ""))
    assert old.read_text() == "old\n" and gone.read_text() == "was here\n" and not new.exists()
    assert mode_of(attrs) == 0o600 and os.stat(attrs).st_uid == 0


def test_journal_is_not_written_in_check_mode(capsys, tmp_path):
    journal = tmp_path / "j" / "journal"
    run(capsys, check=True, path=str(tmp_path / "f"), content="x\n", journal=str(journal))
    assert not journal.exists() and not (tmp_path / "f").exists()
