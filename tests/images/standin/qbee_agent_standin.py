# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST CODE: a stand-in for qbee-agent, installed in the test images only.

It is not qbee-agent. It reproduces the parts of the real agent's start-up
and runtime behaviour that this collection depends on (see DESIGN.md), so
Molecule tests can tell whether a role left the agent able to run:

* ``start`` reads ``<config-dir>/qbee-agent.json`` the way Go's
  ``json.Unmarshal`` does: unknown keys ignored, key names matched
  case-insensitively, a wrong type is fatal;
* ``elevation_command`` (from 2026.10) is validated at every start, whatever
  the euid;
* ``version`` prints ``VERSION (commit: standin)`` as ``qbee-agent version``
  prints ``VERSION (commit: C)``. VERSION is ``$QBEE_STANDIN_VERSION``, else
  the first line of ``/etc/qbee-standin/version``, else 2026.27;
* an agent older than 2026.10 has no ``elevation_command``: the key is ignored
  like any unknown key (not validated, even if of the wrong type) and commands
  run without a prefix. An unparsable version counts as current;
* ``<config-dir>/ppkeys`` must be 0700 (fixed if possible) and the keys in it
  readable;
* state folders are created 0700 and a lock is taken under the run dir.

While it runs it writes a status JSON into the state dir every few seconds
and on SIGHUP, and it appends one line per successful start to a start log,
so tests can read version, uid, groups, shell, elevation and socket access,
and count restarts.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import grp
import json
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import sys
import time

STATUS_FILE = "standin-status.json"
START_LOG = "standin-starts.log"
CONFIG_FILE = "qbee-agent.json"
PPKEYS = ("ca.cert", "qbee.key", "qbee.cert")
SECRET_KEYS = ("bootstrap_key", "http_proxy_pass")

# The agent's config struct: JSON key -> the Go type it is decoded into.
CONFIG_FIELDS = {
    "bootstrap_key": "string",
    "device_name": "string",
    "server": "string",
    "port": "string",
    "http_proxy_server": "string",
    "http_proxy_port": "string",
    "http_proxy_user": "string",
    "http_proxy_pass": "string",
    "tpm_device": "string",
    "disable_remote_access": "bool",
    "ca_cert": "string",
    "elevation_command": "[]string",
}

DEFAULT_VERSION = "2026.27"
VERSION_ENV = "QBEE_STANDIN_VERSION"
# Written by a test, as root, to make the installed stand-in pretend to be an
# older agent; a module constant so unit tests can point it elsewhere.
VERSION_FILE = "/etc/qbee-standin/version"
# The first upstream release whose config knows elevation_command.
ELEVATION_SINCE = "2026.10"

# A read-only command the real agent runs through its elevation prefix.
ELEVATED_PROBE = ["systemctl", "show", "--property=LoadState", "qbee-agent.service"]


class AgentError(Exception):
    """A condition that makes the real agent exit at start."""


def _json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check_type(key, value, go_type):
    """Mimic json.Unmarshal: null leaves the zero value, a mismatch is fatal."""
    if value is None:
        return None
    kind = _json_type(value)
    if go_type == "string" and kind == "string":
        return value
    if go_type == "bool" and kind == "bool":
        return value
    if go_type == "[]string" and kind == "array":
        for item in value:
            if item is not None and not isinstance(item, str):
                raise AgentError(
                    "json: cannot unmarshal %s into Go struct field Config.%s of type string"
                    % (_json_type(item), key)
                )
        return [item or "" for item in value]
    raise AgentError(
        "json: cannot unmarshal %s into Go struct field Config.%s of type %s" % (kind, key, go_type)
    )


def agent_version():
    """The version to pretend to be: $QBEE_STANDIN_VERSION, VERSION_FILE, DEFAULT_VERSION."""
    version = os.environ.get(VERSION_ENV, "").strip()
    if version:
        return version
    try:
        with open(VERSION_FILE, encoding="utf-8", errors="replace") as handle:
            version = handle.readline().strip()
    except FileNotFoundError:
        return DEFAULT_VERSION
    except OSError as exc:
        # The stand-in's own failure: silently falling back to the default
        # would let a test that meant an old agent pass against a current one.
        raise AgentError("cannot read %s: %s" % (VERSION_FILE, exc.strerror)) from exc
    return version or DEFAULT_VERSION


def parse_version(text):
    """(2026, 9) for "2026.9": integers, so 2026.9 sorts before 2026.10; None if unparsable."""
    if not re.fullmatch(r"\d+(\.\d+)+", text or ""):
        return None
    return tuple(int(part) for part in text.split("."))


def older_than(version, release):
    """True if version is parsable and below release; an unparsable one counts as current."""
    parsed = parse_version(version)
    return parsed is not None and parsed < parse_version(release)


