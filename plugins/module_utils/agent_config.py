# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""qbee-agent.json as the agent reads it: parsed, merged with the settings asked for, checked and written.

The engine of the agent_config module, shared with desired_state (a role's declared settings) and the drift
filter (the same comparison on the controller). plan() reads and checks everything and raises ConfigError
before anything is written; write() then journals the old file and writes the new one.
"""

from __future__ import annotations

import json
import os
import stat
import time

from ansible.module_utils.parsing.convert_bool import BOOLEANS, boolean
from ansible_collections.qbee.unprivileged.plugins.module_utils.agent import (
    AGENT_TYPES, BOOL_KEYS, PATH_KEYS, PORT_KEYS, SECRET_KEYS, STRING_KEYS, agent_type_problem,
    json_type, mask_secrets)
from ansible_collections.qbee.unprivileged.plugins.module_utils import fs
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal

# Keys the agent knows that have an option of their own, or are not ours to set.
OWN_OPTION_KEYS = {
    "elevation_command": "use the elevation_command option",
    "http_proxy_pass": "use the http_proxy_pass option, which is kept out of logs",
    "bootstrap_key": "it is used only by 'qbee-agent bootstrap' and this module does not set it",
}


class ConfigError(Exception):
    """Bad input or a file the module must not touch; the message is for the operator."""


def same_json(a, b):
    """Equality of parsed JSON that does not confuse true with 1 or 1 with 1.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return a == b


# ---- reading ------------------------------------------------------------------

def read_config(path):
    """(raw bytes, text, parsed object, fstat) of the file, or (None, None, None, None) when it does not exist."""
    try:
        raw, st = fs.read_regular(path, fs.MAX_CONFIG_BYTES)
    except fs.UnsafePath as exc:
        raise ConfigError("%s; nothing was read from it or written" % exc)
    if raw is None:
        return None, None, None, None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("%s is not valid UTF-8 (byte %d); the agent cannot read it either" % (path, exc.start))
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = "line %s column %s" % (getattr(exc, "lineno", "?"), getattr(exc, "colno", "?"))
        raise ConfigError("%s is not valid JSON at %s: %s" % (path, where, getattr(exc, "msg", exc)))
    if not isinstance(data, dict):
        raise ConfigError("%s holds a JSON %s, not an object; the agent needs an object" % (path, json_type(data)))
    return raw, text, data, st


def outside_strings(text):
    """Yield (index, character) for the characters of text that are not inside a JSON string."""
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        else:
            yield index, char


def detect_style(text):
    """How the file is laid out: indentation, separators, trailing newline."""
    style = {"indent": None, "item_sep": ",", "key_sep": ":", "newline": text.endswith("\n")}
    body = text.strip()
    if "\n" in body:
        # A JSON string cannot hold a raw newline: a newline is layout, so the file is indented.
        line = body.split("\n")[1]
        style["indent"] = line[:len(line) - len(line.lstrip(" \t"))] or "  "
        style["key_sep"] = ": "
        return style
    seen = set()
    for index, char in outside_strings(body):
        if char in ",:" and char not in seen:
            seen.add(char)
            spaced = body[index + 1:index + 2] == " "
            if char == ":":
                style["key_sep"] = ": " if spaced else ":"
            else:
                style["item_sep"] = ", " if spaced else ","
            if len(seen) == 2:
                break
    return style


def render(data, style):
    if style["indent"] is not None:
        text = json.dumps(data, indent=style["indent"], separators=(",", ": "), ensure_ascii=False)
    else:
        text = json.dumps(data, separators=(style["item_sep"], style["key_sep"]), ensure_ascii=False)
    return text + ("\n" if style["newline"] else "")


# ---- validating what we are asked to write -----------------------------------------

def check_elevation_command(command):
    for index, item in enumerate(command):
        if not isinstance(item, str) or not item:
            raise ConfigError(
                "elevation_command[%d] must be a non-empty string, got %s %r" % (index, json_type(item), item)
            )
    if " " in command[0] and len(command) == 1:
        raise ConfigError(
            "elevation_command[0] %r looks like a whole command line; give a list such as "
            '["/usr/bin/sudo", "-n"]' % command[0]
        )
    return list(command)


def check_executable(command):
    binary = command[0]
    if not os.path.isabs(binary):
        raise ConfigError(
            "elevation_command[0] %r is not an absolute path; the agent refuses to start with it" % binary
        )
    try:
        st = os.stat(binary)
    except OSError as exc:
        raise ConfigError(
            "elevation_command[0] %s does not exist on this host (%s); install it first, "
            "or the agent will not start" % (binary, exc.strerror)
        )
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
        raise ConfigError(
            "elevation_command[0] %s is not an executable file; the agent would not start with it" % binary
        )


def check_port(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError("%s must be a port number (1-65535), got %s %r" % (name, json_type(value), value))
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ConfigError("%s must be a port number (1-65535), got %r" % (name, value))
    return str(int(text))


def check_setting(key, value, allow_unknown):
    """Return (canonical key, value as the agent needs it)."""
    name = "settings.%s" % key
    canonical = key.lower()
    if canonical in OWN_OPTION_KEYS:
        raise ConfigError("%s cannot be set through settings: %s" % (name, OWN_OPTION_KEYS[canonical]))
    if value is None:
        raise ConfigError("%s is null; to delete a key, list it in remove" % name)
    if canonical in PORT_KEYS:
        return canonical, check_port(name, value)
    if canonical in BOOL_KEYS:
        if isinstance(value, bool):
            return canonical, value
        if isinstance(value, str) and value.lower() in BOOLEANS:
            return canonical, boolean(value)
        raise ConfigError("%s must be a boolean, got %s %r" % (name, json_type(value), value))
    if canonical in STRING_KEYS + PATH_KEYS:
        if not isinstance(value, str):
            raise ConfigError("%s must be a string, got %s %r" % (name, json_type(value), value))
        if canonical in PATH_KEYS and not os.path.isabs(value):
            raise ConfigError("%s must be an absolute path, got %r" % (name, value))
        return canonical, value
    if not allow_unknown:
        raise ConfigError(
            "%s is not a key qbee-agent knows (known: %s); set allow_unknown_keys: true to write it anyway"
            % (name, ", ".join(sorted(AGENT_TYPES)))
        )
    return key, value


def check_agent_types(data, path):
    """The whole result must be a config the agent starts with."""
    problem = agent_type_problem(data)
    if problem:
        raise ConfigError(
            "key %r in %s is a %s, but the agent needs a %s and would not start; "
            "set it through settings (or remove it) to fix it" % (problem[0], path, problem[1], problem[2])
        )


# ---- merging ------------------------------------------------------------------------

def variants(data, key):
    """The keys of data that the agent reads as key (it matches case-insensitively)."""
    return [k for k in data if k.lower() == key.lower()]


def set_key(data, key, value):
    found = variants(data, key)
    if not found:
        data[key] = value
        return data
    # Collapse case variants into one, where the first stood, named as asked.
    result = {}
    for k, v in data.items():
        if k == found[0]:
            result[key] = value
        elif k not in found:
            result[k] = v
    return result


def remove_key(data, key):
    return dict((k, v) for k, v in data.items() if k.lower() != key.lower())


def merge(current, params):
    """Return the new object; raise ConfigError on anything the agent would not accept."""
    remove = list(params["remove"])
    updates = []
    command = params["elevation_command"]
    if command:
        updates.append(("elevation_command", check_elevation_command(command)))
    elif command is not None:
        remove.append("elevation_command")
    for key, value in (params["settings"] or {}).items():
        updates.append(check_setting(key, value, params["allow_unknown_keys"]))
    if params["http_proxy_pass"] is not None:
        updates.append(("http_proxy_pass", params["http_proxy_pass"]))

    removing = set(k.lower() for k in remove)
    for key, _value in updates:
        if key.lower() in removing:
            raise ConfigError("%s is both set and removed; choose one" % key)
    if "tpm_device" in removing and variants(current, "tpm_device") and not params["force"]:
        raise ConfigError(
            "refusing to remove tpm_device: once the agent has sealed its key in the TPM it cannot "
            "start without it; set force: true if you are sure no key is sealed"
        )

    data = dict(current)
    for key, value in updates:
        data = set_key(data, key, value)
    for key in remove:
        data = remove_key(data, key)
    return data


# ---- writing ------------------------------------------------------------------------

def write_config(params, path, raw, st, new_text, result):
    """Backup and journal first, then the new file with the old one's owner and mode (root 0600 when new)."""
    uid, gid, mode = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) if st else (0, 0, 0o600)
    try:
        if params["backup"] and raw is not None:
            backup = "%s.%d.%s~" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S"))
            fs.replace_file(backup, raw, mode, uid, gid)
            result["backup_file"] = backup
        if params["journal"]:
            Journal(params["journal"]).record_file(path, raw, st)
        fs.replace_file(path, new_text.encode("utf-8"), mode, uid, gid)
    except fs.UnsafePath as exc:
        raise ConfigError(str(exc))


# Every option of the agent_config module, as plan() takes them; callers give what they set.
DEFAULTS = dict(path="/etc/qbee/qbee-agent.json", elevation_command=None, settings={}, http_proxy_pass=None,
                remove=[], force=False, allow_unknown_keys=False, validate_executable=True, create=False,
                backup=False, journal="")


class Plan(object):
    """The file as read, and as it would be written."""

    def __init__(self, params):
        self.params = dict(DEFAULTS, **dict((k, v) for k, v in params.items() if v is not None or k == "elevation_command"))
        self.path = self.params["path"]
        self.raw = self.text = self.current = self.st = None
        self.wanted = None
        self.changed = False
        self.differs = []     # the keys asked for whose value differed
        self.new_text = None
        self.style = None

    def diff(self):
        secrets = any(k.lower() in SECRET_KEYS for k in list(self.current) + list(self.wanted))
        return {
            "before_header": self.path if self.raw is not None else "%s (absent)" % self.path,
            "after_header": self.path,
            "before": render(mask_secrets(self.current), self.style) if secrets and self.raw is not None else self.text,
            "after": render(mask_secrets(self.wanted), self.style) if secrets else self.new_text,
        }


def plan(params):
    """Read and check everything; a Plan, or ConfigError with nothing written."""
    p = Plan(params)
    p.raw, p.text, p.current, p.st = read_config(p.path)
    if p.raw is None:
        if not p.params["create"]:
            raise ConfigError(
                "%s does not exist: qbee-agent is not installed or not bootstrapped on this host "
                "(set create: true to create the file)" % p.path
            )
        if not os.path.isdir(os.path.dirname(p.path) or "/"):
            raise ConfigError("cannot create %s: its directory does not exist" % p.path)
        p.text, p.current = "", {}
        p.style = {"indent": None, "item_sep": ",", "key_sep": ":", "newline": False}
    else:
        p.style = detect_style(p.text)
    p.wanted = merge(p.current, p.params)
    check_agent_types(p.wanted, p.path)
    command = next((p.wanted[k] for k in variants(p.wanted, "elevation_command")), None)
    if command and p.params["validate_executable"]:
        check_executable(command)
    p.changed = p.raw is None or not same_json(p.current, p.wanted)
    p.differs = _differing(p.current, p.wanted, p.params) if p.changed else []
    p.new_text = render(p.wanted, p.style) if p.changed else p.text
    return p


def _declared_keys(params):
    """The keys params sets: elevation_command when given, and each of settings."""
    return (["elevation_command"] if params.get("elevation_command") is not None else []) + \
        [k.lower() for k in (params.get("settings") or {})]


def _differing(current, wanted, params):
    return [key for key in _declared_keys(params) if not _same_key(current, wanted, key)]


def _same_key(current, wanted, key):
    names = variants(current, key)
    return names == variants(wanted, key) and all(same_json(current[k], wanted[k]) for k in names)


def differing_keys(current, params):
    """The keys params sets (elevation_command, settings) whose value in current is not the one asked for.

    current is the parsed file (None when it could not be read: every key differs). Bad input differs too,
    so that the caller runs plan(), which says what is wrong.
    """
    if not isinstance(current, dict):
        return _declared_keys(params)
    try:
        wanted = merge(current, dict(DEFAULTS, **params))
    except ConfigError:
        return _declared_keys(params)
    return _differing(current, wanted, params)


def write(p, result):
    """Write a changed plan (backup and journal first); result gets backup_file."""
    if p.changed:
        write_config(p.params, p.path, p.raw, p.st, p.new_text, result)


def run(params, check_mode, diff):
    """What the agent_config module does: the result, the file written unless check_mode."""
    p = plan(params)
    result = {"changed": p.changed, "path": p.path, "config": mask_secrets(p.wanted)}
    if diff:
        result["diff"] = p.diff()
    if not check_mode:
        write(p, result)
    return result
