#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: managed_file
short_description: Put a small text file in place, or remove it, in one round trip
version_added: 1.0.0
description:
  - Makes a file hold exactly O(content) with the given owner, group and mode, or makes it absent. The roles write
    their systemd drop-ins, sudoers and tmpfiles files with it, rendered on the controller with
    C(lookup('ansible.builtin.template', ...)).
  - It does in one module call what M(ansible.builtin.template) does in two or three (a C(stat), then a transfer and
    C(copy), or a C(file) call when only attributes differ); on a fleet that halves the round trips these files
    cost, on every run.
  - A new content is written to a temporary file in the destination's directory, checked with O(validate) if
    given, and moved over the old file in one rename, so the file is never seen half written or unvalidated.
  - Nothing is followed. The folder is reached from C(/) through folders and links only root can change; a
    symbolic link, FIFO, device or folder at O(path), or a file with other hard links, is refused with a message
    that names it. The owner and mode are set on the new file's descriptor before the rename.
  - With O(journal), the file as it was (or its absence) is recorded before it changes, so that a failed run can
    put it back (M(qbee.unprivileged.journal)).
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
attributes:
  check_mode:
    support: full
    description:
      - Reports what it would change and writes nothing; a missing parent folder counts as a change.
      - O(validate) runs in check mode too, on a temporary copy, so C(--check) shows content that would be refused.
  diff_mode:
    support: full
    description: Shows the old and new content, and owner, group and mode changes.
  platform:
    support: full
    platforms: posix
    description: Runs on the device that holds the file.
options:
  path:
    description: The file.
    type: path
    required: true
  state:
    description: V(present) to write O(content), V(absent) to remove the file.
    type: str
    choices: [present, absent]
    default: present
  content:
    description: What the file must hold, exactly. Required with O(state=present).
    type: str
  owner:
    description: The file's owner (name or uid). Unchanged when not given.
    type: str
  group:
    description: The file's group (name or gid). Unchanged when not given.
    type: str
  mode:
    description: The file's mode, as an octal string such as V("0644"). Unchanged when not given.
    type: raw
  journal:
    description: The undo journal folder; empty records nothing.
    type: path
    default: ""
  validate:
    description:
      - A command that checks the new file before it replaces the old one, with C(%s) for its path, for example
        V(/usr/sbin/visudo -cf %s). If it fails, nothing is changed and the task fails with its output.
    type: str
notes:
  - The parent folder must exist (outside check mode).
  - Meant for small text files; O(content) travels in the module's arguments.
seealso:
  - module: ansible.builtin.template
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Run the agent as its user (drop-in)
  qbee.unprivileged.managed_file:
    path: /etc/systemd/system/qbee-agent.service.d/10-unprivileged.conf
    content: "{{ lookup('ansible.builtin.template', '10-unprivileged.conf.j2') }}"
    owner: root
    group: root
    mode: "0644"

- name: Allow the agent its commands through sudo, checked by visudo first
  qbee.unprivileged.managed_file:
    path: /etc/sudoers.d/qbee-agent
    content: "{{ lookup('ansible.builtin.template', 'qbee-agent.j2') }}"
    mode: "0440"
    validate: /usr/sbin/visudo -cf %s

- name: Remove a drop-in
  qbee.unprivileged.managed_file:
    path: /etc/systemd/system/qbee-agent.service.d/30-docker.conf
    state: absent
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
  sample: /etc/systemd/system/qbee-agent.service.d/10-unprivileged.conf
state:
  description: V(present) or V(absent), as asked.
  returned: always
  type: str
  sample: present
content_changed:
  description: Whether the content was (or in check mode would be) written or the file removed.
  returned: always
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.qbee.unprivileged.plugins.module_utils import declared
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal


def run(module):
    params = module.params
    entry = dict((key, params[key]) for key in declared.ENTRY_OPTIONS)
    entry["state"] = "file" if params["state"] == "present" else "absent"
    (plan,) = declared.plan([entry], module.check_mode, module.run_command)
    if not module.check_mode:
        declared.apply([plan], Journal(params["journal"]) if params["journal"] else None)
    result = dict(changed=plan.action is not None, path=plan.path, state=params["state"],
                  content_changed=bool(set(plan.differs) & {"absent", "present", "content"}))
    if plan.diff is not None:
        # One diff for a removal, a list of one where the file is written (as 1.x returned them).
        result["diff"] = plan.diff if plan.state == "absent" else [plan.diff]
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            declared.ENTRY_OPTIONS,
            state=dict(type="str", choices=["present", "absent"], default="present"),
            journal=dict(type="path", default=""),
        ),
        required_if=[("state", "present", ["content"])],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (declared.Refused, declared.Failed) as exc:
        module.fail_json(**declared.failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
