"""managed_file: one round trip per file, exact content, validated before it replaces anything."""

import json
import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.qbee.unprivileged.plugins.modules import managed_file

ME = str(os.getuid())


def run(capsys, check=False, diff=True, **args):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(SystemExit) as exc:
            managed_file.main()
    result = json.loads(capsys.readouterr().out)
    return exc.value.code, result


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


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
    assert result["diff"] == [{"before": {"mode": "0600"}, "after": {"mode": "0644"},
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
    assert code == 1 and result["msg"] == "cannot write %s: its folder %s does not exist" % (
        tmp_path / "nope" / "f", tmp_path / "nope")


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


def test_validation_sees_the_new_file_with_its_final_mode(capsys, tmp_path):
    path = tmp_path / "sudoers"
    # The module fills in %s; stat's own %a is written %%a.
    code, result = run(capsys, path=str(path), content="good\n", mode="0440",
                       validate="/bin/sh -c 'test \"$(stat -c %%a %s)\" = 440'")
    assert code == 0, result
    assert mode_of(path) == 0o440 and path.read_text() == "good\n"


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
    assert code == 1 and result["msg"].startswith("mode must be an octal string")
    assert not (tmp_path / "f").exists()


def test_directory_is_refused(capsys, tmp_path):
    code, result = run(capsys, path=str(tmp_path), content="x\n")
    assert code == 1 and result["msg"] == "%s is a directory, not a file; nothing was changed" % tmp_path


def test_content_is_required_when_present(capsys, tmp_path):
    code, result = run(capsys, path=str(tmp_path / "f"))
    assert code == 1 and "content" in result["msg"]
