#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: desired_state
short_description: Make a role's declared files and folders so on the device, in one round trip
version_added: 2.0.0
description:
  - Takes what a role wants on the device, its files (with their content, owner, group and mode), the files
    that must be gone and the folders they live in, compares each with the device and changes only what
    differs, reporting per entry what differed and a diff of each change.
  - Validate everything, then change. Every entry is read and compared, every owner and group resolved and
    every O(files[].validate) command run on a copy of the new content before the first change; any refusal,
    and any non-empty O(problems), fails the task with nothing changed.
  - Then the entries are changed in the order given (a folder before the files in it), each recorded in the
    undo journal (O(journal)) before it changes, so that a later failure of the run puts it back.
  - Nothing is followed. Each path's folder is reached from C(/) through folders and links only root can
    change; a symbolic link, FIFO or device at a file's path, a file with other hard links, or anything but a
    folder where a folder is declared, is refused with a message that names it. A new file is written beside
    the old one with its owner and mode set on its descriptor and renamed over it.
  - In check mode it is the drift check of the verify playbook, which runs the roles' declarations through it
    and reports each entry that differs.
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
attributes:
  check_mode:
    support: full
    description:
      - Reports what differs and writes nothing. A folder still to be made, or an owner still to be created,
        counts as a difference, not a failure.
      - O(files[].validate) runs in check mode too, on a copy, so C(--check) shows content that would be refused.
  diff_mode:
    support: full
    description: One diff per changed entry, the old and new content, or the owner, group and mode.
  platform:
    support: full
    platforms: posix
    description: Runs on the device.
