#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_config
short_description: Merge settings such as C(elevation_command) into qbee-agent.json
version_added: 1.0.0
description:
  - Sets and removes keys in the qbee-agent configuration file, keeping every other key,
    its value and type, the key order and the file's layout (compact or indented).
  - Refuses to write a configuration that would stop the agent. The agent exits at start
    when a key has the wrong JSON type (for example C(port) as a number) or when
    the first element of C(elevation_command) is not an absolute path to an existing
    executable, whatever user it runs as.
  - Decides whether anything changed by comparing parsed JSON values, never text, so a file
    the agent rewrote in its own layout is not reported as changed. An unchanged file is not
    rewritten.
  - Writes atomically, through a temporary file in the destination's directory, with the old file's owner and
    mode set on its descriptor before the rename.
  - The agent user owns the configuration folder and may have replaced the file by anything. The file is opened
    without following a symbolic link and must be a regular file with one link and at most 64 KiB; anything else
    (a link, a FIFO, a device, a hard link, a file too large) is refused with a message that names it, and
    nothing is read from it, written through it or shown of it.
  - With O(journal), the file as it was is recorded before it changes, so a failed run can put it back
    (M(qbee.unprivileged.journal)).
  - Key names are matched case-insensitively, as the agent matches them.
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
attributes:
  check_mode:
    support: full
    description: Reports what would change, with the diff, and writes nothing.
  diff_mode:
    support: full
    description: Before and after text of the file; secrets are masked.
  platform:
    support: full
    platforms: posix
    description: Runs on the device that has qbee-agent.
options:
  path:
    description:
      - The agent's configuration file. A symbolic link, or anything but a regular file, is refused.
    type: path
    default: /etc/qbee/qbee-agent.json
  elevation_command:
    description:
      - The command the agent prefixes to commands that need privileges, as a list, for
        example V(["/usr/bin/sudo", "-n"]).
      - Omitted, the key is left as it is. An empty list removes the key (elevation off).
      - With O(validate_executable=true) the first element must be an absolute path to an
        existing executable file on the target (symbolic links followed).
    type: list
    elements: raw
  settings:
    description:
      - Other agent keys to set, each checked against the JSON type the agent expects.
      - Known keys are C(server), C(port), C(device_name), C(http_proxy_server),
        C(http_proxy_port), C(http_proxy_user), C(tpm_device), C(disable_remote_access)
        and C(ca_cert).
      - C(port) and C(http_proxy_port) accept an integer or a string of digits (1-65535) and
        are always written as strings. C(disable_remote_access) must be a boolean.
        C(tpm_device) and C(ca_cert) must be absolute paths.
      - The proxy password has its own option, O(http_proxy_pass), so that it can be kept out
        of logs without hiding every other value. C(elevation_command) has its own option too.
        C(bootstrap_key) is used only when the agent bootstraps and is not set by this module.
      - A key the agent does not know is an error unless O(allow_unknown_keys=true).
    type: dict
    default: {}
  http_proxy_pass:
    description:
      - The proxy password (C(http_proxy_pass) in the file). Never logged; masked in the diff
        and in the returned configuration.
    type: str
  remove:
    description:
      - Keys to delete. A key that is not in the file is ignored.
      - Removing C(tpm_device) needs O(force=true). Once the agent has sealed its key in the
        TPM, it cannot start without it.
    type: list
    elements: str
    default: []
  force:
    description:
      - Allow removing C(tpm_device).
    type: bool
    default: false
  allow_unknown_keys:
    description:
      - Allow keys in O(settings) that the agent does not know; they are written as given.
      - Unknown keys already in the file are always kept, whatever this says.
    type: bool
    default: false
  validate_executable:
    description:
      - Check on the target that the first element of the resulting C(elevation_command) is
        an absolute path to an existing executable file before anything is written.
    type: bool
    default: true
  create:
    description:
      - Create the file (root-owned, mode C(0600)) when it does not exist.
      - When false, a missing file is an error, since the agent is then not installed or not
        bootstrapped.
    type: bool
    default: false
  backup:
    description:
      - Keep a timestamped copy of the original file before it is changed, beside it, with its owner and mode.
    type: bool
    default: false
  journal:
    description: The undo journal folder; empty records nothing.
    type: path
    default: ""
notes:
  - The agent reads its configuration only at start. Restart it (one handler, once per run)
    after this module reports a change.
seealso:
  - name: Running as Unprivileged User
    description: The qbee guide whose privilege elevation step this module implements.
    link: https://qbee.io/docs/running-as-unprivileged-user.html
"""

EXAMPLES = r"""
- name: Let the agent elevate through sudo
  qbee.unprivileged.agent_config:
    elevation_command: ["/usr/bin/sudo", "-n"]
  notify: Restart qbee-agent

- name: Turn privilege elevation off
  qbee.unprivileged.agent_config:
    elevation_command: []
  notify: Restart qbee-agent

- name: Send the agent through a proxy
  qbee.unprivileged.agent_config:
    settings:
      http_proxy_server: proxy.example.com
      http_proxy_port: 3128
      http_proxy_user: qbee
    http_proxy_pass: "{{ vault_qbee_proxy_password }}"
  notify: Restart qbee-agent

- name: Point the agent at the kernel's TPM resource manager, keeping a backup
  qbee.unprivileged.agent_config:
    settings:
      tpm_device: /dev/tpmrm0
    backup: true
  notify: Restart qbee-agent

- name: Remove the proxy settings
  qbee.unprivileged.agent_config:
    remove: [http_proxy_server, http_proxy_port, http_proxy_user, http_proxy_pass]
  notify: Restart qbee-agent
"""

RETURN = r"""
config:
  description:
    - The configuration as it is (or, in check mode, would be) after the module ran.
    - The values of C(bootstrap_key) and C(http_proxy_pass) are masked.
  returned: success
  type: dict
  sample: {"server": "device.app.qbee.io", "port": "443", "elevation_command": ["/usr/bin/sudo", "-n"]}
path:
  description: The file that was read and written.
  returned: always
  type: str
  sample: /etc/qbee/qbee-agent.json
backup_file:
  description: The copy of the original file, when O(backup=true) and the file changed.
  returned: changed and backup made
  type: str
  sample: /etc/qbee/qbee-agent.json.12345.2026-11-27@13:45:01~
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.qbee.unprivileged.plugins.module_utils.agent_config import ConfigError, run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/qbee/qbee-agent.json"),
            elevation_command=dict(type="list", elements="raw"),
            settings=dict(type="dict", default={}),
            http_proxy_pass=dict(type="str", no_log=True),
            remove=dict(type="list", elements="str", default=[]),
            force=dict(type="bool", default=False),
            allow_unknown_keys=dict(type="bool", default=False),
            validate_executable=dict(type="bool", default=True),
            create=dict(type="bool", default=False),
            backup=dict(type="bool", default=False),
            journal=dict(type="path", default=""),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode, module._diff)
    except ConfigError as exc:
        module.fail_json(msg=to_native(exc), path=module.params["path"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
