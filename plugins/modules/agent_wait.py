#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_wait
short_description: Wait until a restarted qbee-agent stays up as its unit says
version_added: 2.0.0
description:
  - Waits until the agent's unit is active and its main process has run for O(settle) seconds as
    the unit's C(User=) (root when unset) with every group of its C(SupplementaryGroups=), and fails
    with the reason and the unit's last journal lines when that does not happen within O(timeout).
  - The agent validates its configuration at start and exits at once when it cannot run, so a
    process that has stayed up for a few seconds has passed those checks.
  - With O(sudo_user), then also reports what sudo grants that user (the elevation probe after a
    restart), as M(qbee.unprivileged.agent_info) does.
  - Changes nothing; the roles run it after their one restart, and after an undo or a rollback.
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
extends_documentation_fragment:
  - qbee.unprivileged.agent
  - qbee.unprivileged.agent.sudo
attributes:
  check_mode:
    support: full
    description: The module only reads; it waits the same in check mode.
  diff_mode:
    support: none
    description: It changes nothing, so there is nothing to diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the device that has qbee-agent, booted with systemd.
options:
  settle:
    description: How many seconds the main process must have run before it counts as up.
    type: float
    default: 3
  timeout:
    description: How many seconds the wait may take in all.
    type: int
    default: 60
  journal_lines:
    description: How many of the unit's last journal lines to return when the agent does not stay up (0 for 20).
    type: int
    default: 20
"""

EXAMPLES = r"""
- name: Restart the agent
  ansible.builtin.systemd_service:
    name: qbee-agent.service
    state: restarted

- name: Wait until it stays up as its unit says
  qbee.unprivileged.agent_wait:
    agent:
      service: qbee-agent.service
    settle: 3
    timeout: 60
"""

RETURN = r"""
unit:
  description: The unit as systemd sees it at the end of the wait (as M(qbee.unprivileged.agent_info) returns it).
  returned: when systemd is booted
  type: dict
  sample: {"load_state": "loaded", "active_state": "active", "main_pid": 1234, "user": "qbee-agent"}
process:
  description: The unit's main process at the end of the wait, read from C(/proc); null when it does not run.
  returned: when systemd is booted
  type: dict
  sample: {"pid": 1234, "uid": 998, "gid": 998, "user": "qbee-agent", "groups": [998, 995],
           "group_names": ["docker", "qbee-agent"], "age_seconds": 3.5}
waited:
  description: How many seconds the wait took.
  returned: when systemd is booted
  type: float
journal:
  description: The unit's last O(journal_lines) journal lines when the agent did not stay up, else none.
  returned: always
  type: list
  elements: str
sudo:
  description: With O(sudo_user), what sudo grants that user, as M(qbee.unprivileged.agent_info) returns it.
  returned: when O(sudo_user) is given and the agent stayed up
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.qbee.unprivileged.plugins.module_utils import sudo, unit as units


def main():
    module = AnsibleModule(
        argument_spec=dict(
            agent=units.AGENT_SPEC,
            settle=dict(type="float", default=3),
            timeout=dict(type="int", default=60),
            journal_lines=dict(type="int", default=20),
            **sudo.SUDO_SPEC
        ),
        supports_check_mode=True,
    )
    params = module.params
    service = (params["agent"] or {}).get("service") or units.AGENT_DEFAULTS["service"]
    if params["settle"] < 0 or params["timeout"] < 0:
        module.fail_json(msg="settle and timeout are seconds, 0 or more: got %s and %s"
                         % (params["settle"], params["timeout"]))
    if not units.booted():
        module.fail_json(msg="systemd is not the running init system: cannot wait for %s" % service, journal=[])
    started = time.time()
    unit, process, problem = units.wait_settled(module, service, params["settle"], params["timeout"])
    result = dict(changed=False, unit=unit, process=process, waited=round(time.time() - started, 1),
                  journal=units.read_journal(module, service, (params["journal_lines"] or 20) if problem else 0))
    if problem:
        module.fail_json(msg="%s did not stay up as configured within %d s: %s" % (service, params["timeout"], problem),
                         **result)
    if params["sudo_user"]:
        result["sudo"] = sudo.report_grants(module)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
