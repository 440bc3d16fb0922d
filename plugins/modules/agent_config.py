#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_config
short_description: Merge settings such as C(elevation_command) into qbee-agent.json
version_added: 1.0.0
description:
  - Sets and removes keys in the qbee-agent configuration file, keeping every other key,
    its value and type, the key order and the file's layout (compact or indented).
  - Refuses to write a configuration that would stop the agent. The agent exits at start
    when a key has the wrong JSON type (for example C(port) as a number) or when
    the first element of C(elevation_command) is not an absolute path to an existing
    executable, whatever user it runs as.
  - Decides whether anything changed by comparing parsed JSON values, never text, so a file
    the agent rewrote in its own layout is not reported as changed. An unchanged file is not
    rewritten.
  - Writes atomically, through a temporary file in the destination's directory, with the old file's owner and
    mode set on its descriptor before the rename.
  - The agent user owns the configuration folder and may have replaced the file by anything. The file is opened
    without following a symbolic link and must be a regular file with one link and at most 64 KiB; anything else
    (a link, a FIFO, a device, a hard link, a file too large) is refused with a message that names it, and
    nothing is read from it, written through it or shown of it.
  - With O(journal), the file as it was is recorded before it changes, so a failed run can put it back
    (M(qbee.unprivileged.journal)).
  - Key names are matched case-insensitively, as the agent matches them.
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
attributes:
  check_mode:
    support: full
    description: Reports what would change, with the diff, and writes nothing.
  diff_mode:
    support: full
    description: Before and after text of the file; secrets are masked.
  platform:
    support: full
    platforms: posix
    description: Runs on the device that has qbee-agent.
options:
  path:
    description:
      - The agent's configuration file. A symbolic link, or anything but a regular file, is refused.
    type: path
    default: /etc/qbee/qbee-agent.json
  elevation_command:
    description:
      - The command the agent prefixes to commands that need privileges, as a list, for
        example V(["/usr/bin/sudo", "-n"]).
      - Omitted, the key is left as it is. An empty list removes the key (elevation off).
      - With O(validate_executable=true) the first element must be an absolute path to an
        existing executable file on the target (symbolic links followed).
    type: list
    elements: raw
  settings:
    description:
      - Other agent keys to set, each checked against the JSON type the agent expects.
      - Known keys are C(server), C(port), C(device_name), C(http_proxy_server),
        C(http_proxy_port), C(http_proxy_user), C(tpm_device), C(disable_remote_access)
        and C(ca_cert).
      - C(port) and C(http_proxy_port) accept an integer or a string of digits (1-65535) and
        are always written as strings. C(disable_remote_access) must be a boolean.
        C(tpm_device) and C(ca_cert) must be absolute paths.
      - The proxy password has its own option, O(http_proxy_pass), so that it can be kept out
        of logs without hiding every other value. C(elevation_command) has its own option too.
        C(bootstrap_key) is used only when the agent bootstraps and is not set by this module.
      - A key the agent does not know is an error unless O(allow_unknown_keys=true).
    type: dict
    default: {}
  http_proxy_pass:
    description:
      - The proxy password (C(http_proxy_pass) in the file). Never logged; masked in the diff
        and in the returned configuration.
    type: str
  remove:
    description:
      - Keys to delete. A key that is not in the file is ignored.
      - Removing C(tpm_device) needs O(force=true). Once the agent has sealed its key in the
        TPM, it cannot start without it.
    type: list
    elements: str
    default: []
  force:
    description:
      - Allow removing C(tpm_device).
    type: bool
    default: false
  allow_unknown_keys:
    description:
      - Allow keys in O(settings) that the agent does not know; they are written as given.
      - Unknown keys already in the file are always kept, whatever this says.
    type: bool
    default: false
  validate_executable:
    description:
      - Check on the target that the first element of the resulting C(elevation_command) is
        an absolute path to an existing executable file before anything is written.
    type: bool
    default: true
  create:
    description:
      - Create the file (root-owned, mode C(0600)) when it does not exist.
      - When false, a missing file is an error, since the agent is then not installed or not
        bootstrapped.
    type: bool
    default: false
  backup:
    description:
      - Keep a timestamped copy of the original file before it is changed, beside it, with its owner and mode.
    type: bool
    default: false
  journal:
    description: The undo journal folder; empty records nothing.
    type: path
    default: ""
