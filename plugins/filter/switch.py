# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: switch
short_description: A feature switch (true, false or auto) as the state a role works with
version_added: 2.0.0
description:
  - Turns the value of a feature switch such as C(qbee_agent_docker_enabled) into C(present), C(absent) or
    C(auto), the three states the roles work with, and fails naming the variable when the value is none of
    true, false and auto.
  - True and false are what Ansible takes for booleans (C(true), C(yes), C(on), C(y), C(t), C(1) and their
    opposites, any case), and C(present) and C(absent); C(auto) only where O(auto) allows it.
  - With O(old), the role's state variable of 1.x (C(qbee_agent_docker_state), present, absent or auto) is used
    instead, with a deprecation warning.
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
options:
  _input:
    description: The switch's value.
    type: raw
    required: true
  name:
    description: The switch's variable, for the error message.
    type: str
    required: true
  auto:
    description: Whether C(auto) is a value this switch takes.
    type: bool
    default: true
  old:
    description: The value of the deprecated state variable, or null when it is not set.
    type: raw
  old_name:
    description: The deprecated state variable's name, for the warning.
    type: str
"""

EXAMPLES = r"""
- name: The docker role's state
  ansible.builtin.debug:
    msg: "{{ qbee_agent_docker_enabled | qbee.unprivileged.switch('qbee_agent_docker_enabled') }}"
"""

RETURN = r"""
_value:
  description: C(present), C(absent) or C(auto).
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE
from ansible.utils.display import Display

TRUE = frozenset(str(v).lower() for v in BOOLEANS_TRUE) | {"present"}
FALSE = frozenset(str(v).lower() for v in BOOLEANS_FALSE) | {"absent"}


def switch(value, name, auto=True, old=None, old_name=None):
    """present, absent or auto for value, a switch's true, false or auto (old, when set, instead)."""
    if old is not None:
        Display().deprecated("%s is deprecated: set %s (true, false%s) instead" % (
            old_name or "the role's state variable", name, " or auto" if auto else ""),
            version="3.0.0", collection_name="qbee.unprivileged")
        value, name = old, old_name or name
    text = str(value).strip().lower() if isinstance(value, (str, bool, int)) else None
    if text in TRUE:
        return "present"
    if text in FALSE:
        return "absent"
    if auto and text == "auto":
        return "auto"
    raise AnsibleFilterError("%s must be true, false%s, got %r" % (name, " or auto" if auto else "", value))


class FilterModule:
    def filters(self):
        return {"switch": switch}
