#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: journal
short_description: Record, undo or commit what a run changed on a device
version_added: 1.1.0
description:
  - The collection's modules (M(qbee.unprivileged.managed_file), M(qbee.unprivileged.agent_config),
    M(qbee.unprivileged.agent_folders)) record the state of each file and folder in an undo journal on the device
    before they change it. This module adds entries for actions they do not do themselves (a user created, a
    command whose effect another command takes back), undoes the journal, newest entry first, or commits it.
  - The roles undo when a run fails after it changed something, so that the next start of the agent (a reboot,
    or a crash with C(Restart=on-failure)) finds the device as the run found it. They commit when the agent came
    up as configured.
  - The journal lives on disk in a folder only root can read, so it survives a run whose controller vanished; the
    next run that fails undoes it too, and the next run that succeeds commits it.
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
attributes:
  check_mode:
    support: full
    description: Records, undoes and commits nothing; says what it would do.
  diff_mode:
    support: none
    description: The undone files' own modules showed their diffs when they changed them.
  platform:
    support: full
    platforms: posix
    description: Runs on the device that has qbee-agent.
options:
  path:
    description: The journal folder (created root-only 0700 when an entry is recorded).
    type: path
    default: /var/lib/qbee-unprivileged/journal
  state:
    description:
      - V(recorded) adds O(entries); V(undone) takes back every entry, newest first, and empties the journal;
        V(committed) empties it, keeping every change.
    type: str
    choices: [recorded, undone, committed]
    required: true
  service:
    description:
      - With V(undone), a unit to stop before anything is taken back (a user this run created cannot be deleted
        while the agent runs as it) and to start again afterwards, after C(systemctl daemon-reload), as the
        restored files say. Stopped and started only when the journal holds something.
    type: str
  start_service:
    description: With O(service), start it again after the undo (false when it was not running before the run).
    type: bool
    default: true
  entries:
    description:
      - With V(recorded), the entries to add, each a dict. C(kind=user) with C(user), C(group), C(group_created),
        C(home) and C(home_created) records a user this run creates; undone, the user's processes are ended and
        it is deleted. C(kind=command) with C(argv) (a list) and C(why) (what it takes back) records a command
        that undoes an action; C(may_fail=true) when it is fine for it to fail.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Record that this run creates the agent user
  qbee.unprivileged.journal:
    state: recorded
    entries:
      - {kind: user, user: qbee-agent, group: qbee-agent, group_created: true, home: /home/qbee-agent, home_created: true}

- name: Put back everything this run changed
  qbee.unprivileged.journal:
    state: undone
  register: undone

- name: Keep what this run changed
  qbee.unprivileged.journal:
    state: committed
"""

RETURN = r"""
undone:
  description: With V(undone), what was put back, newest first (an entry that could not be says C(NOT put back)).
  returned: always
  type: list
  elements: str
  sample: ["removed /etc/systemd/system/qbee-agent.service.d/10-unprivileged.conf", "restored /etc/qbee/qbee-agent.json"]
entries:
  description: How many entries the journal held before the module ran.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.qbee.unprivileged.plugins.module_utils import fs
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal

KINDS = {"user": ("user", "group"), "command": ("argv", "why")}


def check_entries(module):
    for index, entry in enumerate(module.params["entries"]):
        needed = KINDS.get(entry.get("kind"))
        if needed is None:
            module.fail_json(msg="entries[%d].kind must be one of %s, got %r" % (index, ", ".join(KINDS), entry.get("kind")))
        missing = [key for key in needed if not entry.get(key)]
        if missing:
            module.fail_json(msg="entries[%d] (kind %s) lacks %s" % (index, entry["kind"], ", ".join(missing)))
        if entry["kind"] == "command" and not (isinstance(entry["argv"], list) and all(isinstance(a, str) for a in entry["argv"])):
            module.fail_json(msg="entries[%d].argv must be a list of strings" % index)


def undo(module, journal):
    service = module.params["service"]
    if service:
        module.run_command(["systemctl", "stop", service])
    said = journal.undo(module.run_command)
    if service:
        module.run_command(["systemctl", "daemon-reload"])
        if module.params["start_service"]:
            rc, out, err = module.run_command(["systemctl", "start", service])
            if rc != 0:
                said.append("NOT started %s again: %s" % (service, (err or out).strip()))
    return said


def run(module):
    journal = Journal(module.params["path"])
    state = module.params["state"]
    held = journal.entries()
    result = {"changed": False, "undone": [], "entries": len(held)}
    if state == "recorded":
        check_entries(module)
        result["changed"] = bool(module.params["entries"])
        if not module.check_mode:
            for entry in module.params["entries"]:
                journal.record(dict(entry))
    elif state == "undone":
        result["changed"] = bool(held)
        if module.check_mode:
            result["undone"] = ["would take back %s" % (e.get("path") or e.get("top") or e.get("why") or e["kind"]) for e in reversed(held)]
        elif held:  # an empty journal: nothing to take back, and the service is left as it is
            result["undone"] = undo(module, journal)
    else:
        result["changed"] = bool(held)
        if not module.check_mode:
            journal.commit()
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/var/lib/qbee-unprivileged/journal"),
            state=dict(type="str", choices=["recorded", "undone", "committed"], required=True),
            entries=dict(type="list", elements="dict", default=[]),
            service=dict(type="str"),
            start_service=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (fs.UnsafePath, OSError, ValueError) as exc:
        module.fail_json(msg="undo journal %s: %s" % (module.params["path"], to_native(exc)))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