notes:
  - The agent reads its configuration only at start. Restart it (one handler, once per run)
    after this module reports a change.
seealso:
  - name: Running as Unprivileged User
    description: The qbee guide whose privilege elevation step this module implements.
    link: https://qbee.io/docs/running-as-unprivileged-user.html
"""

EXAMPLES = r"""
- name: Let the agent elevate through sudo
  qbee.unprivileged.agent_config:
    elevation_command: ["/usr/bin/sudo", "-n"]
  notify: Restart qbee-agent

- name: Turn privilege elevation off
  qbee.unprivileged.agent_config:
    elevation_command: []
  notify: Restart qbee-agent

- name: Send the agent through a proxy
  qbee.unprivileged.agent_config:
    settings:
      http_proxy_server: proxy.example.com
      http_proxy_port: 3128
      http_proxy_user: qbee
    http_proxy_pass: "{{ vault_qbee_proxy_password }}"
  notify: Restart qbee-agent

- name: Point the agent at the kernel's TPM resource manager, keeping a backup
  qbee.unprivileged.agent_config:
    settings:
      tpm_device: /dev/tpmrm0
    backup: true
  notify: Restart qbee-agent

- name: Remove the proxy settings
  qbee.unprivileged.agent_config:
    remove: [http_proxy_server, http_proxy_port, http_proxy_user, http_proxy_pass]
  notify: Restart qbee-agent
"""

RETURN = r"""
config:
  description:
    - The configuration as it is (or, in check mode, would be) after the module ran.
    - The values of C(bootstrap_key) and C(http_proxy_pass) are masked.
  returned: success
  type: dict
  sample: {"server": "device.app.qbee.io", "port": "443", "elevation_command": ["/usr/bin/sudo", "-n"]}
path:
  description: The file that was read and written.
  returned: always
  type: str
  sample: /etc/qbee/qbee-agent.json
backup_file:
  description: The copy of the original file, when O(backup=true) and the file changed.
  returned: changed and backup made
  type: str
  sample: /etc/qbee/qbee-agent.json.12345.2026-11-27@13:45:01~
"""

import json
import os
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
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


def run(module):
    params = module.params
    path = params["path"]
    result = {"changed": False, "path": path}

    raw, text, current, st = read_config(path)
    if raw is None:
        if not params["create"]:
            raise ConfigError(
                "%s does not exist: qbee-agent is not installed or not bootstrapped on this host "
                "(set create: true to create the file)" % path
            )
        if not os.path.isdir(os.path.dirname(path) or "/"):
            raise ConfigError("cannot create %s: its directory does not exist" % path)
        text, current = "", {}
        style = {"indent": None, "item_sep": ",", "key_sep": ":", "newline": False}
    else:
        style = detect_style(text)

    wanted = merge(current, params)
    check_agent_types(wanted, path)
    command = next((wanted[k] for k in variants(wanted, "elevation_command")), None)
    if command and params["validate_executable"]:
        check_executable(command)

    changed = raw is None or not same_json(current, wanted)
    new_text = render(wanted, style) if changed else text
    secrets = any(k.lower() in SECRET_KEYS for k in list(current) + list(wanted))
    result["config"] = mask_secrets(wanted)
    if module._diff:
        result["diff"] = {
            "before_header": path if raw is not None else "%s (absent)" % path,
            "after_header": path,
            "before": render(mask_secrets(current), style) if secrets and raw is not None else text,
            "after": render(mask_secrets(wanted), style) if secrets else new_text,
        }
    if changed and not module.check_mode:
        write_config(params, path, raw, st, new_text, result)
    result["changed"] = changed
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/qbee/qbee-agent.json"),
            elevation_command=dict(type="list", elements="raw"),
            settings=dict(type="dict", default={}),
            http_proxy_pass=dict(type="str", no_log=True),
            remove=dict(type="list", elements="str", default=[]),
            force=dict(type="bool", default=False),
            allow_unknown_keys=dict(type="bool", default=False),
            validate_executable=dict(type="bool", default=True),
            create=dict(type="bool", default=False),
            backup=dict(type="bool", default=False),
            journal=dict(type="path", default=""),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except ConfigError as exc:
        module.fail_json(msg=to_native(exc), path=module.params["path"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