options:
  files:
    description: The entries, changed in this order.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: An absolute path; each path may be declared once.
        type: path
        required: true
      state:
        description:
          - V(file) for a regular file holding O(files[].content) exactly; V(absent) for no file at the path (a
            folder there is refused); V(directory) for a folder.
        type: str
        choices: [file, absent, directory]
        default: file
      content:
        description: What the file must hold. Required with O(files[].state=file).
        type: str
      owner:
        description: The owner (name or uid). Unchanged when not given (root for a new entry).
        type: str
      group:
        description: The group (name or gid). Unchanged when not given (root for a new entry).
        type: str
      mode:
        description:
          - The mode, as an octal string such as V("0644"). Unchanged when not given (V("0644") for a new file,
            V("0755") for a new folder).
        type: raw
      validate:
        description:
          - A command that checks the new content, with C(%s) for the path of a copy, for example
            V(/usr/sbin/visudo -cf %s). Run before anything is changed, only when the content differs.
        type: str
  config:
    description:
      - Keys of the agent's configuration file the declaration sets, merged into it as
        M(qbee.unprivileged.agent_config) merges them (compared as parsed JSON, key names without case, every
        other key kept, the file's layout kept, nothing followed), checked with the files before the first
        change and written after them (the sudoers rules before the elevation command that uses them).
    type: dict
    suboptions:
      path:
        description: The agent's configuration file.
        type: path
        default: /etc/qbee/qbee-agent.json
      elevation_command:
        description: As M(qbee.unprivileged.agent_config)'s O(qbee.unprivileged.agent_config#module:elevation_command).
        type: list
        elements: raw
      settings:
        description: As M(qbee.unprivileged.agent_config)'s O(qbee.unprivileged.agent_config#module:settings).
        type: dict
        default: {}
      validate_executable:
        description: Check that the elevation command's program exists and is executable, before any change.
        type: bool
        default: true
  problems:
    description:
      - What stops the declaration, as the role's checks found it; empty entries are ignored. Any other entry
        fails the task before anything is read or changed, with every problem in the message.
    type: list
    elements: str
    default: []
  journal:
    description: The undo journal folder; empty records nothing.
    type: path
    default: ""
notes:
  - Meant for small text files (at most 1 MiB each); the content travels in the module's arguments.
  - A folder this run created is removed by an undo only while it is empty.
seealso:
  - module: qbee.unprivileged.managed_file
  - module: qbee.unprivileged.journal
"""

EXAMPLES = r"""
- name: Let the agent use Docker (drop-in)
  qbee.unprivileged.desired_state:
    files:
      - path: /etc/systemd/system/qbee-agent.service.d
        state: directory
        owner: root
        group: root
        mode: "0755"
      - path: /etc/systemd/system/qbee-agent.service.d/30-docker.conf
        content: "[Service]\nSupplementaryGroups=docker\n"
        owner: root
        group: root
        mode: "0644"
    journal: /var/lib/qbee-unprivileged/journal

- name: Report the drift from a declaration, changing nothing
  qbee.unprivileged.desired_state:
    files:
      - path: /etc/systemd/system/qbee-agent.service.d/30-docker.conf
        state: absent
  check_mode: true
  register: drift
"""

RETURN = r"""
files:
  description: Each entry, in order, with whether it was (in check mode, would be) changed and what differed.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The entry's path.
      type: str
    state:
      description: The declared state.
      type: str
    changed:
      description: Whether the entry was (or would be) changed.
      type: bool
    differs:
      description: >-
        What differed: V(absent) (missing), V(present) (there, declared absent), V(content), V(owner),
        V(group), V(mode).
      type: list
      elements: str
  sample: [{"path": "/etc/systemd/system/qbee-agent.service.d/30-docker.conf", "state": "file", "changed": true,
            "differs": ["content"]}]
config:
  description: The configuration file, whether it was (or would be) changed, and the keys that differed.
  returned: when O(config) is given
  type: dict
  contains:
    path:
      description: The file.
      type: str
    changed:
      description: Whether it was (or would be) changed.
      type: bool
    differs:
      description: The declared keys whose value differed.
      type: list
      elements: str
  sample: {"path": "/etc/qbee/qbee-agent.json", "changed": true, "differs": ["elevation_command"]}
drift:
  description: The paths of the entries that differed, in order, and then the configuration file's.
  returned: success
  type: list
  elements: str
  sample: ["/etc/systemd/system/qbee-agent.service.d/30-docker.conf"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.qbee.unprivileged.plugins.module_utils import agent_config, declared
from ansible_collections.qbee.unprivileged.plugins.module_utils.journal import Journal

FILE_SPEC = dict(declared.ENTRY_OPTIONS, state=dict(type="str", choices=list(declared.STATES), default="file"))
CONFIG_SPEC = dict(
    path=dict(type="path", default="/etc/qbee/qbee-agent.json"),
    elevation_command=dict(type="list", elements="raw"),
    settings=dict(type="dict", default={}),
    validate_executable=dict(type="bool", default=True),
)


def plan_config(module):
    """The configuration's plan, checked before any change; None when the declaration sets none of it."""
    config = module.params["config"]
    if not config:
        return None
    params = dict(config, journal=module.params["journal"])
    try:
        return agent_config.plan(params)
    except agent_config.ConfigError as exc:
        raise declared.Refused(str(exc))


def run(module):
    problems = [p for p in module.params["problems"] if p and p.strip()]
    if problems:
        module.fail_json(msg="Nothing was changed: %s" % "; ".join(p.strip() for p in problems), problems=problems)
    plans = declared.plan(module.params["files"], module.check_mode, module.run_command)
    config = plan_config(module)
    result = dict()
    if module.check_mode:
        results = [p.result() for p in plans]
    else:
        journal = Journal(module.params["journal"]) if module.params["journal"] else None
        results = declared.apply(plans, journal)
        if config is not None:
            try:
                agent_config.write(config, result)
            except agent_config.ConfigError as exc:
                raise declared.Failed(str(exc), [r["path"] for r in results if r["changed"]])
    drift = [r["path"] for r in results if r["changed"]]
    diffs = [p.diff for p in plans if p.action is not None and p.diff is not None]
    if config is not None:
        result["config"] = dict(path=config.path, changed=config.changed, differs=config.differs)
        if config.changed:
            drift.append(config.path)
            diffs.append(config.diff())
    result.update(changed=bool(drift), files=results, drift=drift)
    if diffs and module._diff:
        result["diff"] = diffs
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="dict", options=FILE_SPEC, default=[]),
            config=dict(type="dict", options=CONFIG_SPEC),
            problems=dict(type="list", elements="str", default=[]),
            journal=dict(type="path", default=""),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except (declared.Refused, declared.Failed) as exc:
        module.fail_json(**declared.failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
