# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The undo journal: what a run changed on a device, recorded on the device before each change.

A run's modules write one entry per change into a folder only root can read (by default
/var/lib/qbee-unprivileged/journal): the file as it was (content, owner, mode, or absent), the owners a
hand-over replaced, or the command that takes an action back. A run that fails undoes every entry, newest
first; a run that ends well commits (empties) the journal. Entries stay on disk until then, so a run whose
controller vanished is undone by the next failing run, or kept by the next good one.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import shutil
import stat

from ansible_collections.qbee.unprivileged.plugins.module_utils import fs
from ansible_collections.qbee.unprivileged.plugins.module_utils.processes import end_user_processes


class Journal(object):
    def __init__(self, path):
        self.path = path

    def _ensure(self):
        parent = os.path.dirname(self.path.rstrip("/")) or "/"
        for folder in (parent, self.path):
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                pass
            except OSError as exc:
                raise fs.UnsafePath("cannot create the undo journal %s: %s" % (folder, exc.strerror))
        fd = self._open()
        if fd is None:
            raise fs.UnsafePath("the undo journal %s vanished as it was created" % self.path)
        os.close(fd)

    def _open(self):
        """A descriptor of the journal folder, which must be root's alone; None when it does not exist.

        Undo writes what the entries say as root: entries anyone else could have written are never read.
        """
        try:
            fd = fs.open_dir(self.path)
        except fs.Missing:
            return None
        st = os.fstat(fd)
        if st.st_uid != 0 or stat.S_IMODE(st.st_mode) & 0o077:
            os.close(fd)
            raise fs.UnsafePath("the undo journal %s must be root's alone (0700), it is %04o owned by uid %d"
                                % (self.path, stat.S_IMODE(st.st_mode), st.st_uid))
        return fd

    def entries(self):
        """The entries, oldest first."""
        fd = self._open()
        if fd is None:
            return []
        try:
            names = sorted(n for n in os.listdir(fd) if n.endswith(".json") and not n.startswith("."))
        finally:
            os.close(fd)
        result = []
        for name in names:
            data, _st = fs.read_regular(os.path.join(self.path, name), max_bytes=16 * 1024 * 1024)
            if data is not None:
                entry = json.loads(data.decode("utf-8"))
                entry["_name"] = name
                result.append(entry)
        return result

    def record(self, entry):
        """Add an entry; a file or folder entry is kept only for the first change of it since the last commit."""
        self._ensure()
        existing = self.entries()
        if entry["kind"] in ("file", "dir") and any(
                e["kind"] == entry["kind"] and e["path"] == entry["path"] for e in existing):
            return
        number = max([int(e["_name"].split("-", 1)[0]) for e in existing] + [0]) + 1
        name = "%05d-%s.json" % (number, entry["kind"])
        fs.replace_file(os.path.join(self.path, name), json.dumps(entry).encode("utf-8"), 0o600, 0, 0)

    def record_file(self, path, data, st):
        """The file at path as it is now: data and fstat of it, or None, None when it does not exist."""
        if data is None:
            self.record({"kind": "file", "path": path, "existed": False})
        else:
            self.record({"kind": "file", "path": path, "existed": True,
                         "content": base64.b64encode(data).decode("ascii"),
                         "uid": st.st_uid, "gid": st.st_gid, "mode": stat.S_IMODE(st.st_mode)})

    def record_dir(self, path, st):
        """The folder at path as it is now: its fstat, or None when this run creates it."""
        if st is None:
            self.record({"kind": "dir", "path": path, "existed": False})
        else:
            self.record({"kind": "dir", "path": path, "existed": True,
                         "uid": st.st_uid, "gid": st.st_gid, "mode": stat.S_IMODE(st.st_mode)})

    def commit(self):
        entries = self.entries()
        for entry in entries:
            fs.remove_file(os.path.join(self.path, entry["_name"]))
        return len(entries)

    def undo(self, run_command):
        """Take back every entry, newest first; a list of what was put back (and what could not be)."""
        done = []
        for entry in reversed(self.entries()):
            try:
                done.append(undo_entry(entry, run_command))
            except (fs.UnsafePath, OSError) as exc:
                done.append("NOT put back: %s" % exc)
            fs.remove_file(os.path.join(self.path, entry["_name"]))
        return done


def undo_entry(entry, run_command):
    kind = entry["kind"]
    if kind == "file":
        if not entry["existed"]:
            return ("removed %s" % entry["path"]) if fs.remove_file(entry["path"]) else "%s stays absent" % entry["path"]
        fs.replace_file(entry["path"], base64.b64decode(entry["content"]), entry["mode"], entry["uid"], entry["gid"])
        return "restored %s" % entry["path"]
    if kind == "dir":
        if not entry["existed"]:
            if fs.remove_empty_dir(entry["path"]):
                return "removed the folder %s" % entry["path"]
            return "left the folder %s (not empty, or gone)" % entry["path"]
        fs.set_dir_attributes(entry["path"], entry["uid"], entry["gid"], entry["mode"])
        return "gave the folder %s its owner and mode back" % entry["path"]
    if kind == "owners":
        restored, skipped = fs.give_back(entry["top"], entry["changes"])
        return "gave %d entries under %s their owners back%s" % (
            restored, entry["top"], (" (left alone, changed since: %s)" % ", ".join(skipped[:10])) if skipped else "")
    if kind == "user":
        return undo_user(entry, run_command)
    if kind == "command":
        rc, out, err = run_command(entry["argv"])
        if rc != 0 and not entry.get("may_fail"):
            return "NOT put back: %s (%s exited %d: %s)" % (entry["why"], " ".join(entry["argv"]), rc, (err or out).strip())
        return entry["why"]
    return "NOT put back: unknown journal entry %s" % kind


def undo_user(entry, run_command):
    """A user this run created: its processes ended, then the user, its group and the home it got, removed."""
    try:
        uid = pwd.getpwnam(entry["user"]).pw_uid
    except KeyError:
        return "user %s is gone already" % entry["user"]
    ended, left = end_user_processes(uid, run_command)
    if left:
        return "NOT put back: user %s still has processes %s" % (entry["user"], left)
    said = ["ended %d processes of %s" % (len(ended), entry["user"])] if ended else []
    rc, out, err = run_command(["userdel", entry["user"]])
    said.append("removed user %s" % entry["user"] if rc == 0 else "NOT removed user %s: %s" % (entry["user"], (err or out).strip()))
    if entry.get("group_created"):
        rc, out, err = run_command(["groupdel", entry["group"]])
        if rc == 0 or "does not exist" in (err or ""):
            said.append("removed group %s" % entry["group"])
    home = entry.get("home")
    if entry.get("home_created") and home and os.path.isdir(home) and not os.path.islink(home):
        # rmtree works on descriptors here (rmtree.avoids_symlink_attacks): nothing is followed.
        if shutil.rmtree.avoids_symlink_attacks:
            shutil.rmtree(home)
            said.append("removed its new home %s" % home)
    return "; ".join(said)
