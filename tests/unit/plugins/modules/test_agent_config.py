"""agent_config, driven through its argument spec as Ansible runs it.

Every test asserts the module's outcome and the bytes of the file afterwards.
"""

import errno
import json
import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal
from ansible_collections.qbee.unprivileged.plugins.modules import agent_config
from module_result import module_result

BOOTSTRAPPED = b'{"server":"device.app.qbee.io","port":"443"}'


@pytest.fixture
def sudo(tmp_path):
    """An executable file standing in for sudo."""
    path = tmp_path / "bin" / "sudo"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexec \"$@\"\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def config(tmp_path):
    """The agent's config as the agent's bootstrap leaves it: compact JSON, 0600."""
    path = tmp_path / "qbee" / "qbee-agent.json"
    path.parent.mkdir()
    path.write_bytes(BOOTSTRAPPED)
    path.chmod(0o600)
    return path


def run(capsys, check=False, diff=False, **args):
    """Run the module; return (exit code, result)."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            agent_config.main()
    return exc.value.code, module_result(capsys)


def ok(capsys, **args):
    code, result = run(capsys, **args)
    assert code == 0, result
    assert not result.get("failed"), result
    return result


def failed(capsys, path, **args):
    """Run and expect a failure that leaves the file byte-for-byte as it was."""
    before = path.read_bytes() if path.exists() and path.is_file() else None
    code, result = run(capsys, path=str(path), **args)
    assert code == 1 and result["failed"] is True, result
    if before is not None:
        assert path.read_bytes() == before
    return result["msg"]


def no_temp_files(directory):
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")] == []


# ---- setting and removing elevation_command ----------------------------------------

def test_sets_elevation_command_on_bootstrap_output(capsys, config, sudo):
    result = ok(capsys, path=str(config), elevation_command=[sudo, "-n"])
    assert result["changed"] is True
    expected = b'{"server":"device.app.qbee.io","port":"443","elevation_command":["%s","-n"]}' % sudo.encode()
    assert config.read_bytes() == expected
    assert result["config"] == {"server": "device.app.qbee.io", "port": "443", "elevation_command": [sudo, "-n"]}


def test_second_run_changes_nothing_and_does_not_rewrite(capsys, config, sudo):
    ok(capsys, path=str(config), elevation_command=[sudo, "-n"])
    os.utime(config, (1_000_000, 1_000_000))
    before = os.stat(config)
    content = config.read_bytes()
    result = ok(capsys, path=str(config), elevation_command=[sudo, "-n"])
    after = os.stat(config)
    assert result["changed"] is False
    assert config.read_bytes() == content
    assert (after.st_ino, after.st_mtime) == (before.st_ino, before.st_mtime)


def test_layout_change_by_the_agent_is_not_a_change(capsys, config, sudo):
    config.write_text('{\n  "server": "device.app.qbee.io",\n  "port": "443",\n  "elevation_command": ["%s", "-n"]\n}\n' % sudo)
    content = config.read_bytes()
    result = ok(capsys, path=str(config), elevation_command=[sudo, "-n"])
    assert result["changed"] is False and config.read_bytes() == content


def test_empty_elevation_command_removes_the_key(capsys, config, sudo):
    config.write_text('{"server":"s","elevation_command":["%s","-n"],"port":"443"}' % sudo)
    result = ok(capsys, path=str(config), elevation_command=[])
    assert result["changed"] is True
    assert config.read_bytes() == b'{"server":"s","port":"443"}'


def test_empty_elevation_command_when_absent_is_unchanged(capsys, config):
    result = ok(capsys, path=str(config), elevation_command=[])
    assert result["changed"] is False and config.read_bytes() == BOOTSTRAPPED


def test_omitted_elevation_command_leaves_the_key_alone(capsys, config, sudo):
    config.write_text('{"elevation_command":["%s"],"port":"443"}' % sudo)
    result = ok(capsys, path=str(config), settings={"server": "s"})
    assert result["changed"] is True
    assert config.read_bytes() == b'{"elevation_command":["%s"],"port":"443","server":"s"}' % sudo.encode()


def test_key_matched_case_insensitively_is_replaced_in_place(capsys, config, sudo):
    config.write_text('{"Elevation_Command":["/old/sudo"],"port":"443","ELEVATION_COMMAND":["/old2"]}')
    ok(capsys, path=str(config), elevation_command=[sudo, "-n"])
    assert config.read_bytes() == b'{"elevation_command":["%s","-n"],"port":"443"}' % sudo.encode()


def test_symlink_to_the_sudo_binary_is_accepted(capsys, config, sudo, tmp_path):
    link = tmp_path / "sudo-link"
    link.symlink_to(sudo)
    ok(capsys, path=str(config), elevation_command=[str(link), "-n"])
    assert json.loads(config.read_bytes())["elevation_command"] == [str(link), "-n"]


# ---- keeping what it should keep -------------------------------------------------------

def test_unknown_keys_and_their_types_are_kept(capsys, config, sudo):
    original = '{"future":{"a":[1,2.5,null]},"port":"443","n":1.0,"t":true,"z":null}'
    config.write_text(original)
    ok(capsys, path=str(config), elevation_command=[sudo])
    assert config.read_text() == original[:-1] + ',"elevation_command":["%s"]}' % sudo


def test_tpm_device_is_kept(capsys, config, sudo):
    config.write_text('{"tpm_device":"/dev/tpmrm0","port":"443"}')
    ok(capsys, path=str(config), elevation_command=[sudo], remove=["server"])
    assert config.read_text() == '{"tpm_device":"/dev/tpmrm0","port":"443","elevation_command":["%s"]}' % sudo


def test_indented_file_stays_indented(capsys, config):
    config.write_text('{\n    "server": "s",\n    "port": "443"\n}\n')
    ok(capsys, path=str(config), settings={"device_name": "dev1"})
    assert config.read_text() == '{\n    "server": "s",\n    "port": "443",\n    "device_name": "dev1"\n}\n'


def test_tab_indented_file_stays_tab_indented(capsys, config):
    config.write_text('{\n\t"port": "443"\n}')
    ok(capsys, path=str(config), settings={"server": "s"})
    assert config.read_text() == '{\n\t"port": "443",\n\t"server": "s"\n}'


def test_compact_file_with_spaces_keeps_its_separators(capsys, config):
    config.write_text('{"server": "a,b:c", "port": "443"}')
    ok(capsys, path=str(config), settings={"port": 8443})
    assert config.read_text() == '{"server": "a,b:c", "port": "8443"}'


def test_existing_mode_and_owner_are_kept(capsys, config):
    config.chmod(0o640)
    before = os.stat(config)
    ok(capsys, path=str(config), settings={"server": "other"})
    after = os.stat(config)
    assert stat.S_IMODE(after.st_mode) == 0o640 and (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert config.read_bytes() == b'{"server":"other","port":"443"}'


@pytest.mark.root
def test_existing_foreign_owner_is_kept(capsys, config):
    os.chown(config, 12345, 12346)
    ok(capsys, path=str(config), settings={"server": "other"})
    st = os.stat(config)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (12345, 12346, 0o600)
    assert config.read_bytes() == b'{"server":"other","port":"443"}'


@pytest.mark.parametrize("option, value", [("mode", "0400"), ("owner", "0"), ("group", "0"), ("attributes", "+i")])
def test_file_attribute_options_are_gone(capsys, config, option, value):
    # The file keeps the owner and mode it has; no option may set them any more.
    before = os.stat(config)
    msg = failed(capsys, config, **{option: value})
    assert "Unsupported parameters" in msg and option in msg
    after = os.stat(config)
    assert (after.st_ino, after.st_mode, after.st_uid) == (before.st_ino, before.st_mode, before.st_uid)


def test_symlinked_config_is_refused_and_neither_link_nor_target_changes(capsys, config, tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(config)
    msg = failed(capsys, link, settings={"server": "x"})
    assert msg == "%s is a symbolic link to %s; refusing to follow it; nothing was read from it or written" % (link, config)
    assert link.is_symlink() and os.readlink(link) == str(config)
    assert config.read_bytes() == BOOTSTRAPPED
    assert no_temp_files(tmp_path) and no_temp_files(config.parent)


# ---- settings and their types ---------------------------------------------------------

@pytest.mark.parametrize("value", [8443, "8443", " 8443"])
def test_port_is_written_as_a_string(capsys, config, value):
    ok(capsys, path=str(config), settings={"port": value})
    assert config.read_bytes() == b'{"server":"device.app.qbee.io","port":"8443"}'


@pytest.mark.parametrize("value", ["abc", 0, 70000, True, [443], "44 3"])
def test_bad_port_is_rejected(capsys, config, value):
    msg = failed(capsys, config, settings={"port": value})
    assert "settings.port must be a port number (1-65535)" in msg


def test_existing_port_as_number_must_be_fixed_before_anything_is_written(capsys, config, sudo):
    config.write_text('{"server":"s","port":443}')
    msg = failed(capsys, config, elevation_command=[sudo])
    assert "key 'port'" in msg and "needs a string" in msg
    ok(capsys, path=str(config), settings={"port": 443})
    assert config.read_bytes() == b'{"server":"s","port":"443"}'


def test_proxy_settings_with_secret_password_are_masked(capsys, config):
    result = ok(
        capsys, diff=True, path=str(config), http_proxy_pass="hunter2-secret",
        settings={"http_proxy_server": "proxy.example.com", "http_proxy_port": 3128, "http_proxy_user": "qbee"},
    )
    assert json.loads(config.read_bytes()) == {
        "server": "device.app.qbee.io", "port": "443", "http_proxy_server": "proxy.example.com",
        "http_proxy_port": "3128", "http_proxy_user": "qbee", "http_proxy_pass": "hunter2-secret",
    }
    assert result["config"]["http_proxy_pass"] == "********"
    assert "hunter2-secret" not in json.dumps(result)
    assert '"http_proxy_pass":"********"' in result["diff"]["after"]


def test_bootstrap_key_in_the_file_is_masked_and_kept(capsys, config):
    config.write_text('{"bootstrap_key":"abcdef0123","port":"443"}')
    result = ok(capsys, diff=True, path=str(config), settings={"server": "s"})
    assert config.read_bytes() == b'{"bootstrap_key":"abcdef0123","port":"443","server":"s"}'
    assert "abcdef0123" not in json.dumps(result)
    assert result["config"]["bootstrap_key"] == "********"
    assert result["diff"]["before"] == '{"bootstrap_key":"********","port":"443"}'


def test_boolean_setting(capsys, config):
    ok(capsys, path=str(config), settings={"disable_remote_access": True})
    assert config.read_bytes() == b'{"server":"device.app.qbee.io","port":"443","disable_remote_access":true}'
    msg = failed(capsys, config, settings={"disable_remote_access": 1})
    assert "settings.disable_remote_access must be a boolean, got number 1" in msg


def test_string_setting_must_be_a_string(capsys, config):
    msg = failed(capsys, config, settings={"server": 123})
    assert "settings.server must be a string, got number 123" in msg


def test_path_settings_must_be_absolute(capsys, config):
    msg = failed(capsys, config, settings={"tpm_device": "tpmrm0"})
    assert "settings.tpm_device must be an absolute path" in msg


def test_unknown_setting_is_an_error_naming_the_key(capsys, config):
    msg = failed(capsys, config, settings={"servr": "x"})
    assert "settings.servr is not a key qbee-agent knows" in msg and "allow_unknown_keys" in msg


def test_unknown_setting_is_written_when_allowed(capsys, config):
    ok(capsys, path=str(config), settings={"x_feature": {"on": True}}, allow_unknown_keys=True)
    assert config.read_bytes() == b'{"server":"device.app.qbee.io","port":"443","x_feature":{"on":true}}'


def test_true_and_one_are_different_values(capsys, config):
    config.write_text('{"x":true}')
    result = ok(capsys, path=str(config), settings={"x": 1}, allow_unknown_keys=True)
    assert result["changed"] is True and config.read_bytes() == b'{"x":1}'


@pytest.mark.parametrize("key, hint", [
    ("elevation_command", "use the elevation_command option"),
    ("http_proxy_pass", "use the http_proxy_pass option"),
    ("bootstrap_key", "qbee-agent bootstrap"),
])
def test_keys_with_their_own_option_are_refused_in_settings(capsys, config, key, hint):
    msg = failed(capsys, config, settings={key: "x"})
    assert "settings.%s cannot be set through settings" % key in msg and hint in msg


def test_null_setting_is_refused(capsys, config):
    msg = failed(capsys, config, settings={"server": None})
    assert "settings.server is null" in msg


# ---- remove ----------------------------------------------------------------------

def test_remove_keys(capsys, config):
    config.write_text('{"server":"s","http_proxy_server":"p","Http_Proxy_Port":"1","port":"443"}')
    result = ok(capsys, path=str(config), remove=["http_proxy_server", "http_proxy_port", "not_there"])
    assert result["changed"] is True and config.read_bytes() == b'{"server":"s","port":"443"}'


def test_removing_tpm_device_needs_force(capsys, config):
    config.write_text('{"port":"443","tpm_device":"/dev/tpmrm0"}')
    msg = failed(capsys, config, remove=["tpm_device"])
    assert "refusing to remove tpm_device" in msg and "force: true" in msg
    ok(capsys, path=str(config), remove=["tpm_device"], force=True)
    assert config.read_bytes() == b'{"port":"443"}'


def test_set_and_remove_the_same_key_is_an_error(capsys, config):
    msg = failed(capsys, config, settings={"server": "x"}, remove=["Server"])
    assert "server is both set and removed" in msg


# ---- bad elevation commands --------------------------------------------------------------

@pytest.mark.parametrize("command, message", [
    (["sudo", "-n"], "elevation_command[0] 'sudo' is not an absolute path"),
    (["/nonexistent/sudo", "-n"], "elevation_command[0] /nonexistent/sudo does not exist on this host"),
    (["/usr/bin/sudo -n"], "looks like a whole command line"),
    ([5], "elevation_command[0] must be a non-empty string, got number 5"),
    (["/usr/bin/sudo", ""], "elevation_command[1] must be a non-empty string"),
    (["/usr/bin/sudo", None], "elevation_command[1] must be a non-empty string, got null"),
])
def test_bad_elevation_command_is_rejected(capsys, config, command, message):
    assert message in failed(capsys, config, elevation_command=command)


def test_non_executable_elevation_binary_is_rejected(capsys, config, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("")
    plain.chmod(0o644)
    msg = failed(capsys, config, elevation_command=[str(plain), "-n"])
    assert "is not an executable file" in msg
    msg = failed(capsys, config, elevation_command=[str(tmp_path), "-n"])
    assert "is not an executable file" in msg


def test_existing_elevation_binary_that_vanished_blocks_other_changes(capsys, config):
    config.write_text('{"port":"443","elevation_command":["/nonexistent/sudo","-n"]}')
    msg = failed(capsys, config, settings={"server": "s"})
    assert "/nonexistent/sudo does not exist" in msg


def test_validate_executable_false_skips_the_host_check(capsys, config):
    ok(capsys, path=str(config), elevation_command=["/opt/later/sudo", "-n"], validate_executable=False)
    assert json.loads(config.read_bytes())["elevation_command"] == ["/opt/later/sudo", "-n"]


# ---- bad files ------------------------------------------------------------------------

def test_malformed_json_names_line_and_column(capsys, config):
    config.write_text('{\n  "server": "s",\n  "port": 443,,\n}')
    msg = failed(capsys, config, settings={"server": "x"})
    assert "is not valid JSON at line 3 column" in msg


def test_top_level_that_is_not_an_object(capsys, config):
    config.write_text('["server"]')
    assert "holds a JSON array, not an object" in failed(capsys, config, settings={"server": "x"})


def test_file_that_is_not_utf8(capsys, config):
    config.write_bytes(b'{"server":"\xff\xfe"}')
    assert "is not valid UTF-8 (byte 11)" in failed(capsys, config, settings={"server": "x"})


def test_directory_at_path(capsys, tmp_path):
    msg = failed(capsys, tmp_path, settings={"server": "x"})
    assert msg == "%s is a folder, not a regular file; nothing was read from it or written" % tmp_path


def test_dangling_symlink_at_path_is_refused_even_with_create(capsys, tmp_path):
    link = tmp_path / "qbee-agent.json"
    link.symlink_to(tmp_path / "gone.json")
    msg = failed(capsys, link, settings={"server": "x"}, create=True)
    assert "%s is a symbolic link to %s; refusing to follow it" % (link, tmp_path / "gone.json") in msg
    assert link.is_symlink() and not (tmp_path / "gone.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["qbee-agent.json"]


def test_unreadable_file(capsys, config, fs_os):
    def deny(name, flags, *args, **kwargs):
        if name == config.name and not flags & (os.O_WRONLY | os.O_RDWR):
            raise PermissionError(errno.EACCES, "Permission denied")
        return os.open(name, flags, *args, **kwargs)

    fs_os(open=deny)
    msg = failed(capsys, config, settings={"server": "x"})
    assert msg == "cannot open %s (a regular file): Permission denied; nothing was read from it or written" % config


def test_read_only_filesystem_keeps_the_original(capsys, config, fs_os):
    def read_only(name, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system")
        return os.open(name, flags, *args, **kwargs)

    fs_os(open=read_only)  # the temporary file replace_file creates
    msg = failed(capsys, config, settings={"server": "x"})
    assert msg == "cannot write a new %s: Read-only file system; the original is unchanged" % config
    assert no_temp_files(config.parent)
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600


def test_full_disk_keeps_the_original_and_leaves_no_temp_file(capsys, config, fs_os):
    written = []

    def full(fd, data):
        written.append(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    fs_os(write=full)
    msg = failed(capsys, config, settings={"server": "x"})
    assert msg == "cannot write a new %s: No space left on device; the original is unchanged" % config
    assert written and no_temp_files(config.parent)


def test_failed_rename_keeps_the_original_and_leaves_no_temp_file(capsys, config, fs_os):
    def no_rename(*_args, **_kwargs):
        raise OSError(errno.EIO, "Input/output error")

    fs_os(rename=no_rename)
    msg = failed(capsys, config, settings={"server": "x"})
    assert msg == "cannot write a new %s: Input/output error; the original is unchanged" % config
    assert no_temp_files(config.parent)


# ---- missing file and create ----------------------------------------------------------------

def test_missing_file_means_agent_not_bootstrapped(capsys, tmp_path):
    path = tmp_path / "qbee-agent.json"
    msg = failed(capsys, path, settings={"server": "x"})
    assert "qbee-agent is not installed or not bootstrapped" in msg and "create: true" in msg
    assert not path.exists()


@pytest.mark.root(reason="a new config is root's")
def test_create_makes_a_0600_compact_file(capsys, tmp_path):
    path = tmp_path / "qbee-agent.json"
    result = ok(capsys, path=str(path), create=True, settings={"server": "s", "port": 443})
    assert result["changed"] is True
    assert path.read_bytes() == b'{"server":"s","port":"443"}'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_create_in_check_mode_writes_nothing(capsys, tmp_path):
    path = tmp_path / "qbee-agent.json"
    result = ok(capsys, check=True, diff=True, path=str(path), create=True, settings={"server": "s"})
    assert result["changed"] is True and not path.exists()
    assert result["diff"]["before"] == "" and result["diff"]["after"] == '{"server":"s"}'


# ---- check mode, diff, backup -------------------------------------------------------------------

def test_check_mode_reports_the_change_with_diff_and_touches_nothing(capsys, config, sudo):
    before = os.stat(config)
    result = ok(capsys, check=True, diff=True, path=str(config), elevation_command=[sudo, "-n"])
    assert result["changed"] is True
    assert config.read_bytes() == BOOTSTRAPPED and os.stat(config).st_mtime == before.st_mtime
    assert result["diff"]["before_header"] == str(config) and result["diff"]["after_header"] == str(config)
    assert result["diff"]["before"] == BOOTSTRAPPED.decode()
    assert result["diff"]["after"] == '{"server":"device.app.qbee.io","port":"443","elevation_command":["%s","-n"]}' % sudo
    assert no_temp_files(config.parent)


def test_no_diff_without_diff_mode(capsys, config):
    assert "diff" not in ok(capsys, path=str(config), settings={"server": "x"})


def test_backup_keeps_the_original(capsys, config):
    result = ok(capsys, path=str(config), settings={"server": "x"}, backup=True)
    assert result["backup_file"].startswith(str(config))
    with open(result["backup_file"], "rb") as handle:
        assert handle.read() == BOOTSTRAPPED
    assert config.read_bytes() == b'{"server":"x","port":"443"}'


def test_no_backup_when_nothing_changes(capsys, config):
    result = ok(capsys, path=str(config), settings={"server": "device.app.qbee.io"}, backup=True)
    assert result["changed"] is False and "backup_file" not in result
    assert sorted(p.name for p in config.parent.iterdir()) == ["qbee-agent.json"]


# ---- what the agent user may have put at the config's path ---------------------------------------

def test_config_over_64_kib_is_refused_unread(capsys, config):
    config.write_text('{"server":"%s"}' % ("x" * 65536))
    msg = failed(capsys, config, settings={"server": "y"})
    assert msg == "%s is %d bytes, more than the 65536 this file can honestly be; nothing was read from it or written" % (
        config, os.path.getsize(config))


def test_config_of_exactly_64_kib_is_read(capsys, config):
    config.write_text('{"port":"443","x_pad":"%s"}' % ("x" * (65536 - len('{"port":"443","x_pad":""}'))))
    assert os.path.getsize(config) == 65536
    assert ok(capsys, path=str(config), settings={"port": "443"})["changed"] is False


def test_fifo_at_the_path_is_refused_without_waiting_for_a_writer(capsys, tmp_path):
    fifo = tmp_path / "qbee-agent.json"
    os.mkfifo(fifo)
    msg = failed(capsys, fifo, settings={"server": "x"}, create=True)  # would block forever if it were opened to read
    assert msg == "%s is a FIFO, not a regular file; nothing was read from it or written" % fifo
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.root
def test_device_at_the_path_is_refused(capsys, tmp_path):
    device = tmp_path / "qbee-agent.json"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip("cannot make a device node here: %s" % exc.strerror)
    msg = failed(capsys, device, settings={"server": "x"})
    assert "a character device" in msg and msg.endswith("; nothing was read from it or written")
    assert stat.S_ISCHR(os.lstat(device).st_mode)


def test_hard_linked_config_is_refused_and_the_other_name_is_unchanged(capsys, config, tmp_path):
    other = tmp_path / "shadow"
    other.write_bytes(BOOTSTRAPPED)
    config.unlink()
    os.link(other, config)
    msg = failed(capsys, config, settings={"server": "x"})
    assert msg == "%s has 2 hard links; refusing to use a file that is also elsewhere; nothing was read from it or written" % config
    assert other.read_bytes() == BOOTSTRAPPED and os.stat(other).st_nlink == 2


@pytest.mark.root
def test_config_folder_reached_through_the_agents_link_is_refused(capsys, config, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "qbee").symlink_to(config.parent)
    os.chown(home, 12345, 12346)
    msg = failed(capsys, home / "qbee" / "qbee-agent.json", settings={"server": "x"})
    assert "%s is a symbolic link (to %s) in a folder that users other than root can change" % (home / "qbee", config.parent) in msg
    assert config.read_bytes() == BOOTSTRAPPED


# ---- journal and backup ----------------------------------------------------------------------------

@pytest.mark.root
def test_journal_records_the_config_as_it_was_and_undo_puts_it_back(capsys, config, tmp_path):
    os.chown(config, 12345, 12346)
    config.chmod(0o640)
    journal = str(tmp_path / "j" / "journal")
    ok(capsys, path=str(config), settings={"server": "x"}, journal=journal)
    ok(capsys, path=str(config), settings={"server": "y"}, journal=journal)  # only the first before-state counts
    assert config.read_bytes() == b'{"server":"y","port":"443"}'
    assert Journal(journal).undo(lambda argv: (0, "", "")) == ["restored %s" % config]
    st = os.stat(config)
    assert config.read_bytes() == BOOTSTRAPPED and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (12345, 12346, 0o640)


@pytest.mark.root
def test_journal_of_a_created_config_removes_it_on_undo(capsys, tmp_path):
    path = tmp_path / "qbee-agent.json"
    journal = str(tmp_path / "j" / "journal")
    ok(capsys, path=str(path), create=True, settings={"server": "s"}, journal=journal)
    assert path.exists()
    Journal(journal).undo(lambda argv: (0, "", ""))
    assert not path.exists()


def test_nothing_is_journaled_in_check_mode_or_without_a_change(capsys, config, tmp_path):
    journal = tmp_path / "j" / "journal"
    ok(capsys, check=True, path=str(config), settings={"server": "x"}, journal=str(journal))
    ok(capsys, path=str(config), settings={"server": "device.app.qbee.io"}, journal=str(journal))
    assert not journal.exists()


@pytest.mark.root
def test_backup_has_the_originals_owner_and_mode(capsys, config):
    os.chown(config, 12345, 12346)
    config.chmod(0o640)
    result = ok(capsys, path=str(config), settings={"server": "x"}, backup=True)
    st = os.lstat(result["backup_file"])
    assert stat.S_ISREG(st.st_mode) and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (12345, 12346, 0o640)
    assert no_temp_files(config.parent)
