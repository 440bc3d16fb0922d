#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_info
short_description: Everything this collection needs to know about qbee-agent on a device, in one round trip
version_added: 1.0.0
description:
  - Reads, and never changes, the state of qbee-agent on a device. The roles use it for
    their preflight checks; the verify playbook uses it to audit a fleet. Waiting for a restarted
    agent is M(qbee.unprivileged.agent_wait).
  - Reports whether systemd is booted, the agent binary and configuration file, the unit's
    state and merged settings (user, groups, drop-ins, environment), the main process's real
    user and groups, and optionally a user, groups, paths and the unit's last journal lines.
author:
  - qbee.unprivileged maintainers (@qbee-unprivileged)
extends_documentation_fragment:
  - qbee.unprivileged.agent
  - qbee.unprivileged.agent.sudo
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: It changes nothing, so there is nothing to diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the device that has qbee-agent.
options:
  user:
    description:
      - A user to report on (for example the agent's), with its groups and its
        C(/etc/subuid) and C(/etc/subgid) ranges.
    type: str
  user_units:
    description:
      - Units of the systemd manager of O(user) to report on (for example C(podman.socket)), with whether
        the user lingers and whether its manager runs (RV(user_manager)). Needs O(user).
      - Read with C(systemctl --user --machine <user>@.host show), only where the user's manager runs.
    type: list
    elements: str
    default: []
  groups:
    description: Groups to look up (for example C(docker), C(tss)).
    type: list
    elements: str
    default: []
  paths:
    description: Paths to stat on the device (symbolic links followed).
    type: list
    elements: path
    default: []
  files:
    description:
      - Files to read on the device, with their owner, group and mode, so that a caller can
        compare them with what it would write without another round trip.
      - Nothing is followed. A symbolic link, FIFO or device is reported as such (C(type)), and a file with
        other hard links, above 64 KiB or not valid UTF-8 is reported without its content.
    type: list
    elements: path
    default: []
  trees:
    description:
      - Folders whose ownership to report, for each the distinct owner and group of the
        folder and of everything under it that M(qbee.unprivileged.agent_folders) would hand over,
        and the entries it leaves alone (symbolic links, files with other hard links, sockets and
        devices), which are never followed.
    type: list
    elements: path
    default: []
  journal_lines:
    description: How many of the unit's last journal lines to return (0 for none).
    type: int
    default: 0
  journal_dir:
    description: The undo journal folder of M(qbee.unprivileged.journal), whose entries are counted in C(journal_entries).
    type: path
  version:
    description: Run C(<binary> version) and report the agent's version.
    type: bool
    default: false
  service:
    description: The agent's systemd unit. Deprecated, to be removed in 3.0.0; give O(agent.service) instead.
    type: str
  binary:
    description: The agent's executable. Deprecated, to be removed in 3.0.0; give O(agent.binary) instead.
    type: path
  config_path:
    description: The agent's configuration file. Deprecated, to be removed in 3.0.0; give O(agent.config_path) instead.
    type: path
  dropin_dir:
    description: The folder of the unit's drop-in files. Deprecated, to be removed in 3.0.0; give O(agent.dropin_dir) instead.
    type: path
  wait_settle:
    description:
      - When above 0, wait as M(qbee.unprivileged.agent_wait) does with O(qbee.unprivileged.agent_wait#module:settle).
      - Deprecated, to be removed in 3.0.0; agent_info only reads, use M(qbee.unprivileged.agent_wait).
    type: float
  wait_timeout:
    description: How many seconds O(wait_settle) may take in all (default 60). Deprecated, to be removed in 3.0.0.
    type: int
notes:
  - Values of C(bootstrap_key) and C(http_proxy_pass) in the configuration are masked.
  - The configuration file is opened without following a link and read only when it is a regular file with one
    link and at most 64 KiB; otherwise C(config.error) says what it is, and nothing of it is returned.
"""

EXAMPLES = r"""
- name: Read the agent's state
  qbee.unprivileged.agent_info:
    user: qbee-agent
    groups: [docker, tss]
    paths: [/usr/bin/sudo, /var/run/docker.sock]
  register: qbee_agent_info

- name: Show who the agent runs as
  ansible.builtin.debug:
    msg: "{{ qbee_agent_info.process.user }} in {{ qbee_agent_info.process.group_names }}"
"""

RETURN = r"""
systemd_booted:
  description: Whether systemd is the running init system.
  returned: always
  type: bool
binary:
  description: The agent's executable (C(path), C(exists)).
  returned: always
  type: dict
config:
  description:
    - The configuration file. C(exists), C(error) (a message when it cannot be read or parsed),
      C(data) (the parsed object, secrets masked) and C(type_problem) (null, or the first key the
      agent could not decode, as C(key), C(found) and C(needed) JSON types).
  returned: always
  type: dict
  sample: {"path": "/etc/qbee/qbee-agent.json", "exists": true, "error": null, "data": {"port": "443"},
           "type_problem": null}
unit:
  description:
    - The unit as systemd sees it, with its drop-ins merged. C(load_state) is C(not-found) when
      the unit does not exist. Empty when systemd is not booted.
  returned: always
  type: dict
  sample: {"load_state": "loaded", "active_state": "active", "main_pid": 1234, "user": "qbee-agent",
           "group": "qbee-agent", "supplementary_groups": ["docker"], "drop_in_paths": [],
           "environment": ["SHELL=/bin/bash"], "n_restarts": 0, "unit_file_state": "enabled"}
process:
  description:
    - The unit's main process, read from C(/proc); null when it does not run.
    - C(age_seconds) is how long it has been running.
  returned: always
  type: dict
  sample: {"pid": 1234, "uid": 998, "gid": 998, "user": "qbee-agent", "groups": [998, 995],
           "group_names": ["docker", "qbee-agent"], "age_seconds": 12.5}
dropins:
  description: The file names in O(dropin_dir), sorted.
  returned: always
  type: list
  elements: str
user:
  description:
    - The user named in O(user) (C(exists), C(uid), C(gid), C(primary_group), C(home), C(shell), C(comment), C(groups),
      C(subuid), C(subgid)), and C(subid_next), the first id after every range in
      C(/etc/subuid) and C(/etc/subgid) (at least 100000).
  returned: when O(user) is given
  type: dict
user_manager:
  description:
    - The systemd manager of O(user). C(lingers), whether the user lingers (C(/var/lib/systemd/linger/<user>) exists, so
      its manager runs from boot); C(active), whether its manager (C(user@<uid>.service)) runs; C(units), for each of
      O(user_units) its C(active_state) and C(unit_file_state) (C(enabled), C(disabled), ...), empty where the manager
      does not run or the user does not exist.
  returned: when O(user) and O(user_units) are given
  type: dict
  sample: {"lingers": true, "active": true, "units": {"podman.socket": {"active_state": "active", "unit_file_state": "enabled"}}}
groups:
  description: For each group in O(groups), C(exists), C(gid) and C(members).
  returned: always
  type: dict
paths:
  description: For each path in O(paths), C(exists), C(executable), C(mode), C(uid), C(gid) and C(realpath).
  returned: always
  type: dict
files:
  description:
    - For each path in O(files), C(exists), C(type) (C(file), C(link), C(directory) or C(other)),
      C(owner), C(group), C(mode) and C(content) (the text, or null when it is not a regular file,
      larger than 64 KiB or not UTF-8).
    - A link is reported as C(link), with its own owner. One exception, as M(qbee.unprivileged.desired_state) takes it,
      is a link root owns, in a folder only root can change, to a folder only root can change (C(/sbin) on merged
      /usr). It is reported as the C(directory) it leads to, with that folder's owner, group and mode.
  returned: always
  type: dict
  sample: {"/etc/sudoers.d/qbee-agent": {"exists": true, "type": "file", "owner": "root", "group": "root",
           "mode": "0440", "content": "# Ansible managed\n..."}}
trees:
  description:
    - For each folder in O(trees), C(exists), C(owners), the sorted distinct C(user:group) pairs
      of the folder and everything under it that a hand-over changes (names, or numbers where the ids have
      none), and C(links), C(hardlinks) and C(special), the entries a hand-over leaves alone, by path under the
      folder. C(error) says why a folder could not be walked.
  returned: always
  type: dict
  sample: {"/var/lib/qbee": {"exists": true, "owners": ["qbee-agent:qbee-agent"]}}
journal_entries:
  description: How many entries the undo journal in O(journal_dir) holds (an earlier run that did not finish).
  returned: when O(journal_dir) is given
  type: int
version:
  description:
    - With O(version), C(version) (for example C(2026.27), or null when it could not be read), C(output) (what the
      agent printed) and C(error) (why it could not be read).
  returned: when O(version) is true
  type: dict
  sample: {"version": "2026.27", "output": "2026.27 (commit: 6710abd)", "error": null}
sudo:
  description:
    - With O(sudo_user), the sudo found (C(path), C(realpath), C(implementation) C(sudo) or C(sudo-rs) and its
      C(version), from C(sudo --version)), C(user_exists), C(grants) (each command the user may run, one per
      entry, after its run-as list and tags as C(sudo -l) prints them), C(own) (the grants of the rules in O(sudo_own_file)), C(foreign) and C(missing)
      (see O(sudo_rules)), and C(error) when sudo could not list them (for example sudo-rs without an C(/etc/sudoers)). All empty when no sudo is installed.
    - sudo-rs does not list the C(SETENV) tag.
  returned: when O(sudo_user) is given
  type: dict
  sample: {"path": "/usr/bin/sudo", "realpath": "/usr/lib/cargo/bin/sudo", "implementation": "sudo-rs",
           "version": "0.2.5", "user_exists": true, "grants": ["(root) NOPASSWD: /usr/local/sbin/qbee-agent-elevate"],
           "own": [], "foreign": [], "missing": [], "error": null}
journal:
  description: The unit's last journal lines (O(journal_lines) of them).
  returned: always
  type: list
  elements: str
"""

import grp
import json
import os
import pwd
import re
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.qbee.unprivileged.plugins.module_utils import fs, sudo, unit as units
from ansible_collections.qbee.unprivileged.plugins.module_utils.declared import trusted
from ansible_collections.qbee.unprivileged.plugins.module_utils.agent import (
    agent_type_problem, group_name, mask_secrets, owner_name, user_name)

MAX_FILE_BYTES = 64 * 1024


def read_config(path):
    result = {"path": path, "exists": os.path.lexists(path), "error": None, "data": None, "type_problem": None}
    try:
        raw, _st = fs.read_regular(path, fs.MAX_CONFIG_BYTES)
    except fs.UnsafePath as exc:
        result["error"] = str(exc)
        return result
    if raw is None:
        result["exists"] = False
        return result
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # includes UnicodeDecodeError
        result["error"] = "not valid JSON: %s" % exc
        return result
    if not isinstance(data, dict):
        result["error"] = "not a JSON object"
        return result
    result["data"] = mask_secrets(data)
    problem = agent_type_problem(data)
    if problem:
        result["type_problem"] = dict(zip(("key", "found", "needed"), problem))
    return result


def read_version(module, binary):
    """The agent's version from 'qbee-agent version' ("2026.27 (commit: 6710abd)")."""
    result = {"version": None, "output": "", "error": None}
    if not os.path.isfile(binary):
        result["error"] = "%s does not exist" % binary
        return result
    rc, out, err = module.run_command([binary, "version"])
    result["output"] = (out.strip() or err.strip())[:500]
    match = re.match(r"^v?(\d+\.\d+(?:\.\d+)?)\b", out.strip())
    if rc != 0 or not match:
        result["error"] = "'%s version' exited %d and printed %r" % (binary, rc, result["output"])
        return result
    result["version"] = match.group(1)
    return result


def read_subids(path, name):
    """Return (ranges of name, the end of the highest range in the file)."""
    ranges, end = [], 0
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError):
        return ranges, end
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        start, count = int(parts[1]), int(parts[2])
        end = max(end, start + count)
        if parts[0] == name:
            ranges.append({"start": start, "count": count})
    return ranges, end


def read_user(name):
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return {"name": name, "exists": False, "subid_next": None}
    groups = sorted(g.gr_name for g in grp.getgrall() if name in g.gr_mem)
    subuid, end_uid = read_subids("/etc/subuid", name)
    subgid, end_gid = read_subids("/etc/subgid", name)
    return {
        "name": name,
        "exists": True,
        "uid": entry.pw_uid,
        "gid": entry.pw_gid,
        "primary_group": group_name(entry.pw_gid),
        "home": entry.pw_dir,
        "shell": entry.pw_shell,
        "comment": entry.pw_gecos,
        "groups": groups,
        "subuid": subuid,
        "subgid": subgid,
        "subid_next": max(100000, end_uid, end_gid),
    }


# Seconds the agent user's systemd manager has to answer the preflight.
USER_MANAGER_TIMEOUT = 30


def show_units(module, argv, names):
    """ActiveState and UnitFileState of each unit named, as systemctl show lists them (blocks in the order asked)."""
    rc, out, _err = module.run_command(argv + ["show"] + list(names) + ["--no-pager", "--property=Id",
                                                                        "--property=ActiveState", "--property=UnitFileState"])
    found = {}
    if rc != 0:
        return found
    for name, block in zip(names, out.strip().split("\n\n")):
        values = dict(line.partition("=")[::2] for line in block.splitlines())
        found[name] = {"active_state": values.get("ActiveState", ""), "unit_file_state": values.get("UnitFileState", "")}
    return found


def read_user_manager(module, user, names):
    """Whether the user lingers, whether its systemd manager runs, and the units of that manager named."""
    manager = {"lingers": False, "active": False, "units": {}}
    systemctl = module.get_bin_path("systemctl")
    if not user["exists"] or not systemctl:
        return manager
    manager["lingers"] = os.path.lexists("/var/lib/systemd/linger/" + user["name"])
    service = "user@%d.service" % user["uid"]
    manager["active"] = show_units(module, [systemctl], [service]).get(service, {}).get("active_state") == "active"
    if manager["active"]:
        # The user's own manager answers: bounded in time, as a manager the user controls may not answer at all.
        limit = module.get_bin_path("timeout")
        bounded = [limit, "-k", "5", str(USER_MANAGER_TIMEOUT)] if limit else []
        manager["units"] = show_units(module, bounded + [systemctl, "--user", "--machine", user["name"] + "@.host"], names)
    return manager


def read_group(name):
    try:
        entry = grp.getgrnam(name)
    except KeyError:
        return {"exists": False, "gid": None, "members": []}
    return {"exists": True, "gid": entry.gr_gid, "members": list(entry.gr_mem)}


def read_path(path):
    try:
        st = os.stat(path)
    except OSError:
        return {"exists": False, "executable": False, "mode": None, "uid": None, "gid": None, "realpath": None}
    return {
        "exists": True,
        "executable": stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111),
        "type": "socket" if stat.S_ISSOCK(st.st_mode) else "directory" if stat.S_ISDIR(st.st_mode)
        else "char" if stat.S_ISCHR(st.st_mode) else "file",
        "mode": "%04o" % stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "realpath": os.path.realpath(path),
    }