def config_fields(version):
    """The config struct of that agent version.

    Before 2026.10 the struct has no elevation_command, so json.Unmarshal
    drops the key like any unknown one: never validated, never used.
    """
    if older_than(version, ELEVATION_SINCE):
        return {k: v for k, v in CONFIG_FIELDS.items() if k != "elevation_command"}
    return CONFIG_FIELDS


def parse_config(text, fields=None):
    """Return the agent's view of a config file's text, or raise AgentError.

    fields is the config struct to decode into, CONFIG_FIELDS by default.
    """
    fields = CONFIG_FIELDS if fields is None else fields
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise AgentError("invalid config file: %s" % exc) from exc
    if not isinstance(data, dict):
        raise AgentError(
            "json: cannot unmarshal %s into Go value of type Config" % _json_type(data)
        )
    config = {}
    for raw_key, value in data.items():
        # Exact match first, then case-insensitive, as encoding/json does;
        # a later key for the same field overwrites an earlier one.
        key = raw_key if raw_key in fields else raw_key.lower()
        if key not in fields:
            continue
        value = _check_type(key, value, fields[key])
        if value is not None:  # null leaves what an earlier key set
            config[key] = value
    return config


def validate_elevation_command(command):
    """Upstream rule: first element absolute, exists (symlinks followed), executable."""
    if not command:
        return
    binary = command[0]
    if not os.path.isabs(binary):
        raise AgentError("invalid elevation command: %r is not an absolute path" % binary)
    try:
        st = os.stat(binary)
    except OSError as exc:
        raise AgentError("invalid elevation command: %s: %s" % (binary, exc.strerror)) from exc
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
        raise AgentError("invalid elevation command: %s is not executable" % binary)


def check_ppkeys(config_dir):
    ppkeys = os.path.join(config_dir, "ppkeys")
    try:
        mode = stat.S_IMODE(os.stat(ppkeys).st_mode)
    except OSError as exc:
        raise AgentError("cannot stat %s: %s" % (ppkeys, exc.strerror)) from exc
    if mode != 0o700:
        try:
            os.chmod(ppkeys, 0o700)
        except OSError as exc:
            raise AgentError(
                "%s has mode %04o, expected 0700, and cannot fix it: %s"
                % (ppkeys, mode, exc.strerror)
            ) from exc
    for name in PPKEYS:
        path = os.path.join(ppkeys, name)
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as exc:
            raise AgentError("cannot read %s: %s" % (path, exc.strerror)) from exc


def make_state_dirs(state_dir):
    for sub in ("", "app_workdir", os.path.join("app_workdir", "cache")):
        path = os.path.join(state_dir, sub)
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise AgentError("cannot create %s: %s" % (path, exc.strerror)) from exc


def take_lock(run_dir):
    try:
        os.makedirs(run_dir, mode=0o700, exist_ok=True)
        handle = open(os.path.join(run_dir, "qbee-agent.lock"), "a", encoding="utf-8")
    except OSError as exc:
        raise AgentError("cannot create lock in %s: %s" % (run_dir, exc.strerror)) from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise AgentError("another agent holds %s/qbee-agent.lock" % run_dir) from exc
    return handle


def console_shell():
    """Upstream rule: $SHELL, else the passwd shell of the agent's uid."""
    shell = os.environ.get("SHELL")
    if shell:
        return shell
    try:
        return pwd.getpwuid(os.getuid()).pw_shell
    except KeyError:
        return ""


def _group_names(gids):
    names = []
    for gid in gids:
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            names.append(str(gid))
    return names


def probe_elevation(command):
    if os.geteuid() == 0:
        argv, mode = list(ELEVATED_PROBE), "root"
    elif command:
        argv, mode = list(command) + ELEVATED_PROBE, "elevation_command"
    else:
        argv, mode = list(ELEVATED_PROBE), "direct"
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"argv": argv, "mode": mode, "ok": False, "rc": None, "output": str(exc)}
    output = (proc.stdout + proc.stderr).strip()[-500:]
    return {"argv": argv, "mode": mode, "ok": proc.returncode == 0, "rc": proc.returncode, "output": output}


def probe_socket(path):
    """Connect to an HTTP API socket and ask GET /_ping, as docker and podman answer."""
    result = {"path": path, "connect": False, "ping": False, "error": None}
    if not path:
        result["error"] = "not set"
        return result
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    try:
        sock.connect(path)
        result["connect"] = True
        sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
        reply = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        result["ping"] = reply.split(b"\r\n\r\n", 1)[-1].strip() == b"OK"
    except OSError as exc:
        result["error"] = errno.errorcode.get(exc.errno, str(exc)) if exc.errno else str(exc)
    finally:
        sock.close()
    return result


