"""desired_state: a role's declared files and folders, all checked before the first change, in one round trip."""

import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.qbee.unprivileged.plugins.module_utils import declared, fs
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal
from ansible_collections.qbee.unprivileged.plugins.modules import desired_state
from module_result import module_result

REFUSE_BAD = "/bin/sh -c 'grep -q good \"$0\" || { echo \"syntax error in $0\" >&2; exit 1; }' %s"


def run(capsys, files, check=False, diff=True, **args):
    with patch_module_args(dict(args, files=files, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(SystemExit) as exc:
            desired_state.main()
    return exc.value.code, module_result(capsys)


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def dropin(tmp_path, content="[Service]\nSupplementaryGroups=docker\n", **extra):
    folder = tmp_path / "qbee-agent.service.d"
    return folder, [dict(path=str(folder), state="directory", owner="0", group="0", mode="0755"),
                    dict(path=str(folder / "30-docker.conf"), content=content, owner="0", group="0", mode="0644", **extra)]


@pytest.mark.root(reason="the folder and file are root's")
def test_makes_the_folder_then_the_file_and_a_rerun_changes_nothing(capsys, tmp_path):
    folder, files = dropin(tmp_path)
    code, result = run(capsys, files)
    assert code == 0 and result["changed"]
    assert [(f["path"], f["changed"], f["differs"]) for f in result["files"]] == [
        (str(folder), True, ["absent"]), (str(folder / "30-docker.conf"), True, ["absent"])]
    assert result["drift"] == [str(folder), str(folder / "30-docker.conf")]
    assert mode_of(folder) == 0o755 and (folder / "30-docker.conf").read_text() == "[Service]\nSupplementaryGroups=docker\n"
    assert [d["after_header"] for d in result["diff"]] == [str(folder) + "/", str(folder / "30-docker.conf")]
    code, result = run(capsys, files)
    assert code == 0 and not result["changed"] and result["drift"] == [] and "diff" not in result
    assert [f["differs"] for f in result["files"]] == [[], []]


def test_check_mode_on_a_fresh_device_reports_both_and_makes_nothing(capsys, tmp_path):
    folder, files = dropin(tmp_path)
    code, result = run(capsys, files, check=True)
    assert code == 0 and result["changed"] and result["drift"] == [str(folder), str(folder / "30-docker.conf")]
    assert not folder.exists()


@pytest.mark.root(reason="the copy that is validated is root's")
def test_a_refused_validation_of_a_later_entry_changes_nothing_at_all(capsys, tmp_path):
    first = tmp_path / "first"
    first.write_text("old\n")
    folder, files = dropin(tmp_path, content="bad rule\n", validate=REFUSE_BAD)
    code, result = run(capsys, [dict(path=str(first), content="new\n")] + files)
    assert code == 1 and "failed validation" in result["msg"] and "syntax error in <new file>" in result["msg"]
    assert result["msg"].endswith("; nothing was changed")
    assert first.read_text() == "old\n" and not folder.exists()


@pytest.mark.root(reason="the copy that is validated is root's")
def test_validation_runs_in_check_mode_while_the_folder_is_still_to_be_made(capsys, tmp_path):
    folder, files = dropin(tmp_path, content="bad rule\n", validate=REFUSE_BAD)
    code, result = run(capsys, files, check=True)
    assert code == 1 and "failed validation" in result["msg"] and not folder.exists()
    _folder, files = dropin(tmp_path, content="good\n", validate=REFUSE_BAD)
    assert run(capsys, files, check=True)[0] == 0


def test_problems_fail_before_anything_is_read(capsys, tmp_path):
    target = tmp_path / "f"
    code, result = run(capsys, [dict(path=str(target), content="x\n")],
                       problems=["", "the docker group is missing", "  "])
    assert code == 1 and result["msg"] == "Nothing was changed: the docker group is missing"
    assert not target.exists()


def test_empty_problems_are_no_problem(capsys, tmp_path):
    code, result = run(capsys, [dict(path=str(tmp_path / "f"), content="x\n")], problems=["", ""])
    assert code == 0 and result["changed"]


@pytest.mark.root(reason="a new file is root's")
def test_a_link_planted_at_a_later_path_refuses_the_whole_declaration(capsys, tmp_path):
    first, target, link = tmp_path / "first", tmp_path / "target", tmp_path / "link"
    target.write_text("secret\n")
    link.symlink_to(target)
    code, result = run(capsys, [dict(path=str(first), content="x\n"), dict(path=str(link), content="owned\n")])
    assert code == 1 and "is a symbolic link to %s; refusing to follow it" % target in result["msg"]
    assert not first.exists() and target.read_text() == "secret\n" and os.path.islink(link)


@pytest.mark.root(reason="the link is given to another user")
@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_folder_declared_where_something_else_is_is_refused(capsys, tmp_path, kind):
    path = tmp_path / "d"
    if kind == "file":
        path.write_text("x")
        what = "a regular file"
    else:
        path.symlink_to(tmp_path)
        os.lchown(path, 12345, 12345)  # planted by someone else: never followed
        what = "a symbolic link to %s" % tmp_path
    code, result = run(capsys, [dict(path=str(path), state="directory")])
    assert code == 1 and result["msg"] == "%s is %s, not a folder; nothing was changed" % (path, what)


@pytest.mark.root(reason="root's own link in root's folder")
def test_roots_link_to_a_folder_is_that_folder_but_its_attributes_are_not_changed_through_it(capsys, tmp_path):
    target, link = tmp_path / "usr-sbin", tmp_path / "sbin"
    target.mkdir(mode=0o755)
    link.symlink_to(target)
    assert run(capsys, [dict(path=str(link), state="directory")])[1]["changed"] is False
    code, result = run(capsys, [dict(path=str(link), state="directory", mode="0700")])
    assert code == 1 and "is a link to a folder: declare the folder it leads to, to change its mode" in result["msg"]
    assert mode_of(target) == 0o755


@pytest.mark.root(reason="folders are given to another user")
@pytest.mark.parametrize("owner, mode", [(12345, 0o755), (0, 0o777), (0, 0o775)])
def test_nothing_is_written_in_a_folder_others_can_change(capsys, tmp_path, owner, mode):
    folder = tmp_path / "agents"
    folder.mkdir()
    os.chown(folder, owner, 0)
    folder.chmod(mode)
    first = tmp_path / "first"
    code, result = run(capsys, [dict(path=str(first), content="x\n"), dict(path=str(folder / "heal"), content="evil\n")])
    assert code == 1 and "%s lies in %s, which users other than root can change" % (folder / "heal", folder) in result["msg"]
    assert not first.exists() and not (folder / "heal").exists()
    # ...nor is such a folder taken over as it is: what others put in it would stay.
    code, result = run(capsys, [dict(path=str(folder), state="directory", owner="0", mode="0755")])
    assert code == 1 and "the folder %s can be changed by users other than root" % folder in result["msg"]
    assert os.stat(folder).st_uid == owner


@pytest.mark.root(reason="the folder is given to another user")
def test_a_file_is_removed_from_a_folder_others_can_change(capsys, tmp_path):
    folder = tmp_path / "staff"
    folder.mkdir()
    folder.chmod(0o2775)
    (folder / "qbee-agent-heal").write_text("old heal\n")
    code, result = run(capsys, [dict(path=str(folder / "qbee-agent-heal"), state="absent")])
    assert code == 0 and result["changed"] and not (folder / "qbee-agent-heal").exists()


def test_a_sticky_folder_of_roots_is_roots_to_write_in(capsys, tmp_path):
    folder = tmp_path / "sticky"
    folder.mkdir()
    folder.chmod(0o1777)
    assert run(capsys, [dict(path=str(folder / "f"), content="x\n")])[0] == 0


@pytest.mark.root(reason="the file is given to another user")
def test_a_file_whose_attributes_differ_is_written_anew(capsys, tmp_path):
    path = tmp_path / "heal"
    path.write_text("same\n")
    os.chown(path, 12345, 12345)
    inode = os.stat(path).st_ino
    with open(path, "a"):   # its owner's descriptor, opened before
        code, result = run(capsys, [dict(path=str(path), content="same\n", owner="0", group="0", mode="0755")])
    assert code == 0 and result["files"][0]["differs"] == ["owner", "group", "mode"]
    st = os.stat(path)
    assert st.st_ino != inode and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o755)
    assert result["diff"][0]["before_header"] == str(path) + " (attributes)"


def test_absent_removes_the_file_and_refuses_a_folder(capsys, tmp_path):
    gone = tmp_path / "gone"
    gone.write_text("was here\n")
    code, result = run(capsys, [dict(path=str(gone), state="absent"), dict(path=str(tmp_path / "never"), state="absent")])
    assert code == 0 and not gone.exists()
    assert [f["differs"] for f in result["files"]] == [["present"], []]
    assert result["diff"] == [dict(before="was here\n", after="", before_header=str(gone), after_header=str(gone) + " (absent)")]
    (tmp_path / "dir").mkdir()
    code, result = run(capsys, [dict(path=str(tmp_path / "dir"), state="absent")])
    assert code == 1 and "is a folder, not a regular file" in result["msg"]


@pytest.mark.parametrize("files, message", [
    ([dict(path="relative/f", content="x")], "entry 1: path must be an absolute path, got 'relative/f'"),
    ([dict(path="/tmp/a", content="x"), dict(path="/tmp/./a", state="absent")], "/tmp/a is declared twice"),
    ([dict(path="/tmp/a", mode="u=rw", content="x")], "/tmp/a: mode must be an octal string"),
    ([dict(path="/tmp/a", mode=-1, content="x")], "/tmp/a: mode must be between 0 and 0o7777, got -1"),
    ([dict(path="/tmp/a", mode=0o10000, content="x")], "/tmp/a: mode must be between 0 and 0o7777"),
    ([dict(path="/tmp/a", owner="99999999999", content="x")], "owner 99999999999 is not a valid id"),
])
def test_bad_entries_are_named(capsys, files, message):
    code, result = run(capsys, files)
    assert code == 1 and message in result["msg"]


def test_content_is_required_for_a_file(capsys, tmp_path):
    code, result = run(capsys, [dict(path=str(tmp_path / "f"))])
    assert code == 1 and result["msg"] == "%s: content is required with state file; nothing was changed" % (tmp_path / "f")


def test_a_missing_owner_fails_but_is_drift_in_check_mode(capsys, tmp_path):
    path = tmp_path / "f"
    path.write_text("x\n")
    entry = dict(path=str(path), content="x\n", owner="no-such-user-qbee")
    code, result = run(capsys, [entry])
    assert code == 1 and result["msg"] == "owner no-such-user-qbee does not exist on this host; nothing was changed"
    code, result = run(capsys, [entry], check=True)
    assert code == 0 and result["files"][0]["differs"] == ["owner"]


@pytest.mark.root(reason="the folder's owner is changed")
def test_only_the_attributes_of_a_folder_and_a_file_differ(capsys, tmp_path):
    folder, files = dropin(tmp_path)
    assert run(capsys, files)[0] == 0
    folder.chmod(0o700)
    os.chown(folder / "30-docker.conf", 12345, 0)
    code, result = run(capsys, files)
    assert code == 0 and [f["differs"] for f in result["files"]] == [["mode"], ["owner"]]
    assert result["diff"][0] == dict(before="owner: 0\ngroup: 0\nmode: 0700\n", after="owner: 0\ngroup: 0\nmode: 0755\n",
                                     before_header=str(folder) + "/ (attributes)", after_header=str(folder) + "/ (attributes)")
    assert mode_of(folder) == 0o755 and os.stat(folder / "30-docker.conf").st_uid == 0


@pytest.mark.root(reason="undo gives files back to root")
def test_the_journal_puts_back_every_entry_newest_first(capsys, tmp_path):
    journal = str(tmp_path / "j" / "journal")
    old, gone, kept = tmp_path / "old", tmp_path / "gone", tmp_path / "kept"
    old.write_text("old\n")
    gone.write_text("was here\n")
    kept.mkdir(mode=0o700)
    folder, files = dropin(tmp_path)
    files += [dict(path=str(old), content="new\n"), dict(path=str(gone), state="absent"),
              dict(path=str(kept), state="directory", mode="0755")]
    assert run(capsys, files, journal=journal)[0] == 0
    assert [e["kind"] for e in Journal(journal).entries()] == ["dir", "file", "file", "file", "dir"]
    said = Journal(journal).undo(lambda argv: (0, "", ""))
    assert said[0] == "gave the folder %s its owner and mode back" % kept and said[-1] == "removed the folder %s" % folder
    assert old.read_text() == "old\n" and gone.read_text() == "was here\n" and not folder.exists()
    assert mode_of(kept) == 0o700


@pytest.mark.root(reason="undo removes only an empty folder")
def test_undo_leaves_a_folder_that_is_no_longer_empty(capsys, tmp_path):
    journal = str(tmp_path / "journal")
    folder = tmp_path / "made"
    assert run(capsys, [dict(path=str(folder), state="directory")], journal=journal)[0] == 0
    (folder / "someone-elses").write_text("x")
    assert Journal(journal).undo(lambda argv: (0, "", "")) == ["left the folder %s (not empty, or gone)" % folder]
    assert (folder / "someone-elses").exists()


@pytest.mark.root(reason="a new folder is root's")
def test_a_folder_that_could_not_be_made_is_not_in_the_journal(capsys, tmp_path, monkeypatch):
    journal = str(tmp_path / "journal")

    def failing(path, *args):
        raise fs.UnsafePath("cannot create the folder %s: File exists" % path)

    monkeypatch.setattr(fs, "make_dir", failing)
    code, result = run(capsys, [dict(path=str(tmp_path / "d"), state="directory")], journal=journal)
    assert code == 1 and result["msg"].endswith("; nothing was changed") and Journal(journal).entries() == []


@pytest.mark.root(reason="the copy that is validated is root's")
def test_the_copy_validated_lies_in_a_folder_only_root_can_reach(capsys, tmp_path):
    folder, files = dropin(tmp_path, content="good\n", validate="/bin/sh -c 'stat -c %%a:%%U \"$(dirname %s)\" >&2; exit 1'")
    folder.mkdir()
    code, result = run(capsys, files)
    assert code == 1 and result["msg"].endswith("failed validation (/bin/sh -c 'stat -c %a:%U \"$(dirname <new file>)\" >&2; "
                                                "exit 1'): 700:root; nothing was changed")
    assert os.listdir(folder) == []


def test_check_mode_writes_no_journal(capsys, tmp_path):
    journal = tmp_path / "journal"
    assert run(capsys, [dict(path=str(tmp_path / "f"), content="x\n")], check=True, journal=str(journal))[0] == 0
    assert not journal.exists() and not (tmp_path / "f").exists()


@pytest.mark.root(reason="a new file is root's")
def test_a_failure_while_changing_names_what_was_changed_before_it(capsys, tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    real = fs.replace_file

    def failing(path, *args):
        if path == str(second):
            raise fs.UnsafePath("cannot write a new %s: No space left on device; the original is unchanged" % path)
        return real(path, *args)

    monkeypatch.setattr(fs, "replace_file", failing)
    code, result = run(capsys, [dict(path=str(first), content="1\n"), dict(path=str(second), content="2\n")])
    assert code == 1 and result["changed"] and result["drift"] == [str(first)]
    assert result["msg"].endswith("changed before it, each recorded in the undo journal: %s" % first)


def test_plan_refuses_an_unknown_state():
    with pytest.raises(declared.Refused, match="state must be one of file, absent, directory"):
        declared.plan([dict(path="/tmp/x", state="link")], True, None)


# ---- the agent's configuration keys, declared with the files --------------------------------------

def agent_config_file(tmp_path, text='{"server":"device.app.qbee.io","port":"443"}'):
    path = tmp_path / "qbee-agent.json"
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.mark.root(reason="the files are root's")
def test_the_configuration_is_written_after_the_files_and_is_drift_until_then(capsys, tmp_path):
    config = agent_config_file(tmp_path)
    rules = tmp_path / "rules"
    declared = dict(path=str(config), elevation_command=["/bin/sh", "-n"])
    code, result = run(capsys, [dict(path=str(rules), content="rule\n")], config=declared, check=True)
    assert code == 0 and result["drift"] == [str(rules), str(config)]
    assert result["config"] == dict(path=str(config), changed=True, differs=["elevation_command"])
    assert result["diff"][-1]["after"] == '{"server":"device.app.qbee.io","port":"443","elevation_command":["/bin/sh","-n"]}'
    assert not rules.exists() and "elevation_command" not in config.read_text()
    journal = str(tmp_path / "journal")
    code, result = run(capsys, [dict(path=str(rules), content="rule\n")], config=declared, journal=journal)
    assert code == 0 and result["changed"] and '"elevation_command":["/bin/sh","-n"]' in config.read_text()
    assert mode_of(config) == 0o600
    assert [e["path"] for e in Journal(journal).entries()] == [str(rules), str(config)]
    code, result = run(capsys, [dict(path=str(rules), content="rule\n")], config=declared)
    assert code == 0 and not result["changed"] and result["config"]["differs"] == []
    Journal(journal).undo(lambda argv: (0, "", ""))
    assert "elevation_command" not in config.read_text() and not rules.exists()


def test_a_configuration_the_agent_could_not_start_with_changes_no_file(capsys, tmp_path):
    config = agent_config_file(tmp_path)
    rules = tmp_path / "rules"
    code, result = run(capsys, [dict(path=str(rules), content="rule\n")],
                       config=dict(path=str(config), elevation_command=["/no/such/sudo", "-n"]))
    assert code == 1 and "elevation_command[0] /no/such/sudo does not exist on this host" in result["msg"]
    assert result["msg"].endswith("; nothing was changed") and not rules.exists()


def test_a_configuration_replaced_by_a_link_is_refused_and_never_read(capsys, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text('{"bootstrap_key": "s3cret"}')
    link = tmp_path / "qbee-agent.json"
    link.symlink_to(secret)
    code, result = run(capsys, [], config=dict(path=str(link), settings={"tpm_device": "/dev/tpmrm0"}))
    assert code == 1 and "is a symbolic link" in result["msg"] and "s3cret" not in result["msg"]
    assert secret.read_text() == '{"bootstrap_key": "s3cret"}'


def test_settings_are_merged_and_other_keys_kept(capsys, tmp_path):
    config = agent_config_file(tmp_path, '{"server": "x", "TPM_Device": "/dev/tpm0", "mine": 1}\n')
    code, result = run(capsys, [], config=dict(path=str(config), settings={"tpm_device": "/dev/tpmrm0"}))
    assert code == 0 and result["config"]["differs"] == ["tpm_device"]
    assert config.read_text() == '{"server": "x", "tpm_device": "/dev/tpmrm0", "mine": 1}\n'
