"""agent_info: reads, never writes, and tells why an agent is not (yet) up."""

import grp
import json
import os
import pwd

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.qbee.unprivileged.plugins.modules import agent_info

SHOW = """LoadState=loaded
ActiveState=active
SubState=running
MainPID={pid}
User={user}
Group=
SupplementaryGroups={groups}
FragmentPath=/lib/systemd/system/qbee-agent.service
DropInPaths=/etc/systemd/system/qbee-agent.service.d/10-unprivileged.conf
Environment=SHELL=/bin/bash
NRestarts=0
UnitFileState=enabled
"""


def run(capsys, monkeypatch, show=None, **args):
    """Run the module with a fake systemctl answering `show`."""
    monkeypatch.setattr(agent_info.os.path, "isdir", lambda p: p == "/run/systemd/system" or os.path.isdir(p))
    monkeypatch.setattr(agent_info.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/bin/" + name)

    def run_command(self, argv, *a, **k):
        if argv[1] == "show":
            return 0, show or SHOW.format(pid=os.getpid(), user="", groups=""), ""
        return 0, "line one\nline two\n", ""

    monkeypatch.setattr(agent_info.AnsibleModule, "run_command", run_command)
    with patch_module_args(dict(args, _ansible_check_mode=True)):
        with pytest.raises(SystemExit) as exc:
            agent_info.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def test_reports_unit_process_and_masked_config(capsys, monkeypatch, tmp_path):
    config = tmp_path / "qbee-agent.json"
    config.write_text('{"port":"443","bootstrap_key":"s3cret","elevation_command":["/usr/bin/sudo","-n"]}')
    code, result = run(capsys, monkeypatch, config_path=str(config), binary=str(config),
                       dropin_dir=str(tmp_path))
    assert code == 0 and result["changed"] is False
    assert result["systemd_booted"] is True and result["binary"]["exists"] is True
    assert result["config"]["data"] == {"port": "443", "bootstrap_key": "********",
                                        "elevation_command": ["/usr/bin/sudo", "-n"]}
    assert result["unit"]["load_state"] == "loaded" and result["unit"]["main_pid"] == os.getpid()
    assert result["unit"]["drop_in_paths"] == ["/etc/systemd/system/qbee-agent.service.d/10-unprivileged.conf"]
    assert result["unit"]["environment"] == ["SHELL=/bin/bash"]
    assert result["process"]["pid"] == os.getpid() and result["process"]["uid"] == os.getuid()
    assert result["process"]["age_seconds"] >= 0
    assert result["dropins"] == ["qbee-agent.json"]
    assert "secret" not in json.dumps(result)


@pytest.mark.parametrize("content, error", [
    ('{"port":', "not valid JSON"),
    (b'{"port":"\xff"}', "not valid JSON"),
    ("[1]", "not a JSON object"),
])
def test_unusable_config_is_reported_not_fatal(capsys, monkeypatch, tmp_path, content, error):
    config = tmp_path / "qbee-agent.json"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, result = run(capsys, monkeypatch, config_path=str(config))
    assert code == 0 and result["config"]["exists"] is True
    assert result["config"]["error"].startswith(error) and result["config"]["data"] is None


def test_missing_config_and_binary(capsys, monkeypatch, tmp_path):
    code, result = run(capsys, monkeypatch, config_path=str(tmp_path / "none.json"), binary=str(tmp_path / "none"))
    assert code == 0
    assert result["config"] == {"path": str(tmp_path / "none.json"), "exists": False, "error": None, "data": None,
                                "type_problem": None}
    assert result["binary"]["exists"] is False


def test_user_groups_and_paths(capsys, monkeypatch, tmp_path):
    me = pwd.getpwuid(os.getuid())
    group = grp.getgrgid(os.getgid()).gr_name
    exe = tmp_path / "tool"
    exe.write_text("")
    exe.chmod(0o750)
    code, result = run(capsys, monkeypatch, user=me.pw_name, groups=[group, "no-such-group-x"],
                       paths=[str(exe), str(tmp_path / "missing")])
    assert code == 0
    assert result["user"]["exists"] is True and result["user"]["uid"] == me.pw_uid
    assert result["user"]["home"] == me.pw_dir and result["user"]["subid_next"] >= 100000
    assert result["groups"][group]["exists"] is True and result["groups"][group]["gid"] == os.getgid()
    assert result["groups"]["no-such-group-x"] == {"exists": False, "gid": None, "members": []}
    assert result["paths"][str(exe)]["exists"] is True and result["paths"][str(exe)]["executable"] is True
    assert result["paths"][str(exe)]["mode"] == "0750"
    assert result["paths"][str(tmp_path / "missing")]["exists"] is False


def test_unknown_user(capsys, monkeypatch):
    code, result = run(capsys, monkeypatch, user="no-such-user-qbee")
    assert code == 0 and result["user"] == {"name": "no-such-user-qbee", "exists": False, "subid_next": None}


def test_journal_lines(capsys, monkeypatch):
    code, result = run(capsys, monkeypatch, journal_lines=2)
    assert code == 0 and result["journal"] == ["line one", "line two"]


def test_subid_ranges(tmp_path):
    path = tmp_path / "subuid"
    path.write_text("alice:100000:65536\nqbee-agent:231072:65536\nbroken line\nbob:300000:10\n")
    ranges, end = agent_info.read_subids(str(path), "qbee-agent")
    assert ranges == [{"start": 231072, "count": 65536}] and end == 300010
    assert agent_info.read_subids(str(tmp_path / "none"), "x") == ([], 0)


UNIT = {"active_state": "active", "sub_state": "running", "user": "qbee-agent", "supplementary_groups": ["docker"]}
PROCESS = {"user": "qbee-agent", "uid": 998, "groups": [995, 998], "group_names": ["docker", "qbee-agent"], "age_seconds": 5.0}


@pytest.mark.parametrize("unit, process, problem", [
    (UNIT, PROCESS, None),
    (dict(UNIT, active_state="activating", sub_state="auto-restart"), PROCESS, "the unit is activating (auto-restart)"),
    (UNIT, None, "the unit has no main process"),
    (UNIT, dict(PROCESS, user="root", uid=0), "the agent runs as root, the unit says qbee-agent"),
    (dict(UNIT, user=""), dict(PROCESS, user="root", uid=0), None),
    (dict(UNIT, supplementary_groups=["docker", "tss"]), PROCESS, "the agent lacks the groups tss"),
    (UNIT, dict(PROCESS, age_seconds=1.2), "the agent has been up for only 1.2 s"),
])
def test_settle_problem(unit, process, problem):
    assert agent_info.settle_problem(unit, process, 3) == problem


def test_wait_settle_fails_with_the_reason_and_the_journal(capsys, monkeypatch):
    show = SHOW.format(pid=os.getpid(), user="nobody-else", groups="")
    code, result = run(capsys, monkeypatch, show=show, wait_settle=1, wait_timeout=1)
    assert code == 1 and result["failed"] is True
    assert "did not stay up as configured within 1 s" in result["msg"]
    assert "the unit says nobody-else" in result["msg"]
    assert result["journal"] == ["line one", "line two"]


def test_wait_settle_returns_once_the_process_is_old_enough(capsys, monkeypatch):
    code, result = run(capsys, monkeypatch, wait_settle=0.01, wait_timeout=5)
    assert code == 0 and result["process"]["age_seconds"] >= 0.01


def test_not_booted_with_systemd(capsys, monkeypatch):
    monkeypatch.setattr(agent_info.os.path, "isdir", lambda p: False)
    with patch_module_args({"_ansible_check_mode": True}):
        with pytest.raises(SystemExit):
            agent_info.main()
    result = json.loads(capsys.readouterr().out)
    assert result["systemd_booted"] is False and result["unit"] == {} and result["process"] is None


def test_files_are_read_with_their_attributes(capsys, monkeypatch, tmp_path):
    me = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    text = tmp_path / "10-unprivileged.conf"
    text.write_text("[Service]\nUser=qbee-agent\n")
    text.chmod(0o640)
    binary = tmp_path / "blob"
    binary.write_bytes(b"\xff\xfe")
    big = tmp_path / "big"
    big.write_text("x" * (agent_info.MAX_FILE_BYTES + 1))
    link = tmp_path / "link"
    link.symlink_to(text)
    code, result = run(capsys, monkeypatch, files=[str(p) for p in (text, binary, big, link, tmp_path / "none")])
    files = result["files"]
    assert code == 0
    assert files[str(text)] == {"exists": True, "type": "file", "owner": me, "group": group, "mode": "0640",
                                "content": "[Service]\nUser=qbee-agent\n"}
    # Present, but with no content to compare: a caller must treat them as different.
    assert files[str(binary)]["exists"] is True and files[str(binary)]["content"] is None
    assert files[str(big)]["content"] is None
    assert files[str(link)]["type"] == "link" and files[str(link)]["content"] is None
    assert files[str(tmp_path / "none")] == {"exists": False, "type": None, "owner": None, "group": None,
                                             "mode": None, "content": None}


def test_trees_report_every_owner_below_a_folder(capsys, monkeypatch, tmp_path):
    me = "%s:%s" % (pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name)
    (tmp_path / "state" / "deep").mkdir(parents=True)
    (tmp_path / "state" / "deep" / "file").write_text("")
    (tmp_path / "state" / "dangling").symlink_to(tmp_path / "nowhere")
    calls = []
    real_lstat = os.lstat

    def lstat(path, *args, **kwargs):
        calls.append(str(path))
        st = real_lstat(path, *args, **kwargs)
        if str(path).endswith("file"):  # as if ids without names owned this one file
            return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, 54321, 54322) + tuple(st)[6:])
        return st

    code, result = run(capsys, monkeypatch, trees=[str(tmp_path / "state"), str(tmp_path / "none")])
    assert code == 0 and result["trees"][str(tmp_path / "state")] == {"exists": True, "owners": [me]}
    assert result["trees"][str(tmp_path / "none")] == {"exists": False, "owners": []}
    monkeypatch.setattr(agent_info.os, "lstat", lstat)
    code, result = run(capsys, monkeypatch, trees=[str(tmp_path / "state")])
    assert result["trees"][str(tmp_path / "state")]["owners"] == sorted([me, "54321:54322"])
    assert str(tmp_path / "state" / "deep" / "file") in calls


@pytest.mark.parametrize("content, problem", [
    ('{"port":"443","elevation_command":["/usr/bin/sudo","-n"]}', None),
    ('{"port":443}', {"key": "port", "found": "number", "needed": "string"}),
    ('{"Elevation_Command":"/usr/bin/sudo -n"}',
     {"key": "Elevation_Command", "found": "string", "needed": "list of strings"}),
])
def test_config_type_problem_is_the_one_agent_config_refuses(capsys, monkeypatch, tmp_path, content, problem):
    config = tmp_path / "qbee-agent.json"
    config.write_text(content)
    code, result = run(capsys, monkeypatch, config_path=str(config))
    assert code == 0 and result["config"]["type_problem"] == problem
