# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Declared files and folders: what a role wants on the device, compared with it, changed only where it differs.

Two passes, so that validation comes before the first change. plan() reads every entry (nothing followed, at
most MAX_BYTES, no hard-linked file), works out what differs, resolves owners and groups, and runs each
validate command on a copy of the new content; whatever it refuses, it refuses before anything is written.
apply() then records each change in the undo journal and makes it, in the order given (a folder before the
files in it). Shared by the desired_state and managed_file modules.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import stat
import tempfile

from ansible_collections.qbee.unprivileged.plugins.module_utils import fs

STATES = ("file", "absent", "directory")
# The options of one entry, as desired_state's files and managed_file take them (each adds its state).
ENTRY_OPTIONS = dict(
    path=dict(type="path", required=True),
    content=dict(type="str"),
    owner=dict(type="str"),
    group=dict(type="str"),
    mode=dict(type="raw"),
    validate=dict(type="str"),
)
MAX_BYTES = 1024 * 1024
DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755


class Refused(Exception):
    """An entry that cannot be applied as declared; nothing was changed. The message names the path."""


class Plan(object):
    """One entry as the device has it and as it is declared: what differs, and the change that makes it so."""

    def __init__(self, path, state):
        self.path = path
        self.state = state
        self.current = None   # the file's bytes (file, absent), None when missing
        self.st = None        # the fstat or lstat read, None when missing
        self.data = None      # the declared bytes (file)
        self.uid = self.gid = self.mode = None
        self.differs = []     # what differs: absent, present, content, owner, group, mode
        self.action = None    # write, remove, mkdir, dir_attributes; None when as declared
        self.diff = None

    def result(self):
        return {"path": self.path, "state": self.state, "changed": self.action is not None, "differs": self.differs}


def octal_mode(value, where):
    """The mode as an int, or None when not given. Only octal modes: a new file is created with it."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 0o7777:
            raise Refused("%smode must be between 0 and 0o7777, got %r" % (where, value))
        return value
    if not re.fullmatch(r"0?[0-7]{3,4}", str(value)):
        raise Refused("%smode must be an octal string such as \"0644\", got %r" % (where, value))
    return int(str(value), 8)


def resolve_id(name, kind, check_mode):
    """uid or gid of a name or number; None when not asked for or (check mode only) not there yet."""
    if name is None or name == "":
        return None
    name = str(name)
    if name.isdigit():
        if int(name) >= 2 ** 32 - 1:
            raise Refused("%s %s is not a valid id" % (kind, name))
        return int(name)
    try:
        return pwd.getpwnam(name).pw_uid if kind == "owner" else grp.getgrnam(name).gr_gid
    except KeyError:
        if check_mode:
            return None
        raise Refused("%s %s does not exist on this host" % (kind, name))


def attributes_text(uid, gid, mode):
    return "owner: %s\ngroup: %s\nmode: %s\n" % (uid, gid, "%04o" % mode if mode is not None else "-")


def _text(data):
    return data.decode("utf-8", "replace") if data is not None else ""


def trusted(st):
    """Whether only root (or the user this runs as) can change the entries of the folder with this fstat."""
    return fs.root_controlled(st) or (st.st_uid == os.geteuid() and not st.st_mode & 0o022)


def check_folder(path, made):
    """Refuse an entry whose folder users other than root can change: root writes nothing there.

    The folder is reached as fs.open_dir reaches it (no link it cannot trust); one an earlier entry makes, or
    one still missing (an earlier entry, or check mode, accounts for it), passes.
    """
    folder = os.path.dirname(path) or "/"
    if folder in made:
        return
    try:
        st = fs.stat_dir(folder)
    except fs.Missing:
        return
    if not trusted(st):
        raise Refused("%s lies in %s, which users other than root can change (owner uid %d, mode %04o); root "
                      "writes nothing there" % (path, folder, st.st_uid, stat.S_IMODE(st.st_mode)))


def _existing_ancestor(path):
    folder = os.path.dirname(path) or "/"
    while not os.path.isdir(folder) and folder != "/":
        folder = os.path.dirname(folder)
    return folder


def validate_copy(path, data, mode, command, run_command):
    """Run command on a copy of data, in a folder of its own (0700) beside path or its nearest existing ancestor.

    Only root can reach the copy, so the command checks exactly data. The folder and copy have dots in their
    names (sudo reads no file of /etc/sudoers.d with one).
    """
    if "%s" not in command:
        raise Refused("validate must contain %%s for the file's path: %s" % command)
    try:
        command % "x"
    except (TypeError, ValueError):
        raise Refused("validate may hold %%s once and no other %%; write %%%% for a literal %%: %s" % command)
    parent = _existing_ancestor(path)
    if not trusted(fs.stat_dir(parent)):
        raise Refused("cannot validate %s: %s can be changed by users other than root" % (path, parent))
    private = tempfile.mkdtemp(prefix=".qbee-validate-", dir=parent)
    tmp = os.path.join(private, ".%s.validate" % os.path.basename(path))
    try:
        _write_private(tmp, data, mode)
        rc, out, err = run_command(command % tmp)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if rc != 0:
        said = (err or out or "").strip().replace(tmp, "<new file>")
        raise Refused("the new content of %s failed validation (%s): %s" % (path, command % "<new file>", said))


def _write_private(tmp, data, mode):
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, mode if mode is not None else 0o600)
    finally:
        os.close(fd)


def _folder_ready(plan, check_mode, made):
    """The entry's folder exists or an earlier entry makes it; a missing one fails, except in check mode."""
    folder = os.path.dirname(plan.path) or "/"
    if folder not in made and not os.path.isdir(folder) and not check_mode:
        raise Refused("cannot write %s: its folder %s does not exist" % (plan.path, folder))


