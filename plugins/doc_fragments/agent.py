# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options of every module that looks at the agent (agent_info, agent_wait)."""

    DOCUMENTATION = r"""
options:
  agent:
    description:
      - Where the agent lives on the device. The roles pass the same dictionary to every module
        (C(__qbee_agent_target), made of C(qbee_agent_service), C(qbee_agent_binary),
        C(qbee_agent_config_file) and C(qbee_agent_dropin_dir)).
    type: dict
    default: {}
    suboptions:
      service:
        description: The agent's systemd unit.
        type: str
        default: qbee-agent.service
      binary:
        description: The agent's executable.
        type: path
        default: /usr/bin/qbee-agent
      config_path:
        description: The agent's configuration file.
        type: path
        default: /etc/qbee/qbee-agent.json
      dropin_dir:
        description: The folder of the unit's drop-in files.
        type: path
        default: /etc/systemd/system/qbee-agent.service.d
"""

    SUDO = r"""
options:
  sudo:
    description: Where sudo may be (the original sudo or sudo-rs); the first executable one is used with O(sudo_user).
    type: list
    elements: path
    default: [/usr/bin/sudo, /bin/sudo, /usr/local/bin/sudo, /usr/bin/sudo-rs]
  sudo_user:
    description:
      - A user whose effective sudo grants to report in RV(sudo), as C(sudo -l -U) lists them, that is every rule of
        every file that applies to the user, its groups and this host.
      - When the user does not exist yet, root's grants are listed instead, only to find out whether sudo can
        read its rules at all, and none are reported.
    type: str
  sudo_rules:
    description:
      - The sudoers text the caller writes for O(sudo_user). Its C(USER ALL=(RUNAS) ...) rules are the grants
        expected; the others are reported as C(foreign), and those sudo does not list as C(missing).
    type: str
    default: ""
  sudo_own_file:
    description:
      - The sudoers file the caller is about to replace; the grants of its rules count as expected too (so
        that a change of rules is not reported as foreign before it is made).
    type: path
  sudo_foreign:
    description: With C(warn), each foreign grant is also a warning.
    type: str
    choices: [report, warn]
    default: report
"""
