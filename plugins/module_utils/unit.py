# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The agent's unit and main process as systemd and /proc show them, read by agent_info and waited for by
agent_wait."""

from __future__ import annotations

import os
import time

from ansible_collections.qbee.unprivileged.plugins.module_utils.agent import group_name, user_name

# The settings every module of this collection that looks at the agent takes, as the roles pass them in
# one dictionary (agent: "{{ __qbee_agent_target }}"), with their defaults.
AGENT_DEFAULTS = {
    "service": "qbee-agent.service",
    "binary": "/usr/bin/qbee-agent",
    "config_path": "/etc/qbee/qbee-agent.json",
    "dropin_dir": "/etc/systemd/system/qbee-agent.service.d",
}
AGENT_SPEC = dict(type="dict", default={}, options=dict(
    service=dict(type="str", default=AGENT_DEFAULTS["service"]),
    binary=dict(type="path", default=AGENT_DEFAULTS["binary"]),
    config_path=dict(type="path", default=AGENT_DEFAULTS["config_path"]),
    dropin_dir=dict(type="path", default=AGENT_DEFAULTS["dropin_dir"]),
))


def booted():
    """Whether systemd is the running init system."""
    return os.path.isdir("/run/systemd/system")


UNIT_PROPERTIES = {
    "LoadState": "load_state",
    "ActiveState": "active_state",
    "SubState": "sub_state",
    "MainPID": "main_pid",
    "User": "user",
    "Group": "group",
    "SupplementaryGroups": "supplementary_groups",
    "FragmentPath": "fragment_path",
    "DropInPaths": "drop_in_paths",
    "Environment": "environment",
    "NRestarts": "n_restarts",
    "UnitFileState": "unit_file_state",
}
LIST_PROPERTIES = ("supplementary_groups", "drop_in_paths", "environment")
INT_PROPERTIES = ("main_pid", "n_restarts")


def read_unit(module, service):
    systemctl = module.get_bin_path("systemctl")
    if not systemctl:
        return {}
    args = [systemctl, "show", service, "--no-pager"] + ["--property=%s" % p for p in UNIT_PROPERTIES]
    rc, out, err = module.run_command(args)
    if rc != 0:
        module.fail_json(msg="systemctl show %s failed: %s" % (service, err.strip() or out.strip()))
    unit = {}
    for line in out.splitlines():
        key, _sep, value = line.partition("=")
        if key in UNIT_PROPERTIES:
            unit[UNIT_PROPERTIES[key]] = value
    for key in LIST_PROPERTIES:
        unit[key] = unit.get(key, "").split()
    for key in INT_PROPERTIES:
        try:
            unit[key] = int(unit.get(key) or 0)
        except ValueError:
            unit[key] = 0
    return unit


def read_process(pid):
    if not pid:
        return None
    fields = {}
    try:
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                key, _sep, value = line.partition(":")
                fields[key] = value.split()
        with open("/proc/%d/stat" % pid) as handle:
            # The command name may hold spaces; fields after it are space-separated.
            start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
    except (IOError, OSError, ValueError, IndexError):
        return None
    uid, gid = int(fields["Uid"][0]), int(fields["Gid"][0])
    groups = sorted(int(g) for g in fields.get("Groups", []))
    user = user_name(uid)
    return {
        "pid": pid,
        "uid": uid,
        "gid": gid,
        "user": user,
        "groups": groups,
        "group_names": sorted(group_name(g) for g in groups),
        "age_seconds": round(uptime - start_ticks / float(os.sysconf("SC_CLK_TCK")), 2),
    }


def read_journal(module, service, lines):
    journalctl = module.get_bin_path("journalctl")
    if not lines or not journalctl:
        return []
    rc, out, _err = module.run_command([journalctl, "-u", service, "-n", str(lines), "--no-pager", "-o", "short-iso"])
    return out.splitlines() if rc == 0 else []


def settle_problem(unit, process, settle):
    """Why the agent does not (yet) run as its unit says; None when it does."""
    if unit.get("active_state") != "active":
        return "the unit is %s (%s)" % (unit.get("active_state"), unit.get("sub_state"))
    if not process:
        return "the unit has no main process"
    expected = unit.get("user") or "root"
    if expected not in (process["user"], str(process["uid"])):
        return "the agent runs as %s, the unit says %s" % (process["user"], expected)
    missing = set(unit.get("supplementary_groups", [])) - set(process["group_names"]) - set(
        str(g) for g in process["groups"]
    )
    if missing:
        return "the agent lacks the groups %s" % ", ".join(sorted(missing))
    if process["age_seconds"] < settle:
        return "the agent has been up for only %.1f s" % process["age_seconds"]
    return None


def wait_settled(module, service, settle, timeout):
    deadline = time.time() + timeout
    while True:
        unit = read_unit(module, service)
        process = read_process(unit.get("main_pid"))
        problem = settle_problem(unit, process, settle)
        if problem is None or time.time() >= deadline:
            return unit, process, problem
        time.sleep(0.5)