def _attributes(plan, entry, check_mode, default_mode):
    uid = resolve_id(entry.get("owner"), "owner", check_mode)
    gid = resolve_id(entry.get("group"), "group", check_mode)
    mode = octal_mode(entry.get("mode"), plan.path + ": ")
    st = plan.st
    plan.uid = uid if uid is not None else (st.st_uid if st else 0)
    plan.gid = gid if gid is not None else (st.st_gid if st else 0)
    plan.mode = mode if mode is not None else (stat.S_IMODE(st.st_mode) if st else default_mode)
    if st is not None:
        # An owner or group that does not exist yet (check mode) differs from whatever is there.
        if plan.uid != st.st_uid or (uid is None and entry.get("owner")):
            plan.differs.append("owner")
        if plan.gid != st.st_gid or (gid is None and entry.get("group")):
            plan.differs.append("group")
        if plan.mode != stat.S_IMODE(st.st_mode):
            plan.differs.append("mode")
    return mode


def plan_file(entry, check_mode, run_command, made):
    plan = Plan(entry["path"], "file")
    if entry.get("content") is None:
        raise Refused("%s: content is required with state file" % plan.path)
    plan.current, plan.st = fs.read_regular(plan.path, MAX_BYTES)
    plan.data = entry["content"].encode("utf-8", "surrogateescape")
    mode = _attributes(plan, entry, check_mode, DEFAULT_FILE_MODE)
    if plan.current != plan.data:
        plan.differs.insert(0, "absent" if plan.current is None else "content")
        if entry.get("validate"):
            validate_copy(plan.path, plan.data, mode, entry["validate"], run_command)
        plan.diff = dict(before=_text(plan.current), after=_text(plan.data), after_header=plan.path,
                         before_header=plan.path if plan.current is not None else plan.path + " (absent)")
        _folder_ready(plan, check_mode, made)
        plan.action = "write"
    elif plan.differs:
        # Written anew all the same: whoever held the file open (its owner until now) keeps no way into it.
        plan.action = "write"
        old = (plan.st.st_uid, plan.st.st_gid, stat.S_IMODE(plan.st.st_mode))
        plan.diff = dict(before=attributes_text(*old), after=attributes_text(plan.uid, plan.gid, plan.mode),
                         before_header=plan.path + " (attributes)", after_header=plan.path + " (attributes)")
    return plan


def plan_absent(entry):
    plan = Plan(entry["path"], "absent")
    plan.current, plan.st = fs.read_regular(plan.path, MAX_BYTES)
    if plan.current is not None:
        plan.differs.append("present")
        plan.action = "remove"
        plan.diff = dict(before=_text(plan.current), after="", before_header=plan.path,
                         after_header=plan.path + " (absent)")
    return plan


