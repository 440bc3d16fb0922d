"""agent_info: reads, never writes, and tells why an agent is not (yet) up."""

import grp
import json
import os
import pwd
import socket
import stat
import time

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.qbee.unprivileged.plugins.module_utils import unit as unit_utils
from ansible_collections.qbee.unprivileged.plugins.modules import agent_info
from module_result import module_result

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
    return exc.value.code, module_result(capsys)


def test_reports_unit_process_and_masked_config(capsys, monkeypatch, tmp_path):
    config = tmp_path / "qbee-agent.json"
    config.write_text('{"port":"443","bootstrap_key":"s3cret","elevation_command":["/usr/bin/sudo","-n"]}')
    code, result = run(capsys, monkeypatch, agent=dict(config_path=str(config), binary=str(config),
                                                       dropin_dir=str(tmp_path)))
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
    code, result = run(capsys, monkeypatch, agent=dict(config_path=str(config)))
    assert code == 0 and result["config"]["exists"] is True
    assert result["config"]["error"].startswith(error) and result["config"]["data"] is None


def test_missing_config_and_binary(capsys, monkeypatch, tmp_path):
    code, result = run(capsys, monkeypatch, agent=dict(config_path=str(tmp_path / "none.json"), binary=str(tmp_path / "none")))
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
    assert unit_utils.settle_problem(unit, process, 3) == problem


def test_the_deprecated_options_still_work_with_a_warning(capsys, monkeypatch, tmp_path):
    """service, binary, config_path, dropin_dir and the wait of 1.0.0, until 3.0.0."""
    config = tmp_path / "qbee-agent.json"
    config.write_text('{"port":"443"}')
    show = SHOW.format(pid=os.getpid(), user="nobody-else", groups="")
    code, result = run(capsys, monkeypatch, show=show, config_path=str(config), agent=dict(config_path="/nowhere"),
                       wait_settle=1, wait_timeout=1)
    assert code == 1 and "did not stay up as configured within 1 s" in result["msg"]
    assert result["config"]["data"] == {"port": "443"}  # the option of its own wins over agent's
    deprecations = str(result.get("deprecations"))
    assert "config_path" in deprecations and "wait_settle" in deprecations and "3.0.0" in deprecations, result


def test_not_booted_with_systemd(capsys, monkeypatch):
    monkeypatch.setattr(agent_info.os.path, "isdir", lambda p: False)
    with patch_module_args({"_ansible_check_mode": True}):
        with pytest.raises(SystemExit):
            agent_info.main()
    result = module_result(capsys)
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


@pytest.mark.root(reason="root's own link in root's folder")
def test_roots_link_to_a_folder_is_read_as_that_folder(capsys, monkeypatch, tmp_path):
    """desired_state takes such a link as the folder it leads to; the preflight's read must
    say the same, or the drift filter would find the folder changed on every run."""
    target, link = tmp_path / "usr-sbin", tmp_path / "sbin"
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    link.symlink_to(target)
    planted = tmp_path / "planted"
    planted.symlink_to(tmp_path / "none")
    open_to_all, to_open = tmp_path / "open", tmp_path / "to-open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    to_open.symlink_to(open_to_all)
    code, result = run(capsys, monkeypatch, files=[str(link), str(planted), str(to_open)])
    assert code == 0
    assert result["files"][str(link)] == {"exists": True, "type": "directory", "owner": "root", "group": "root",
                                          "mode": "0755", "content": None}
    assert result["files"][str(planted)]["type"] == "link"
    # A folder others may change is not one desired_state takes: the link stays a link (drift, and a refusal).
    assert result["files"][str(to_open)]["type"] == "link"


NO_TREE = {"exists": False, "owners": [], "links": [], "hardlinks": [], "special": [], "error": None}