def read_file(path):
    """A file as a caller that writes it would compare it: type, owner, group, mode and text (links not followed)."""
    missing = {"exists": False, "type": None, "owner": None, "group": None, "mode": None, "content": None}
    try:
        dir_fd, fd, st = fs.open_leaf(path)
    except fs.UnsafePath:
        try:
            st = os.lstat(path)
        except OSError:
            return missing
        kind = "link" if stat.S_ISLNK(st.st_mode) else "other"
        folder = trusted_folder(path) if kind == "link" else None
        if folder is not None:
            # A folder desired_state takes as that folder (root's link, in root's folder: merged /usr's /sbin).
            kind, st = "directory", folder
        return {"exists": True, "type": kind, "owner": user_name(st.st_uid), "group": group_name(st.st_gid),
                "mode": "%04o" % stat.S_IMODE(st.st_mode), "content": None}
    try:
        if fd is None:
            return missing
        kind = ("file" if stat.S_ISREG(st.st_mode) else "directory" if stat.S_ISDIR(st.st_mode) else "other")
        content = None
        if kind == "file" and st.st_nlink == 1 and st.st_size <= MAX_FILE_BYTES:
            try:
                content = os.read(fd, MAX_FILE_BYTES + 1).decode("utf-8")
            except (OSError, UnicodeDecodeError):
                content = None
        return {"exists": True, "type": kind, "owner": user_name(st.st_uid), "group": group_name(st.st_gid),
                "mode": "%04o" % stat.S_IMODE(st.st_mode), "content": content}
    finally:
        if fd is not None:
            os.close(fd)
        os.close(dir_fd)


