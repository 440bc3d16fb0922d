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
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
attributes:
  check_mode:
    support: full
    description: Reports what it would change and writes nothing; a missing parent folder counts as a change.
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

import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible_collections.qbee.unprivileged.plugins.module_utils.agent import WriteError, write_beside


def read_current(module, path):
    """The file's bytes, or None when it does not exist."""
    if os.path.isdir(path):
        module.fail_json(msg="%s is a directory, not a file; nothing was changed" % path)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        module.fail_json(msg="cannot read %s: %s" % (path, to_native(exc.strerror or exc)))


def octal_mode(module):
    """The mode asked for as an int, or None. Only octal modes: the file is created with it."""
    mode = module.params["mode"]
    if mode is None or isinstance(mode, int):
        return mode
    if not re.fullmatch(r"0?[0-7]{3,4}", str(mode)):
        module.fail_json(msg="mode must be an octal string such as \"0644\", got %r" % (mode,))
    return int(str(mode), 8)


def write_new(module, path, data, mode):
    """Write data next to path, validate it, and rename it over path. The new file has the asked mode (else
    the old file's, else 0644) and the old file's owner from the start, so it is never looser than either."""
    old = os.stat(path) if os.path.exists(path) else None
    try:
        tmp = write_beside(path, data, mode if mode is not None else (old.st_mode & 0o7777 if old else 0o644), old)
    except WriteError as exc:
        module.fail_json(msg=str(exc))
    try:
        if module.params["validate"]:
            if "%s" not in module.params["validate"]:
                module.fail_json(msg="validate must contain %%s for the file's path: %s" % module.params["validate"])
            try:
                command = module.params["validate"] % tmp
            except (TypeError, ValueError):
                module.fail_json(msg="validate may hold %%s once and no other %%; write %%%% for a literal %%: %s"
                                 % module.params["validate"])
            rc, out, err = module.run_command(command)
            if rc != 0:
                module.fail_json(msg="the new content of %s failed validation (%s), so nothing was changed: %s"
                                 % (path, module.params["validate"] % "<new file>",
                                    (to_text(err) or to_text(out)).strip().replace(tmp, "<new file>")),
                                 rc=rc)
        os.rename(tmp, path)
    except OSError as exc:
        module.fail_json(msg="cannot write a new %s: %s; the original is unchanged" % (path, to_native(exc.strerror or exc)))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            content=dict(type="str"),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw"),
            validate=dict(type="str"),
        ),
        required_if=[("state", "present", ["content"])],
        supports_check_mode=True,
    )
    path = module.params["path"]
    state = module.params["state"]
    result = dict(changed=False, path=path, state=state, content_changed=False)
    current = read_current(module, path)

    if state == "absent":
        if current is not None:
            result.update(changed=True, content_changed=True,
                          diff=dict(before=to_text(current, errors="surrogate_or_replace"), after="",
                                    before_header=path, after_header=path + " (absent)"))
            if not module.check_mode:
                try:
                    os.unlink(path)
                except OSError as exc:
                    module.fail_json(msg="cannot remove %s: %s" % (path, to_native(exc.strerror or exc)))
        module.exit_json(**result)

    mode = octal_mode(module)
    data = to_bytes(module.params["content"], errors="surrogate_or_strict")
    diffs = []
    if current != data:
        result.update(changed=True, content_changed=True)
        diffs.append(dict(before=to_text(current or b"", errors="surrogate_or_replace"), after=to_text(data),
                          before_header=path if current is not None else path + " (absent)", after_header=path))
        if not os.path.isdir(os.path.dirname(path) or "."):
            if not module.check_mode:
                module.fail_json(msg="cannot write %s: its folder %s does not exist" % (path, os.path.dirname(path)))
        elif not module.check_mode:
            write_new(module, path, data, mode)

    if not (module.check_mode and current is None):
        # (A file that would be created gets exactly the attributes asked for: nothing to compare.)
        file_args = module.load_file_common_arguments(dict(
            path=path, owner=module.params["owner"], group=module.params["group"],
            mode=mode if mode is None else "%04o" % mode))
        attributes = {}
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"], diff=attributes)
        if attributes.get("before"):
            diffs.append(dict(attributes, before_header=path + " (attributes)", after_header=path + " (attributes)"))
    if diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
