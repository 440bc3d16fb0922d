# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: drift
short_description: The declared entries that differ from the device as the preflight read it
version_added: 2.0.0
description:
  - Compares a role's declaration (the O(_input) of M(qbee.unprivileged.desired_state)'s O(files) form) with
    the C(files) the preflight's M(qbee.unprivileged.agent_info) read, and returns the paths of the entries that
    differ, in order.
  - An entry the preflight did not read, or whose content it could not read, counts as different, so the only
    error it can make is to run M(qbee.unprivileged.desired_state), which compares again on the device, when
    nothing differs.
  - The roles skip their one change task when it returns nothing, so a rerun with nothing to change costs no
    round trip.
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
options:
  _input:
    description: The entries, each with C(path) and optional C(state), C(content), C(owner), C(group), C(mode).
    type: list
    elements: dict
    required: true
  files:
    description: The preflight's C(files) result, by path.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Let the agent use Docker, where the drop-in is not as declared
  qbee.unprivileged.desired_state:
    files: "{{ __qbee_agent_docker_declared }}"
  when: __qbee_agent_docker_declared | qbee.unprivileged.drift(__qbee_agent_info.files) | length > 0
"""

RETURN = r"""
_value:
  description: The paths of the entries that differ.
  type: list
  elements: str
"""

import re

from ansible.errors import AnsibleFilterError

KINDS = {"file": "file", "directory": "directory"}


def _mode(value):
    """A mode as the module takes it: an int as it is, a string as octal; None when it is neither."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip() if value is not None else ""
    return int(text, 8) if re.fullmatch(r"0?[0-7]{3,4}", text) else None


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


def drift(entries, files):
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get("path") for e in entries):
        raise AnsibleFilterError("drift takes a list of entries, each a dict with a path, got %r" % (entries,))
    if not isinstance(files, dict):
        raise AnsibleFilterError("drift takes the preflight's files, a dict by path, got %r" % (files,))
    return [e["path"] for e in entries if differs(e, files.get(e["path"]))]


class FilterModule:
    def filters(self):
        return {"drift": drift}
