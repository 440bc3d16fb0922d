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

import grp
import os
import pwd
import re
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible_collections.qbee.unprivileged.plugins.module_utils import fs
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal

MAX_BYTES = 1024 * 1024


def octal_mode(module):
    """The mode asked for as an int, or None. Only octal modes: the file is created with it."""
    mode = module.params["mode"]
    if mode is None or isinstance(mode, int):
        return mode
    if not re.fullmatch(r"0?[0-7]{3,4}", str(mode)):
        module.fail_json(msg="mode must be an octal string such as \"0644\", got %r" % (mode,))
    return int(str(mode), 8)


def resolve_id(module, name, kind):
    """uid or gid of a name or number; None when not asked for or (check mode) not there yet."""
    if name is None:
        return None
    if name.isdigit():
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid if kind == "owner" else grp.getgrnam(name).gr_gid
    except KeyError:
        if module.check_mode:
            return None
        module.fail_json(msg="%s %s does not exist on this host; nothing was changed" % (kind, name))


def validate(module, path, data, mode):
    """Run the validate command on a copy of data beside path; fail (nothing changed) when it refuses it."""
    command = module.params["validate"]
    if "%s" not in command:
        module.fail_json(msg="validate must contain %%s for the file's path: %s" % command)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return  # check mode with a folder still to be made: nothing to validate against yet
    tmp = os.path.join(folder, ".%s.%d.validate" % (os.path.basename(path), os.getpid()))
    try:
        fs.replace_file(tmp, data, mode if mode is not None else 0o600, 0, 0)
        try:
            argv = command % tmp
        except (TypeError, ValueError):
            module.fail_json(msg="validate may hold %%s once and no other %%; write %%%% for a literal %%: %s" % command)
        rc, out, err = module.run_command(argv)
    finally:
        try:
            fs.remove_file(tmp)
        except fs.UnsafePath:
            pass
    if rc != 0:
        module.fail_json(msg="the new content of %s failed validation (%s), so nothing was changed: %s"
                         % (path, command % "<new file>", (to_text(err) or to_text(out)).strip().replace(tmp, "<new file>")),
                         rc=rc)


def attributes_text(uid, gid, mode):
    return "owner: %s\ngroup: %s\nmode: %s\n" % (uid, gid, "%04o" % mode if mode is not None else "-")


def present(module, path, current, st, journal, result, diffs):
    mode = octal_mode(module)
    uid = resolve_id(module, module.params["owner"], "owner")
    gid = resolve_id(module, module.params["group"], "group")
    data = to_bytes(module.params["content"], errors="surrogate_or_strict")
    if module.params["validate"] and current != data:
        validate(module, path, data, mode)
    new_uid = uid if uid is not None else (st.st_uid if st else 0)
    new_gid = gid if gid is not None else (st.st_gid if st else 0)
    new_mode = mode if mode is not None else (stat.S_IMODE(st.st_mode) if st else 0o644)
    if current != data:
        result.update(changed=True, content_changed=True)
        diffs.append(dict(before=to_text(current or b"", errors="surrogate_or_replace"), after=to_text(data),
                          before_header=path if current is not None else path + " (absent)", after_header=path))
        if not os.path.isdir(os.path.dirname(path) or "/"):
            if not module.check_mode:
                module.fail_json(msg="cannot write %s: its folder %s does not exist" % (path, os.path.dirname(path)))
            return
        if not module.check_mode:
            if journal:
                journal.record_file(path, current, st)
            fs.replace_file(path, data, new_mode, new_uid, new_gid)
        return
    old = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
    new = (new_uid, new_gid, new_mode)
    if (uid is None and module.params["owner"]) or (gid is None and module.params["group"]) or old != new:
        result["changed"] = True
        diffs.append(dict(before=attributes_text(*old), after=attributes_text(*new),
                          before_header=path + " (attributes)", after_header=path + " (attributes)"))
        if not module.check_mode:
            if journal:
                journal.record_file(path, current, st)
            fs.set_attributes(path, *new)


def run(module):
    path = module.params["path"]
    state = module.params["state"]
    result = dict(changed=False, path=path, state=state, content_changed=False)
    journal = Journal(module.params["journal"]) if module.params["journal"] else None
    try:
        current, st = fs.read_regular(path, MAX_BYTES)
    except fs.UnsafePath as exc:
        module.fail_json(msg="%s; nothing was changed" % to_native(exc))
    diffs = []
    if state == "absent":
        if current is not None:
            result.update(changed=True, content_changed=True,
                          diff=dict(before=to_text(current, errors="surrogate_or_replace"), after="",
                                    before_header=path, after_header=path + " (absent)"))
            if not module.check_mode:
                if journal:
                    journal.record_file(path, current, st)
                fs.remove_file(path)
        return result
    present(module, path, current, st, journal, result, diffs)
    if diffs:
        result["diff"] = diffs
    return result


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
            journal=dict(type="path", default=""),
        ),
        required_if=[("state", "present", ["content"])],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (fs.UnsafePath, OSError) as exc:
        module.fail_json(msg=to_native(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
