# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Ending every process of a user: what root mode needs before root reads the agent user's files again."""

from __future__ import annotations

import os
import signal
import time


def user_pids(uid):
    """Processes any of whose real, effective, saved or file-system uids is uid."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/status" % name) as handle:
                for line in handle:
                    if line.startswith("Uid:"):
                        if str(uid) in line.split()[1:]:
                            pids.append(int(name))
                        break
        except (IOError, OSError):
            continue  # gone already
    return sorted(pids)


def end_user_processes(uid, run_command, timeout=10.0):
    """Stop the user's systemd manager (with linger it would start things again), then TERM and KILL the rest.

    Returns (pids that were running, pids still running); the second is empty unless a process would not die.
    """
    found = set(user_pids(uid))
    run_command(["systemctl", "stop", "user@%d.service" % uid])
    for sig, wait in ((signal.SIGTERM, timeout / 2), (signal.SIGKILL, timeout / 2)):
        pids = user_pids(uid)
        found.update(pids)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.time() + wait
        while user_pids(uid) and time.time() < deadline:
            time.sleep(0.1)
    return sorted(found), user_pids(uid)
