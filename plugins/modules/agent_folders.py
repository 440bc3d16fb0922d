#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_folders
short_description: Hand the agent's folders to a user without following a link the agent user planted
version_added: 1.1.0
description:
  - Gives each folder in O(paths), and every folder, regular file and FIFO under it, the owner O(owner) and the group
    O(group), in one round trip. The roles use it to hand C(/etc/qbee) and C(/var/lib/qbee) to the agent user, and
    back to root.
  - The agent user owns these folders, so it can put anything in them. The walk works on file descriptors and never
    follows a symbolic link, never descends into a linked folder, and never changes the owner of a regular file that
    has other hard links. Links, hard-linked files, sockets and devices are left as they are and reported by path
    (a warning names them). The decision for each entry is made on the descriptor that is changed, so nothing can
    be swapped in between.
  - Each folder in O(paths) must be reached from C(/) through folders and links only root can change.
  - With O(journal), records the owners it replaced before it changes them, so a failed run can give them back
    (M(qbee.unprivileged.journal)).
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
attributes:
  check_mode:
    support: full
    description: Reports what would change and changes nothing.
  diff_mode:
    support: full
    description: The owners found under each folder before, and the owner after.
  platform:
    support: full
    platforms: posix
    description: Runs on the device that has qbee-agent.
options:
  paths:
    description: The folders to hand over. A missing folder is skipped.
    type: list
    elements: path
    required: true
  owner:
    description: The user that gets them (a name). In check mode it may not exist yet.
    type: str
    required: true
  group:
    description: The group that gets them (a name). In check mode it may not exist yet.
    type: str
    required: true
  journal:
    description: The undo journal folder; empty records nothing.
    type: path
    default: ""
  stop_service:
    description:
      - A unit to stop before anything is handed over (the agent), so that no process of the old owner writes
        into the folders while they change hands. Stopped only when something is to change or a process of
        O(end_processes_of) runs.
    type: str
  end_processes_of:
    description:
      - A user whose every process (and systemd user manager) is ended before anything is handed over, for example
        the agent user when its folders go back to root. A process of it that runs counts as a change.
    type: str
"""

EXAMPLES = r"""
- name: Give the agent its folders
  qbee.unprivileged.agent_folders:
    paths: [/etc/qbee, /var/lib/qbee]
    owner: qbee-agent
    group: qbee-agent

- name: Give them back to root
  qbee.unprivileged.agent_folders:
    paths: [/etc/qbee, /var/lib/qbee]
    owner: root
    group: root
"""

RETURN = r"""
ended:
  description: The processes of O(end_processes_of) that were ended (or would be, in check mode).
  returned: always
  type: list
  elements: int
folders:
  description:
    - For each folder in O(paths), C(exists), C(changed) (how many entries got the new owner, or would in check
      mode), C(links), C(hardlinks) and C(special) (the entries left alone, relative to the folder).
  returned: always
  type: dict
  sample: {"/var/lib/qbee": {"exists": true, "changed": 12, "links": ["x"], "hardlinks": [], "special": []}}
"""

import grp
import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.qbee.unprivileged.plugins.module_utils import fs
from ansible_collections.qbee.unprivileged.plugins.module_utils.agent import owner_name
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal
from ansible_collections.qbee.unprivileged.plugins.module_utils.processes import end_user_processes, user_pids


def lookup_ids(module):
    """(uid, gid), or None in check mode when the user or group is still to be created."""
    try:
        return pwd.getpwnam(module.params["owner"]).pw_uid, grp.getgrnam(module.params["group"]).gr_gid
    except KeyError:
        if module.check_mode:
            return None
        module.fail_json(msg="cannot hand folders to %s:%s: no such user or group on this host; nothing was changed"
                         % (module.params["owner"], module.params["group"]))


def plan(module, ids):
    """One dry-run walk per folder: what a hand-over would change (to nobody's id while the user is still to be made)."""
    uid, gid = ids if ids is not None else (-1, -1)
    return dict((path, fs.hand_over(path, uid, gid, check_mode=True)) for path in module.params["paths"]
                if os.path.lexists(path))


def hand_over_one(module, path, ids, planned, journal):
    """The tree as handed over (or as planned, in check mode or with nothing to change)."""
    if ids is None or module.check_mode or not planned.changed:
        return planned
    # The journal holds the old owners before the first one changes.
    if journal:
        journal.record({"kind": "owners", "top": path, "changes": planned.changed})
    return fs.hand_over(path, ids[0], ids[1])


def old_owner_uid(module):
    try:
        return pwd.getpwnam(module.params["end_processes_of"]).pw_uid if module.params["end_processes_of"] else None
    except KeyError:
        return None


def clear_the_way(module, plans, result):
    """Stop the service and end the old owner's processes: nobody but root is left to touch the folders.

    True when something was stopped or ended, so that the plan is made again on the still folders."""
    uid = old_owner_uid(module)
    pids = user_pids(uid) if uid is not None else []
    if not pids and not any(tree.changed for tree in plans.values()):
        return False
    if pids:
        result["changed"] = True
    if module.check_mode:
        result["ended"] = pids
        return False
    if module.params["stop_service"]:
        module.run_command(["systemctl", "stop", module.params["stop_service"]])
    if uid is not None:
        result["ended"], left = end_user_processes(uid, module.run_command)
        if left:
            module.fail_json(msg="processes %s of %s would not end; nothing was handed over"
                             % (left, module.params["end_processes_of"]), **result)
    return True


def run(module):
    ids = lookup_ids(module)
    journal = Journal(module.params["journal"]) if module.params["journal"] else None
    wanted = "%s:%s" % (module.params["owner"], module.params["group"])
    result = {"changed": False, "folders": {}, "ended": []}
    plans = plan(module, ids)
    if (module.params["stop_service"] or module.params["end_processes_of"]) and clear_the_way(module, plans, result):
        plans = plan(module, ids)  # what the old owner's processes wrote meanwhile is journaled too
    diffs = []
    for path in module.params["paths"]:
        if path not in plans:
            result["folders"][path] = {"exists": False, "changed": 0, "links": [], "hardlinks": [], "special": []}
            continue
        tree = hand_over_one(module, path, ids, plans[path], journal)
        result["folders"][path] = dict(tree.report(), exists=True, changed=len(tree.changed))
        if tree.changed:
            result["changed"] = True
            before = sorted(owner_name(u, g) for u, g in tree.owners)
            diffs.append({"before_header": path + " (owners)", "after_header": path + " (owners)",
                          "before": "\n".join(before) + "\n", "after": wanted + "\n"})
        left = tree.links + tree.hardlinks + tree.special
        if left:
            module.warn("left alone under %s (never followed or re-owned): %s" % (path, ", ".join(sorted(left)[:20])))
    if diffs:
        result["diff"] = diffs
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", required=True),
            owner=dict(type="str", required=True),
            group=dict(type="str", required=True),
            journal=dict(type="path", default=""),
            stop_service=dict(type="str"),
            end_processes_of=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (fs.UnsafePath, OSError) as exc:
        module.fail_json(msg="cannot hand over the agent's folders: %s" % to_native(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