def plan_directory(entry, check_mode, made):
    plan = Plan(entry["path"], "directory")
    plan.st = fs.lstat_leaf(plan.path)
    link = plan.st is not None and stat.S_ISLNK(plan.st.st_mode)
    if link:
        plan.st = _trusted_link_target(plan.path)
    if plan.st is not None and not stat.S_ISDIR(plan.st.st_mode):
        raise Refused("%s is %s, not a folder" % (plan.path, fs.kind_of(plan.st.st_mode)))
    if plan.st is not None and not trusted(plan.st):
        # Giving it to root would not take back what others may have put in it.
        raise Refused("the folder %s can be changed by users other than root (owner uid %d, mode %04o), who may have "
                      "put files in it: check what it holds and make it root's by hand"
                      % (plan.path, plan.st.st_uid, stat.S_IMODE(plan.st.st_mode)))
    _attributes(plan, entry, check_mode, DEFAULT_DIR_MODE)
    if link and plan.differs:
        raise Refused("%s is a link to a folder: declare the folder it leads to, to change its %s"
                      % (plan.path, ", ".join(plan.differs)))
    after = attributes_text(plan.uid, plan.gid, plan.mode)
    if plan.st is None:
        plan.differs.insert(0, "absent")
        _folder_ready(plan, check_mode, made)
        plan.action = "mkdir"
        made.add(plan.path)
        plan.diff = dict(before="", after=after, before_header=plan.path + "/ (absent)", after_header=plan.path + "/")
    elif plan.differs:
        plan.action = "dir_attributes"
        old = (plan.st.st_uid, plan.st.st_gid, stat.S_IMODE(plan.st.st_mode))
        plan.diff = dict(before=attributes_text(*old), after=after, before_header=plan.path + "/ (attributes)",
                         after_header=plan.path + "/ (attributes)")
    return plan


def _trusted_link_target(path):
    """The fstat of the folder a link at path leads to, where fs.open_dir trusts the link (root's, in root's folder)."""
    try:
        return fs.stat_dir(path)
    except fs.UnsafePath:
        raise Refused("%s is %s, not a folder" % (path, fs.describe_path(path)))


def plan(entries, check_mode, run_command):
    """A Plan for each entry, in order; Refused (nothing changed) for the first that cannot be applied."""
    plans, made, seen = [], set(), set()
    for index, entry in enumerate(entries):
        path = entry.get("path")
        if not path or not os.path.isabs(path):
            raise Refused("entry %d: path must be an absolute path, got %r" % (index + 1, path))
        entry = dict(entry, path=os.path.normpath(path))
        state = entry.get("state") or "file"
        if state not in STATES:
            raise Refused("%s: state must be one of %s, got %r" % (entry["path"], ", ".join(STATES), state))
        if entry["path"] in seen:
            raise Refused("%s is declared twice; declare each path once" % entry["path"])
        seen.add(entry["path"])
        try:
            if state != "absent":  # a removal unlinks on the folder's descriptor: nothing to trust there
                check_folder(entry["path"], made)
            if state == "file":
                plans.append(plan_file(entry, check_mode, run_command, made))
            elif state == "absent":
                plans.append(plan_absent(entry))
            else:
                plans.append(plan_directory(entry, check_mode, made))
        except fs.UnsafePath as exc:
            raise Refused(str(exc))
    return plans


class Failed(Exception):
    """A change that failed after others were made; done holds the paths changed before it."""

    def __init__(self, message, done):
        Exception.__init__(self, message)
        self.done = done


def failure(exc):
    """fail_json's arguments for a Refused or Failed: what failed, and what was changed before it."""
    if isinstance(exc, Failed) and exc.done:
        return dict(msg="%s; changed before it, each recorded in the undo journal: %s" % (exc, ", ".join(exc.done)),
                    changed=True, drift=exc.done)
    return dict(msg="%s; nothing was changed" % exc)


def apply(plans, journal=None):
    """Make each planned change, recording it in the journal first; the results, in order."""
    done = []
    for p in plans:
        if p.action is None:
            continue
        try:
            if p.action == "mkdir":
                # Recorded once made: an undo must never remove a folder this run did not make.
                fs.make_dir(p.path, p.mode, p.uid, p.gid)
                if journal is not None:
                    journal.record_dir(p.path, None)
            elif p.action == "dir_attributes":
                if journal is not None:
                    journal.record_dir(p.path, p.st)
                fs.set_dir_attributes(p.path, p.uid, p.gid, p.mode)
            else:
                if journal is not None:
                    journal.record_file(p.path, p.current, p.st)
                if p.action == "write":
                    fs.replace_file(p.path, p.data, p.mode, p.uid, p.gid)
                else:
                    fs.remove_file(p.path)
        except (fs.UnsafePath, OSError) as exc:
            raise Failed(str(exc), done)
        done.append(p.path)
    return [p.result() for p in plans]
