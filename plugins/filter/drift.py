# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: drift
short_description: What of a declaration differs from the device as the preflight read it
version_added: 2.0.0
description:
  - Compares a role's declaration, its O(_input.files) (the O(files) of M(qbee.unprivileged.desired_state)) and
    O(_input.config) (its O(config)), with the preflight's read of the device (the result of
    M(qbee.unprivileged.agent_info)), and returns the paths of the entries that differ, in order, and then the
    configuration file's when a key it sets differs.
  - An entry the preflight did not read, or whose content it could not read, counts as different, and so does
    a configuration it could not parse, so the only error it can make is to run
    M(qbee.unprivileged.desired_state), which compares again on the device, when nothing differs.
  - Keys of the configuration are compared as M(qbee.unprivileged.agent_config) compares them, with the same
    code, as parsed JSON and key names without case.
  - The roles skip their one change task when it returns nothing, so a rerun with nothing to change costs no
    round trip.
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
options:
  _input:
    description: The declaration.
    type: dict
    required: true
    suboptions:
      files:
        description: The entries, each with C(path) and optional C(state), C(content), C(owner), C(group), C(mode).
        type: list
        elements: dict
      config:
        description: The configuration keys, with optional C(path), C(elevation_command) and C(settings).
        type: dict
  info:
    description: The preflight's read; its C(files) by path and its C(config.data).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Let the agent use Docker, where the drop-in is not as declared
  qbee.unprivileged.desired_state:
    files: "{{ __qbee_agent_docker_declared.files }}"
  when: __qbee_agent_docker_declared | qbee.unprivileged.drift(__qbee_agent_info) | length > 0
"""

RETURN = r"""
_value:
  description: The paths of the entries that differ, then the configuration file's.
  type: list
  elements: str
"""

import json

from ansible.errors import AnsibleFilterError
from ansible_collections.qbee.unprivileged.plugins.module_utils.agent_config import DEFAULTS, differing_keys
from ansible_collections.qbee.unprivileged.plugins.module_utils.declared import Refused, octal_mode

KINDS = {"file": "file", "directory": "directory"}


def _mode(value):
    """A mode as the module takes it (its own parser); None when it takes none (the module then says why)."""
    try:
        return octal_mode(value, "")
    except Refused:
        return None


def differs(entry, found):
    """Whether the read entry found (None: not read) differs from the declared entry."""
    state = entry.get("state") or "file"
    if found is None:
        return True
    if state == "absent":
        return bool(found.get("exists"))
    if not found.get("exists") or found.get("type") != KINDS.get(state):
        return True
    for key in ("owner", "group"):
        if entry.get(key) not in (None, "") and str(entry[key]) != found.get(key):
            return True
    if entry.get("mode") is not None and _mode(entry["mode"]) != _mode(found.get("mode")):
        return True
    return state == "file" and (found.get("content") is None or found["content"] != entry.get("content"))


def _plain(value):
    return json.loads(json.dumps(value))


def drift(declaration, info):
    if not isinstance(declaration, dict) or not isinstance(declaration.get("files", []), list) \
            or not all(isinstance(e, dict) and e.get("path") for e in declaration.get("files", [])):
        raise AnsibleFilterError("drift takes a declaration, a dict of files (each a dict with a path) and config, "
                                 "got %r" % (declaration,))
    if not isinstance(info, dict) or not isinstance(info.get("files", {}), dict):
        raise AnsibleFilterError("drift takes the preflight's read (agent_info's result), got %r" % (info,))
    files = info.get("files") or {}
    paths = [e["path"] for e in declaration.get("files", []) if differs(e, files.get(e["path"]))]
    config = declaration.get("config")
    if config:
        data = (info.get("config") or {}).get("data")
        # As plain JSON, as the module sees them: Ansible's tagged str and list types are not JSON's, and
        # the comparison tells a string from anything else by its exact type.
        if differing_keys(_plain(data), _plain(config)):
            paths.append(config.get("path") or DEFAULTS["path"])
    return paths


class FilterModule:
    def filters(self):
        return {"drift": drift}