def _unix_path(url):
    if url and url.startswith("unix://"):
        return url[len("unix://"):]
    return None


def probe_tpm(device):
    """Open the TPM as the agent would: EACCES = no access, ENODEV/ENXIO = access, no driver."""
    if not device:
        return {"device": None, "open": False, "accessible": False, "error": "not set"}
    try:
        fd = os.open(device, os.O_RDWR)
    except OSError as exc:
        code = errno.errorcode.get(exc.errno, str(exc.errno))
        return {
            "device": device,
            "open": False,
            "accessible": exc.errno in (errno.ENODEV, errno.ENXIO),
            "error": code,
        }
    os.close(fd)
    return {"device": device, "open": True, "accessible": True, "error": None}


def masked(config):
    return {k: ("********" if k in SECRET_KEYS and v else v) for k, v in config.items()}


def build_status(config, started_at, version=None):
    version = version or agent_version()
    podman_url = os.environ.get("CONTAINER_HOST") or os.environ.get("DOCKER_HOST")
    return {
        "standin": True,
        "version": version,
        "pid": os.getpid(),
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "gid": os.getgid(),
        "user": _safe_user(),
        "groups": sorted(os.getgroups()),
        "group_names": sorted(_group_names(os.getgroups())),
        "shell_env": os.environ.get("SHELL"),
        "console_shell": console_shell(),
        "home": os.environ.get("HOME"),
        "environment": {
            k: os.environ.get(k)
            for k in ("XDG_RUNTIME_DIR", "DOCKER_HOST", "CONTAINER_HOST", "HOME", "SHELL")
        },
        "config": masked(config),
        # An old agent's config never holds elevation_command: no prefix.
        "elevation": probe_elevation(config.get("elevation_command")),
        "docker_socket": probe_socket("/var/run/docker.sock"),
        "podman_socket": probe_socket(_unix_path(podman_url)),
        "tpm": probe_tpm(config.get("tpm_device")),
        "started_at": started_at,
        "written_at": time.time(),
    }


def _safe_user():
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def write_json_atomic(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def startup(config_dir, state_dir, run_dir=None, version=None):
    """Everything the agent checks before it runs; returns (config, lock).

    Without run_dir no lock is taken (``check`` beside a running agent).
    version defaults to agent_version().
    """
    version = version or agent_version()
    path = os.path.join(config_dir, CONFIG_FILE)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise AgentError("cannot read config file %s: %s" % (path, exc.strerror)) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgentError("invalid config file %s: %s" % (path, exc)) from exc
    config = parse_config(text, config_fields(version))
    # Checks nothing for an old agent: its config has no elevation_command.
    validate_elevation_command(config.get("elevation_command"))
    check_ppkeys(config_dir)
    make_state_dirs(state_dir)
    lock = take_lock(run_dir) if run_dir else None
    return config, lock


def run(config_dir, state_dir, run_dir, interval):
    # Read once: the real agent's version cannot change while it runs, and a
    # status must not report a version whose behaviour it does not show.
    version = agent_version()
    config, lock = startup(config_dir, state_dir, run_dir, version)
    started_at = time.time()
    with open(os.path.join(state_dir, START_LOG), "a", encoding="utf-8") as log:
        log.write(json.dumps({"time": started_at, "pid": os.getpid(), "uid": os.getuid()}) + "\n")

    wake = {"hup": False, "stop": False}

    def on_hup(_signum, _frame):
        wake["hup"] = True

    def on_term(_signum, _frame):
        wake["stop"] = True

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    status_path = os.path.join(state_dir, STATUS_FILE)
    try:
        while not wake["stop"]:
            wake["hup"] = False
            write_json_atomic(status_path, build_status(config, started_at, version))
            deadline = time.monotonic() + interval
            while not (wake["stop"] or wake["hup"]) and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        lock.close()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="qbee-agent", description="TEST STAND-IN for qbee-agent (not the real agent)"
    )
    parser.add_argument("-c", "--config-dir", default="/etc/qbee")
    parser.add_argument("-s", "--state-dir", default="/var/lib/qbee")
    # "check" is the stand-in's own: the start-up checks without running.
    parser.add_argument("command", choices=["start", "check", "version"])
    args = parser.parse_args(argv)
    run_dir = os.environ.get("QBEE_STANDIN_RUN_DIR", "/run/qbee")
    interval = float(os.environ.get("QBEE_STANDIN_INTERVAL", "3"))
    try:
        if args.command == "version":
            print("%s (commit: standin)" % agent_version())
            return 0
        if args.command == "check":
            startup(args.config_dir, args.state_dir)
            print("ok")
            return 0
        return run(args.config_dir, args.state_dir, run_dir, interval)
    except AgentError as exc:
        print("qbee-agent: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