def trusted_folder(path):
    """The fstat of the folder a link at path leads to, where fs.open_dir follows the link and desired_state
    would take the folder (only root can change it), else None."""
    try:
        st = fs.stat_dir(path)
    except (fs.UnsafePath, OSError):
        return None
    return st if stat.S_ISDIR(st.st_mode) and trusted(st) else None


def read_tree(path):
    """Who owns what a hand-over would change under path, and what it would leave alone (see module_utils/fs)."""
    empty = {"exists": False, "owners": [], "links": [], "hardlinks": [], "special": [], "error": None}
    try:
        tree = fs.read_tree(path)
    except (fs.UnsafePath, OSError) as exc:
        return dict(empty, exists=os.path.lexists(path), error=str(exc))
    if tree is None:
        return empty
    return dict(tree.report(), exists=True, error=None,
                owners=sorted(set(owner_name(u, g) for u, g in tree.owners)))


def agent_settings(module):
    """The agent's service, binary, config_path and dropin_dir: agent's, or the deprecated options'."""
    agent = dict(module.params["agent"] or {})
    for key in units.AGENT_DEFAULTS:
        if module.params[key] is not None:
            agent[key] = module.params[key]
        agent.setdefault(key, units.AGENT_DEFAULTS[key])
    return agent


def main():
    deprecated = dict(removed_in_version="3.0.0", removed_from_collection="qbee.unprivileged")
    module = AnsibleModule(
        argument_spec=dict(
            agent=units.AGENT_SPEC,
            service=dict(type="str", **deprecated),
            config_path=dict(type="path", **deprecated),
            binary=dict(type="path", **deprecated),
            dropin_dir=dict(type="path", **deprecated),
            user=dict(type="str"),
            user_units=dict(type="list", elements="str", default=[]),
            groups=dict(type="list", elements="str", default=[]),
            paths=dict(type="list", elements="path", default=[]),
            files=dict(type="list", elements="path", default=[]),
            trees=dict(type="list", elements="path", default=[]),
            journal_lines=dict(type="int", default=0),
            version=dict(type="bool", default=False),
            journal_dir=dict(type="path"),
            wait_settle=dict(type="float", **deprecated),
            wait_timeout=dict(type="int", **deprecated),
            **sudo.SUDO_SPEC
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["user_units"] and not params["user"]:
        module.fail_json(msg="user_units needs user: the units are those of that user's systemd manager")
    agent = agent_settings(module)
    booted = units.booted()
    problem = None
    settle, timeout = params["wait_settle"] or 0, params["wait_timeout"] or 60
    if booted and settle > 0:
        unit, process, problem = units.wait_settled(module, agent["service"], settle, timeout)
    else:
        unit = units.read_unit(module, agent["service"]) if booted else {}
        process = units.read_process(unit.get("main_pid"))
    try:
        dropins = sorted(os.listdir(agent["dropin_dir"]))
    except OSError:
        dropins = []
    result = dict(
        changed=False,
        systemd_booted=booted,
        binary={"path": agent["binary"], "exists": os.path.isfile(agent["binary"])},
        config=read_config(agent["config_path"]),
        unit=unit,
        process=process,
        dropins=dropins,
        groups=dict((name, read_group(name)) for name in params["groups"]),
        paths=dict((path, read_path(path)) for path in params["paths"]),
        files=dict((path, read_file(path)) for path in params["files"]),
        trees=dict((path, read_tree(path)) for path in params["trees"]),
        journal=units.read_journal(module, agent["service"], params["journal_lines"]) if booted else [],
    )
    if params["user"]:
        result["user"] = read_user(params["user"])
        if params["user_units"]:
            result["user_manager"] = read_user_manager(module, result["user"], params["user_units"])
    if params["version"]:
        result["version"] = read_version(module, agent["binary"])
    if params["sudo_user"]:
        result["sudo"] = sudo.report_grants(module)
    if params["journal_dir"]:
        try:
            result["journal_entries"] = len([n for n in os.listdir(params["journal_dir"]) if n.endswith(".json")])
        except OSError:
            result["journal_entries"] = 0
    if problem:
        if not result["journal"]:
            result["journal"] = units.read_journal(module, agent["service"], 20)
        module.fail_json(msg="%s did not stay up as configured within %d s: %s" % (agent["service"], timeout, problem),
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
