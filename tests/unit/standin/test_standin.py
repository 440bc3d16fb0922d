"""The qbee-agent stand-in is the yardstick of every Molecule test: it must not lie."""

import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import qbee_agent_standin as agent

STANDIN = agent.__file__
BOOTSTRAP_CONFIG = '{"server":"device.app.qbee.io","port":"443"}'


@pytest.fixture(autouse=True)
def current_agent(tmp_path, monkeypatch):
    """No version set: a host's $QBEE_STANDIN_VERSION or version file must not leak in.

    Returns the (absent) version file, for tests that write one.
    """
    monkeypatch.delenv(agent.VERSION_ENV, raising=False)
    version_file = tmp_path / "standin-version"
    monkeypatch.setattr(agent, "VERSION_FILE", str(version_file))
    return version_file


# ---- config parsing as json.Unmarshal does it --------------------------------

def test_bootstrap_output_parses():
    assert agent.parse_config(BOOTSTRAP_CONFIG) == {"server": "device.app.qbee.io", "port": "443"}


def test_unknown_keys_are_ignored():
    assert agent.parse_config('{"port":"443","future_key":[1,2],"x":{}}') == {"port": "443"}


def test_key_names_match_case_insensitively_and_last_wins():
    config = agent.parse_config('{"Port":"1","PORT":"2","Elevation_Command":["/bin/true"]}')
    assert config == {"port": "2", "elevation_command": ["/bin/true"]}


def test_null_leaves_the_earlier_value():
    assert agent.parse_config('{"port":"443","PORT":null,"tpm_device":null}') == {"port": "443"}


@pytest.mark.parametrize("text, message", [
    ('{"port":443}', "cannot unmarshal number into Go struct field Config.port of type string"),
    ('{"disable_remote_access":"yes"}', "cannot unmarshal string into Go struct field Config.disable_remote_access of type bool"),
    ('{"elevation_command":"/usr/bin/sudo"}', "cannot unmarshal string into Go struct field Config.elevation_command of type []string"),
    ('{"elevation_command":["/usr/bin/sudo",1]}', "cannot unmarshal number into Go struct field Config.elevation_command of type string"),
    ('{"server":true}', "cannot unmarshal bool into Go struct field Config.server of type string"),
    ('["port"]', "cannot unmarshal array into Go value of type Config"),
    ('{"port":"443",', "invalid config file"),
])
def test_wrong_types_and_bad_json_are_fatal(text, message):
    with pytest.raises(agent.AgentError) as exc:
        agent.parse_config(text)
    assert message in str(exc.value)


# ---- elevation_command validation ------------------------------------------

def _exe(path, mode=0o755):
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return str(path)


def test_valid_elevation_command_and_symlink_to_it(tmp_path):
    binary = _exe(tmp_path / "sudo")
    os.symlink(binary, tmp_path / "link")
    agent.validate_elevation_command([binary, "-n"])
    agent.validate_elevation_command([str(tmp_path / "link"), "-n"])
    agent.validate_elevation_command([])
    agent.validate_elevation_command(None)


@pytest.mark.parametrize("case, message", [
    ("relative", "is not an absolute path"),
    ("missing", "No such file or directory"),
    ("not-executable", "is not executable"),
    ("directory", "is not executable"),
    ("dangling", "No such file or directory"),
])
def test_invalid_elevation_command(tmp_path, case, message):
    paths = {
        "relative": "sudo",
        "missing": str(tmp_path / "nope"),
        "not-executable": _exe(tmp_path / "plain", 0o644),
        "directory": str(tmp_path),
        "dangling": str(tmp_path / "dangling"),
    }
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    with pytest.raises(agent.AgentError) as exc:
        agent.validate_elevation_command([paths[case], "-n"])
    assert str(exc.value).startswith("invalid elevation command")
    assert message in str(exc.value)


# ---- the running process -----------------------------------------------------

@pytest.fixture
def device(tmp_path):
    """A bootstrapped config dir, an empty state dir and a run dir."""
    config_dir, state_dir, run_dir = tmp_path / "etc", tmp_path / "state", tmp_path / "run"
    (config_dir / "ppkeys").mkdir(parents=True)
    config_dir.chmod(0o700)
    (config_dir / "ppkeys").chmod(0o700)
    for name in agent.PPKEYS:
        (config_dir / "ppkeys" / name).write_text("test\n")
        (config_dir / "ppkeys" / name).chmod(0o600)
    (config_dir / "qbee-agent.json").write_text(BOOTSTRAP_CONFIG)
    return config_dir, state_dir, run_dir