@pytest.mark.root
def test_trees_report_every_owner_below_a_folder_but_not_of_links(capsys, monkeypatch, tmp_path):
    me = "%s:%s" % (pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name)
    (tmp_path / "state" / "deep").mkdir(parents=True)
    (tmp_path / "state" / "deep" / "file").write_text("")
    (tmp_path / "state" / "dangling").symlink_to(tmp_path / "nowhere")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.chown(outside, 23456, 23457)
    (tmp_path / "state" / "away").symlink_to(outside)
    os.lchown(tmp_path / "state" / "away", 34567, 34568)  # neither the link's owner nor its target's counts
    code, result = run(capsys, monkeypatch, trees=[str(tmp_path / "state"), str(tmp_path / "none")])
    assert code == 0
    assert result["trees"][str(tmp_path / "state")] == dict(NO_TREE, exists=True, owners=[me], links=["away", "dangling"])
    assert result["trees"][str(tmp_path / "none")] == NO_TREE
    os.chown(tmp_path / "state" / "deep" / "file", 54321, 54322)  # ids without names are shown as numbers
    code, result = run(capsys, monkeypatch, trees=[str(tmp_path / "state")])
    assert result["trees"][str(tmp_path / "state")]["owners"] == sorted([me, "54321:54322"])


@pytest.mark.parametrize("content, problem", [
    ('{"port":"443","elevation_command":["/usr/bin/sudo","-n"]}', None),
    ('{"port":443}', {"key": "port", "found": "number", "needed": "string"}),
    ('{"Elevation_Command":"/usr/bin/sudo -n"}',
     {"key": "Elevation_Command", "found": "string", "needed": "list of strings"}),
])
def test_config_type_problem_is_the_one_agent_config_refuses(capsys, monkeypatch, tmp_path, content, problem):
    config = tmp_path / "qbee-agent.json"
    config.write_text(content)
    code, result = run(capsys, monkeypatch, agent=dict(config_path=str(config)))
    assert code == 0 and result["config"]["type_problem"] == problem


# ---- what the agent user may have put at the paths it reads ----------------------------------------

def test_config_over_64_kib_is_reported_without_its_content(capsys, monkeypatch, tmp_path):
    config = tmp_path / "qbee-agent.json"
    config.write_text('{"bootstrap_key":"s3cret","pad":"%s"}' % ("x" * 65536))
    code, result = run(capsys, monkeypatch, agent=dict(config_path=str(config)))
    assert code == 0 and result["config"]["exists"] is True and result["config"]["data"] is None
    assert result["config"]["error"] == "%s is %d bytes, more than the 65536 this file can honestly be" % (
        config, os.path.getsize(config))
    assert "s3cret" not in json.dumps(result)


@pytest.mark.parametrize("kind", ["to a file", "dangling"])
def test_symlinked_config_is_reported_not_followed(capsys, monkeypatch, tmp_path, kind):
    target = tmp_path / "elsewhere.json"
    if kind == "to a file":
        target.write_text('{"bootstrap_key":"s3cret"}')
    config = tmp_path / "qbee-agent.json"
    config.symlink_to(target)
    code, result = run(capsys, monkeypatch, agent=dict(config_path=str(config)))
    assert code == 0 and result["config"]["exists"] is True and result["config"]["data"] is None
    assert result["config"]["error"] == "%s is a symbolic link to %s; refusing to follow it" % (config, target)
    assert "s3cret" not in json.dumps(result)


def test_fifo_config_and_file_are_reported_without_waiting_for_a_writer(capsys, monkeypatch, tmp_path):
    fifo = tmp_path / "qbee-agent.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    code, result = run(capsys, monkeypatch, agent=dict(config_path=str(fifo)), files=[str(fifo)])
    assert time.monotonic() - started < 5
    assert code == 0 and result["config"]["error"] == "%s is a FIFO, not a regular file" % fifo
    assert result["files"][str(fifo)]["type"] == "other" and result["files"][str(fifo)]["content"] is None


def test_hard_linked_file_is_reported_without_its_content(capsys, monkeypatch, tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("root:secret-hash:")
    os.link(secret, tmp_path / "sudoers")
    code, result = run(capsys, monkeypatch, files=[str(tmp_path / "sudoers")], agent=dict(config_path=str(tmp_path / "sudoers")))
    assert code == 0 and result["files"][str(tmp_path / "sudoers")]["type"] == "file"
    assert result["files"][str(tmp_path / "sudoers")]["content"] is None
    assert "has 2 hard links" in result["config"]["error"]
    assert "secret-hash" not in json.dumps(result)


@pytest.mark.root
def test_trees_report_hard_links_sockets_and_devices_left_alone(capsys, monkeypatch, tmp_path):
    top = tmp_path / "state"
    top.mkdir()
    (tmp_path / "shadow").write_text("")
    os.link(tmp_path / "shadow", top / "hard")
    os.mknod(top / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mkfifo(top / "fifo")
    os.chown(top / "fifo", 12345, 12346)  # a FIFO is handed over like a file: its owner counts
    os.chown(tmp_path / "shadow", 23456, 23457)  # a hard-linked file is not: its owner does not
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(top / "sock"))
    try:
        code, result = run(capsys, monkeypatch, trees=[str(top)])
    finally:
        server.close()
    tree = result["trees"][str(top)]
    assert code == 0 and tree["hardlinks"] == ["hard"] and tree["special"] == ["null", "sock"] and tree["links"] == []
    assert tree["owners"] == sorted(["root:%s" % grp.getgrgid(0).gr_name, "12345:12346"])


@pytest.mark.root
def test_tree_behind_a_link_the_agent_can_change_is_an_error_not_a_walk(capsys, monkeypatch, tmp_path):
    home = tmp_path / "home"
    (tmp_path / "elsewhere").mkdir()
    home.mkdir()
    (home / "state").symlink_to(tmp_path / "elsewhere")
    os.chown(home, 12345, 12346)
    code, result = run(capsys, monkeypatch, trees=[str(home / "state")])
    assert code == 0 and result["trees"][str(home / "state")] == dict(
        NO_TREE, exists=True, error="%s is a symbolic link (to %s) in a folder that users other than root can change"
        % (home / "state", tmp_path / "elsewhere"))


# ---- the agent's version ---------------------------------------------------------------------

def run_version(capsys, monkeypatch, binary, rc=0, out="", err=""):
    def run_command(self, argv, *a, **k):
        if argv[1] == "show":
            return 0, SHOW.format(pid=os.getpid(), user="", groups=""), ""
        assert argv == [str(binary), "version"]
        return rc, out, err

    monkeypatch.setattr(agent_info.os.path, "isdir", lambda p: False)
    monkeypatch.setattr(agent_info.AnsibleModule, "run_command", run_command)
    with patch_module_args({"_ansible_check_mode": True, "version": True, "binary": str(binary)}):
        with pytest.raises(SystemExit) as exc:
            agent_info.main()
    result = module_result(capsys)
    assert exc.value.code == 0
    return result["version"]


@pytest.mark.parametrize("out, version", [
    ("2026.27 (commit: 6710abd)\n", "2026.27"),
    ("v2025.4.1\n", "2025.4.1"),
])
def test_version_is_parsed_from_the_agents_output(capsys, monkeypatch, tmp_path, out, version):
    binary = tmp_path / "qbee-agent"
    binary.write_text("")
    assert run_version(capsys, monkeypatch, binary, out=out) == {"version": version, "output": out.strip(), "error": None}


@pytest.mark.parametrize("rc, out, err", [(0, "unknown command\n", ""), (2, "", "flag provided but not defined\n")])
def test_version_that_cannot_be_read_is_an_error_not_a_failure(capsys, monkeypatch, tmp_path, rc, out, err):
    binary = tmp_path / "qbee-agent"
    binary.write_text("")
    said = (out or err).strip()
    assert run_version(capsys, monkeypatch, binary, rc=rc, out=out, err=err) == {
        "version": None, "output": said, "error": "'%s version' exited %d and printed %r" % (binary, rc, said)}


def test_version_of_a_missing_binary(capsys, monkeypatch, tmp_path):
    binary = tmp_path / "qbee-agent"
    assert run_version(capsys, monkeypatch, binary) == {"version": None, "output": "", "error": "%s does not exist" % binary}


def test_version_is_not_read_unless_asked(capsys, monkeypatch):
    code, result = run(capsys, monkeypatch)
    assert code == 0 and "version" not in result


@pytest.mark.parametrize("version_out,version_err,implementation", [
    ("Sudo version 1.9.13p3\nSudoers policy plugin version 1.9.13p3\n", "", "sudo"),
    ("", "sudo-rs 0.2.5\n", "sudo-rs"),
])
def test_sudo_grants_foreign_and_missing(capsys, monkeypatch, tmp_path, version_out, version_err, implementation):
    me = pwd.getpwuid(os.getuid()).pw_name
    fake = tmp_path / "sudo"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    own = tmp_path / "own"
    own.write_text("%s ALL=(ALL) NOPASSWD: ALL\n" % me)
    listing = ("User %s may run the following commands on h:\n    (root) NOPASSWD: /usr/local/sbin/qbee-agent-elevate\n"
               "    (ALL) NOPASSWD: ALL\n    (root) NOPASSWD: /usr/bin/apt-get\n" % me)
    calls = []
    monkeypatch.setattr(agent_info.os.path, "isdir", lambda p: p == "/run/systemd/system" or os.path.isdir(p))
    monkeypatch.setattr(agent_info.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/bin/" + name)

    def run_command(self, argv, *a, **k):
        calls.append(argv)
        if argv[1] == "show":
            return 0, SHOW.format(pid=os.getpid(), user="", groups=""), ""
        if argv[1] == "--version":
            return 0, version_out, version_err
        if argv[1:] == ["-n", "-l", "-U", me]:
            assert k["environ_update"]["LC_ALL"] == "C"
            return 0, listing, ""
        return 0, "", ""

    monkeypatch.setattr(agent_info.AnsibleModule, "run_command", run_command)
    rules = "# managed\n%s ALL=(root) NOPASSWD: /usr/local/sbin/qbee-agent-elevate, /usr/bin/gone\n" % me
    with patch_module_args(dict(sudo=["/nonexistent/sudo", str(fake)], sudo_user=me, sudo_rules=rules,
                                sudo_own_file=str(own), sudo_foreign="warn", _ansible_check_mode=True)):
        with pytest.raises(SystemExit) as exc:
            agent_info.main()
    result = module_result(capsys)
    assert exc.value.code == 0
    found = result["sudo"]
    assert found["path"] == str(fake) and found["implementation"] == implementation and found["user_exists"]
    # The old profile's ALL, from the file about to be replaced, is not foreign; apt-get is.
    assert found["foreign"] == ["(root) NOPASSWD: /usr/bin/apt-get"]
    assert found["missing"] == ["(root) NOPASSWD: /usr/bin/gone"]
    assert any("/usr/bin/apt-get" in str(warning) for warning in result["warnings"]), result["warnings"]


def test_sudo_that_cannot_read_its_rules_is_an_error(capsys, monkeypatch, tmp_path):
    fake = tmp_path / "sudo"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setattr(agent_info.os.path, "isdir", lambda p: p == "/run/systemd/system" or os.path.isdir(p))
    monkeypatch.setattr(agent_info.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/bin/" + name)

    def run_command(self, argv, *a, **k):
        if argv[1] == "show":
            return 0, SHOW.format(pid=os.getpid(), user="", groups=""), ""
        if argv[1] == "--version":
            return 0, "", "sudo-rs 0.2.5\n"
        # A user still to be made: root's rules are listed instead.
        assert argv[-1] == "root"
        return 1, "", "sudo-rs: invalid configuration: No such file or directory (os error 2)\n"

    monkeypatch.setattr(agent_info.AnsibleModule, "run_command", run_command)
    with patch_module_args(dict(sudo=[str(fake)], sudo_user="no-such-user-here", _ansible_check_mode=True)):
        with pytest.raises(SystemExit) as exc:
            agent_info.main()
    found = module_result(capsys)["sudo"]
    assert exc.value.code == 0 and not found["user_exists"] and found["grants"] == []
    assert "invalid configuration" in found["error"]


def run_with_manager(capsys, monkeypatch, manager_state, **args):
    """The module with a systemctl whose user manager is in manager_state; returns the argv it ran too."""
    monkeypatch.setattr(agent_info.os.path, "isdir", lambda p: p == "/run/systemd/system" or os.path.isdir(p))
    monkeypatch.setattr(agent_info.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/bin/" + name)
    ran = []

    def run_command(self, argv, *a, **k):
        ran.append(argv)
        if "--user" in argv:
            return 0, ("Id=podman.socket\nActiveState=active\nUnitFileState=enabled\n\n"
                       "Id=other.service\nActiveState=inactive\nUnitFileState=disabled\n"), ""
        if any(a.startswith("user@") for a in argv):
            return 0, "Id=user@0.service\nActiveState=%s\nUnitFileState=static\n" % manager_state, ""
        return 0, SHOW.format(pid=os.getpid(), user="", groups=""), ""

    monkeypatch.setattr(agent_info.AnsibleModule, "run_command", run_command)
    with patch_module_args(dict(args, _ansible_check_mode=True)):
        with pytest.raises(SystemExit) as exc:
            agent_info.main()
    return exc.value.code, module_result(capsys), ran


def test_user_units_are_read_from_the_users_running_manager(capsys, monkeypatch):
    me = pwd.getpwuid(os.getuid()).pw_name
    code, result, ran = run_with_manager(capsys, monkeypatch, "active", user=me,
                                         user_units=["podman.socket", "other.service"])
    assert code == 0
    assert result["user_manager"]["active"] is True
    assert result["user_manager"]["lingers"] is os.path.lexists("/var/lib/systemd/linger/" + me)
    assert result["user_manager"]["units"] == {
        "podman.socket": {"active_state": "active", "unit_file_state": "enabled"},
        "other.service": {"active_state": "inactive", "unit_file_state": "disabled"}}
    # The user's own manager answers, bounded in time.
    assert ["/bin/timeout", "-k", "5", "30", "/bin/systemctl", "--user", "--machine", me + "@.host", "show",
            "podman.socket", "other.service"] == [a for a in ran if "--user" in a][0][:11]


def test_user_units_are_not_read_where_the_users_manager_does_not_run(capsys, monkeypatch):
    me = pwd.getpwuid(os.getuid()).pw_name
    code, result, ran = run_with_manager(capsys, monkeypatch, "inactive", user=me, user_units=["podman.socket"])
    assert code == 0
    assert result["user_manager"]["active"] is False and result["user_manager"]["units"] == {}
    assert not [a for a in ran if "--user" in a]


def test_user_units_of_a_missing_user_are_not_read(capsys, monkeypatch):
    code, result, ran = run_with_manager(capsys, monkeypatch, "active", user="no-such-user-here", user_units=["podman.socket"])
    assert code == 0 and result["user_manager"] == {"lingers": False, "active": False, "units": {}}
    assert not [a for a in ran if "--user" in a or any(x.startswith("user@") for x in a)]


def test_user_units_without_a_user_is_refused(capsys, monkeypatch):
    code, result, ran = run_with_manager(capsys, monkeypatch, "active", user_units=["podman.socket"])
    assert code == 1 and result["msg"] == "user_units needs user: the units are those of that user's systemd manager"