def _start(device, env=None):
    config_dir, state_dir, run_dir = device
    environ = dict(os.environ, QBEE_STANDIN_RUN_DIR=str(run_dir), QBEE_STANDIN_INTERVAL="30")
    environ.update(env or {})
    return subprocess.Popen(
        [sys.executable, STANDIN, "-c", str(config_dir), "-s", str(state_dir), "start"],
        env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _status(state_dir):
    return json.loads((state_dir / agent.STATUS_FILE).read_text())


def test_start_writes_status_and_one_start_line_and_stops_on_term(device):
    state_dir, run_dir = device[1], device[2]
    proc = _start(device, env={"SHELL": "/bin/sh"})
    try:
        assert _wait((state_dir / agent.STATUS_FILE).exists), proc.stderr
        status = _status(state_dir)
        assert status["pid"] == proc.pid
        assert status["uid"] == os.getuid()
        assert status["console_shell"] == "/bin/sh"
        assert status["config"] == {"server": "device.app.qbee.io", "port": "443"}
        assert (run_dir / "qbee-agent.lock").exists()
        for sub in ("", "app_workdir", "app_workdir/cache"):
            assert stat.S_IMODE(os.stat(state_dir / sub).st_mode) == 0o700
        lines = (state_dir / agent.START_LOG).read_text().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_sighup_writes_a_fresh_status(device):
    state_dir = device[1]
    proc = _start(device)
    try:
        assert _wait((state_dir / agent.STATUS_FILE).exists)
        first = _status(state_dir)["written_at"]
        proc.send_signal(signal.SIGHUP)
        assert _wait(lambda: _status(state_dir)["written_at"] > first)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_second_agent_cannot_take_the_lock(device):
    state_dir = device[1]
    first = _start(device)
    try:
        assert _wait((state_dir / agent.STATUS_FILE).exists)
        second = _start(device)
        assert second.wait(timeout=10) == 1
        assert "qbee-agent.lock" in second.stderr.read()
        assert len((state_dir / agent.START_LOG).read_text().splitlines()) == 1
    finally:
        first.terminate()
        first.wait(timeout=10)


def test_wrong_port_type_exits_non_zero_with_message(device):
    config_dir, state_dir = device[0], device[1]
    (config_dir / "qbee-agent.json").write_text('{"server":"x","port":443}')
    proc = _start(device)
    assert proc.wait(timeout=10) == 1
    assert "Config.port of type string" in proc.stderr.read()
    assert not (state_dir / agent.START_LOG).exists()


def test_invalid_elevation_command_exits_even_as_any_user(device):
    config_dir = device[0]
    (config_dir / "qbee-agent.json").write_text('{"port":"443","elevation_command":["/nonexistent/sudo","-n"]}')
    proc = _start(device)
    assert proc.wait(timeout=10) == 1
    assert "invalid elevation command: /nonexistent/sudo" in proc.stderr.read()


def test_config_that_is_not_utf8_is_fatal(device):
    config_dir = device[0]
    (config_dir / "qbee-agent.json").write_bytes(b'{"server":"\xff"}')
    proc = _start(device)
    assert proc.wait(timeout=10) == 1
    assert "invalid config file" in proc.stderr.read()


def test_ppkeys_mode_is_fixed_to_0700(device):
    config_dir, state_dir = device[0], device[1]
    (config_dir / "ppkeys").chmod(0o755)
    proc = _start(device)
    try:
        assert _wait((state_dir / agent.STATUS_FILE).exists)
        assert stat.S_IMODE(os.stat(config_dir / "ppkeys").st_mode) == 0o700
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_missing_key_in_ppkeys_is_fatal(device):
    config_dir = device[0]
    (config_dir / "ppkeys" / "qbee.key").unlink()
    proc = _start(device)
    assert proc.wait(timeout=10) == 1
    message = proc.stderr.read()
    assert "cannot read" in message and "qbee.key" in message


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root")


def _as_nobody():
    nobody = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


@pytest.fixture
def shared_device(device):
    """The device fixture, moved where another user can reach it, with a copy of the stand-in."""
    base = tempfile.mkdtemp(prefix="qbee-standin-")
    os.chmod(base, 0o755)
    moved = []
    for path in device:
        if path.exists():
            shutil.copytree(path, os.path.join(base, path.name))
            os.chmod(os.path.join(base, path.name), os.stat(path).st_mode)
        moved.append(type(path)(os.path.join(base, path.name)))
    shutil.copy(STANDIN, os.path.join(base, "standin.py"))
    yield tuple(moved), os.path.join(base, "standin.py")
    shutil.rmtree(base)


def _start_as_nobody(device, script):
    config_dir, state_dir, run_dir = device
    environ = dict(os.environ, QBEE_STANDIN_RUN_DIR=str(run_dir), QBEE_STANDIN_INTERVAL="30")
    return subprocess.Popen(
        ["/usr/bin/python3", script, "-c", str(config_dir), "-s", str(state_dir), "start"],
        env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_as_nobody,
    )


@needs_root
def test_unprivileged_agent_cannot_use_root_owned_ppkeys(shared_device):
    (config_dir, state_dir, run_dir), script = shared_device
    nobody = pwd.getpwnam("nobody")
    for path in (config_dir, config_dir / "qbee-agent.json"):
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    for path in (state_dir, run_dir):
        path.mkdir()
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    # ppkeys and its files stay root's 0700/0600, as a package upgrade leaves them.
    proc = _start_as_nobody((config_dir, state_dir, run_dir), script)
    assert proc.wait(timeout=10) == 1
    assert "Permission denied" in proc.stderr.read()
    # Handing ppkeys to the agent's user makes it start.
    for path in [config_dir / "ppkeys"] + [config_dir / "ppkeys" / n for n in agent.PPKEYS]:
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    proc = _start_as_nobody((config_dir, state_dir, run_dir), script)
    try:
        assert _wait((state_dir / agent.STATUS_FILE).exists), proc.stderr
        assert _status(state_dir)["uid"] == nobody.pw_uid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---- version and old agents -----------------------------------------------------

def test_version_prints_like_the_real_agent(capsys):
    assert agent.main(["version"]) == 0
    assert capsys.readouterr().out == "2026.27 (commit: standin)\n"


def test_version_env_beats_the_file(current_agent, monkeypatch):
    current_agent.write_text("2025.49\n")
    monkeypatch.setenv(agent.VERSION_ENV, "2026.3")
    assert agent.agent_version() == "2026.3"


@pytest.mark.parametrize("text, version", [
    ("2025.49\nignored\n", "2025.49"),
    ("  2026.9  \n", "2026.9"),
    ("", "2026.27"),  # an empty file is no version
])
def test_version_file_beats_the_default(current_agent, text, version):
    assert agent.agent_version() == "2026.27"
    current_agent.write_text(text)
    assert agent.agent_version() == version


def test_unreadable_version_file_fails_loudly(current_agent, capsys):
    # A directory stands for any unreadable file: root reads past modes.
    current_agent.mkdir()
    assert agent.main(["version"]) == 1
    assert "cannot read %s" % current_agent in capsys.readouterr().err


@pytest.mark.parametrize("version, release, older", [
    ("2025.49", "2026.10", True),
    ("2026.9", "2026.10", True),  # integers, not strings: "9" > "10"
    ("2026.10", "2026.10", False),
    ("2026.27", "2026.10", False),
    ("2027.1", "2026.10", False),
    ("2026.10.1", "2026.10", False),
    # Unparsable counts as current, so nothing is gated off.
    ("", "2026.10", False),
    ("dev", "2026.10", False),
    ("2025", "2026.10", False),
    ("v2025.49", "2026.10", False),
    ("2025.49-rc1", "2026.10", False),
])
def test_versions_compare_numerically(version, release, older):
    assert agent.older_than(version, release) is older


def _config(device, text):
    (device[0] / "qbee-agent.json").write_text(text)


INVALID_ELEVATION = '{"port":"443","elevation_command":["/nonexistent/sudo","-n"]}'


@pytest.mark.parametrize("text", [
    INVALID_ELEVATION,
    '{"port":"443","elevation_command":"/usr/bin/sudo"}',  # even a wrong type
])
def test_old_agent_ignores_elevation_command_at_startup(device, monkeypatch, text):
    config_dir, state_dir = device[0], device[1]
    _config(device, text)
    monkeypatch.setenv(agent.VERSION_ENV, "2026.9")
    config, lock = agent.startup(str(config_dir), str(state_dir))
    assert config == {"port": "443"} and lock is None


@pytest.mark.parametrize("version", ["2026.10", "2026.27", "not-a-version"])
def test_current_agent_still_refuses_invalid_elevation_command(device, monkeypatch, version):
    config_dir, state_dir = device[0], device[1]
    _config(device, INVALID_ELEVATION)
    monkeypatch.setenv(agent.VERSION_ENV, version)
    with pytest.raises(agent.AgentError) as exc:
        agent.startup(str(config_dir), str(state_dir))
    assert "invalid elevation command: /nonexistent/sudo" in str(exc.value)


def test_old_agent_status_probes_directly_and_names_its_version(device, monkeypatch):
    config_dir, state_dir = device[0], device[1]
    _config(device, '{"port":"443","elevation_command":["/bin/false"]}')
    monkeypatch.setattr(agent, "ELEVATED_PROBE", ["true"])
    monkeypatch.setattr(agent.os, "geteuid", lambda: 1000)
    config, _lock = agent.startup(str(config_dir), str(state_dir), version="2025.49")
    status = agent.build_status(config, 0.0, "2025.49")
    assert status["version"] == "2025.49"
    assert status["elevation"]["mode"] == "direct" and status["elevation"]["argv"] == ["true"]
    assert "elevation_command" not in status["config"]


def test_status_names_the_current_version(device):
    assert agent.build_status({}, 0.0)["version"] == "2026.27"


def test_old_agent_starts_despite_invalid_elevation_command(device):
    state_dir = device[1]
    _config(device, INVALID_ELEVATION)
    proc = _start(device, env={agent.VERSION_ENV: "2025.49"})
    try:
        assert _wait((state_dir / agent.STATUS_FILE).exists), proc.stderr
        status = _status(state_dir)
        assert status["version"] == "2025.49"
        assert status["elevation"]["mode"] in ("direct", "root")  # root when the tests run as root
        assert status["elevation"]["argv"] == agent.ELEVATED_PROBE
    finally:
        proc.terminate()
    assert proc.wait(timeout=10) == 0


# ---- probes --------------------------------------------------------------------

def test_console_shell_prefers_SHELL_then_passwd(monkeypatch):
    monkeypatch.setenv("SHELL", "/bin/zsh")
    assert agent.console_shell() == "/bin/zsh"
    monkeypatch.delenv("SHELL")
    assert agent.console_shell() == pwd.getpwuid(os.getuid()).pw_shell


def test_elevation_probe_uses_the_prefix_when_not_root(monkeypatch):
    monkeypatch.setattr(agent, "ELEVATED_PROBE", ["true"])
    monkeypatch.setattr(agent.os, "geteuid", lambda: 1000)
    good = agent.probe_elevation(["/usr/bin/env"])
    assert good["mode"] == "elevation_command" and good["argv"] == ["/usr/bin/env", "true"] and good["ok"]
    bad = agent.probe_elevation(["/bin/false"])
    assert bad["ok"] is False and bad["rc"] == 1
    direct = agent.probe_elevation(None)
    assert direct["mode"] == "direct" and direct["argv"] == ["true"]


def test_elevation_probe_ignores_the_prefix_as_root(monkeypatch):
    monkeypatch.setattr(agent, "ELEVATED_PROBE", ["true"])
    monkeypatch.setattr(agent.os, "geteuid", lambda: 0)
    result = agent.probe_elevation(["/bin/false"])
    assert result["mode"] == "root" and result["argv"] == ["true"] and result["ok"]


def test_socket_probe_pings_an_api_socket(tmp_path):
    path = str(tmp_path / "api.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def answer():
        conn = server.accept()[0]
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        conn.close()

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        result = agent.probe_socket(path)
    finally:
        thread.join(5)
        server.close()
    assert result == {"path": path, "connect": True, "ping": True, "error": None}
    missing = agent.probe_socket(str(tmp_path / "none.sock"))
    assert missing["connect"] is False and missing["error"] == "ENOENT"


def test_tpm_probe_tells_no_access_from_no_driver(tmp_path, monkeypatch):
    device = tmp_path / "tpmrm0"
    device.write_text("")
    assert agent.probe_tpm(str(device))["accessible"] is True
    assert agent.probe_tpm(None)["accessible"] is False

    def denied(*_args):
        raise PermissionError(13, "Permission denied")

    def no_driver(*_args):
        raise OSError(6, "No such device or address")

    monkeypatch.setattr(agent.os, "open", denied)
    assert agent.probe_tpm(str(device)) == {"device": str(device), "open": False, "accessible": False, "error": "EACCES"}
    monkeypatch.setattr(agent.os, "open", no_driver)
    assert agent.probe_tpm(str(device))["accessible"] is True


def test_secrets_are_masked_in_the_status():
    masked = agent.masked({"bootstrap_key": "s3cret", "http_proxy_pass": "pw", "port": "443"})
    assert masked == {"bootstrap_key": "********", "http_proxy_pass": "********", "port": "443"}
