# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""File handling that holds across the trust boundary.

The agent user owns /etc/qbee, /var/lib/qbee and its home, so it can replace
anything in them at any moment. Everything here works on file descriptors:
a path is walked from / one folder at a time, no symbolic link is followed
unless it lies in a folder only root can change, the last component is never
followed, and every decision (kind, hard links, size) is made on the fstat of
the descriptor that is then read, changed or written, so nothing can be
swapped between the check and the use.

This file is also the body of the ownership heal the base role installs (it
runs before every start of the agent), so it imports nothing from Ansible.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

MAX_CONFIG_BYTES = 64 * 1024
MAX_DEPTH = 64
MAX_ENTRIES = 100000
MAX_LINKS = 40

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class UnsafePath(Exception):
    """A path root must not use as it is; the message names it and says what it is."""


class Missing(UnsafePath):
    """A folder on the way does not exist."""


def kind_of(mode):
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "an unknown kind of file"


def root_controlled(st):
    """Only root can add, remove or rename entries in this folder, or (sticky) replace root's entries in it."""
    return st.st_uid == 0 and (not st.st_mode & 0o022 or bool(st.st_mode & stat.S_ISVTX))


def _split(path):
    return [p for p in os.path.normpath(path).split("/") if p not in ("", ".")]


def open_dir(path):
    """A descriptor of the folder at path (absolute), walked from / without trusting a link root does not control.

    A symbolic link on the way is followed only when the folder that holds it is root's alone (merged-/usr
    links such as /lib -> usr/lib); any other link, or a component that is not a folder, is refused.
    """
    if not os.path.isabs(path):
        raise UnsafePath("%s is not an absolute path" % path)
    parts, current, links = _split(path), "/", 0
    fd = os.open("/", _DIR)
    try:
        while parts:
            name = parts.pop(0)  # never "..": normpath took them out
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except OSError as exc:
                st = _lstat_at(fd, name)
                if st is None:
                    raise Missing("%s does not exist" % os.path.join(current, name))
                if not stat.S_ISLNK(st.st_mode):
                    if exc.errno == errno.ENOTDIR:
                        raise UnsafePath("%s is %s, not a folder" % (os.path.join(current, name), kind_of(st.st_mode)))
                    raise UnsafePath("cannot open %s: %s" % (os.path.join(current, name), exc.strerror))
                links += 1
                target = os.readlink(name, dir_fd=fd)
                if links > MAX_LINKS:
                    raise UnsafePath("%s: more than %d symbolic links on the way (a loop?)" % (path, MAX_LINKS))
                # Only root can have put this link there, and only root can replace it.
                if st.st_uid != 0 or not root_controlled(os.fstat(fd)):
                    raise UnsafePath("%s is a symbolic link (to %s) in a folder that users other than root can change"
                                     % (os.path.join(current, name), target))
                resolved = os.path.normpath(os.path.join(current, target))
                parts, current = _split(resolved) + parts, "/"
                os.close(fd)
                fd = os.open("/", _DIR)
                continue
            os.close(fd)
            fd, current = child, os.path.join(current, name)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _lstat_at(dir_fd, name):
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except OSError:
        return None


def describe(dir_fd, name, path):
    """What is at name, for a message: a link and its target, a FIFO, a device..."""
    st = _lstat_at(dir_fd, name)
    if st is None:
        return "missing"
    if stat.S_ISLNK(st.st_mode):
        try:
            return "a symbolic link to %s" % os.readlink(name, dir_fd=dir_fd)
        except OSError:
            return "a symbolic link"
    return kind_of(st.st_mode)


def open_leaf(path, flags=_READ):
    """(folder descriptor, file descriptor or None when missing, fstat) of path; never follows its last component."""
    dir_fd = open_dir(os.path.dirname(path) or "/")
    name = os.path.basename(path)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return dir_fd, None, None
        what = describe(dir_fd, name, path)
        os.close(dir_fd)
        if exc.errno == errno.ELOOP or what.startswith("a symbolic link"):
            raise UnsafePath("%s is %s; refusing to follow it" % (path, what))
        raise UnsafePath("cannot open %s (%s): %s" % (path, what, exc.strerror))
    return dir_fd, fd, os.fstat(fd)


def check_regular(path, st, max_bytes=None):
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath("%s is %s, not a regular file" % (path, kind_of(st.st_mode)))
    if st.st_nlink > 1:
        raise UnsafePath("%s has %d hard links; refusing to use a file that is also elsewhere" % (path, st.st_nlink))
    if max_bytes is not None and st.st_size > max_bytes:
        raise UnsafePath("%s is %d bytes, more than the %d this file can honestly be" % (path, st.st_size, max_bytes))


def read_regular(path, max_bytes=MAX_CONFIG_BYTES):
    """(bytes, fstat) of a regular file with one link and at most max_bytes, or (None, None) when it is missing."""
    try:
        dir_fd, fd, st = open_leaf(path)
    except Missing:
        return None, None
    try:
        if fd is None:
            return None, None
        check_regular(path, st, max_bytes)
        data = b""
        while len(data) <= max_bytes:
            chunk = os.read(fd, max_bytes + 1 - len(data))
            if not chunk:
                break
            data += chunk
        if len(data) > max_bytes:
            raise UnsafePath("%s grew past %d bytes while it was read" % (path, max_bytes))
        return data, st
    finally:
        if fd is not None:
            os.close(fd)
        os.close(dir_fd)


def replace_file(path, data, mode, uid, gid):
    """Write data as path: a new file in the same folder (mode, owner set on its descriptor), synced, renamed over.

    Nothing is written through a link: the new file is created exclusively, and the rename replaces whatever
    the name points at, a link included, without following it.
    """
    dir_fd = open_dir(os.path.dirname(path) or "/")
    name = os.path.basename(path)
    tmp = None
    try:
        for attempt in range(100):
            candidate = ".%s.%d.%d.tmp" % (name, os.getpid(), attempt)
            try:
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                             0o600, dir_fd=dir_fd)
            except FileExistsError:
                continue
            tmp = candidate
            break
        else:
            raise UnsafePath("cannot create a temporary file beside %s" % path)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        tmp = None
        os.fsync(dir_fd)
    except OSError as exc:
        raise UnsafePath("cannot write a new %s: %s; the original is unchanged" % (path, exc.strerror or exc))
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
        os.close(dir_fd)


def remove_file(path):
    """Remove path when it is a file or a link (the link itself); True when something was removed."""
    try:
        dir_fd = open_dir(os.path.dirname(path) or "/")
    except Missing:
        return False
    name = os.path.basename(path)
    try:
        st = _lstat_at(dir_fd, name)
        if st is None:
            return False
        if stat.S_ISDIR(st.st_mode):
            raise UnsafePath("%s is a folder; refusing to remove it" % path)
        os.unlink(name, dir_fd=dir_fd)
        return True
    except OSError as exc:
        raise UnsafePath("cannot remove %s: %s" % (path, exc.strerror or exc))
    finally:
        os.close(dir_fd)


# ---- folders ------------------------------------------------------------------------------

@contextlib.contextmanager
def parent_of(path, missing=None):
    """(descriptor of path's folder, reached as open_dir reaches it, path's last name); closed after.

    With missing given, a folder that does not exist yields (None, name), for the caller to return missing.
    """
    name = os.path.basename(path)
    try:
        dir_fd = open_dir(os.path.dirname(path) or "/")
    except Missing:
        if missing is None:
            raise
        yield None, name
        return
    try:
        yield dir_fd, name
    finally:
        os.close(dir_fd)


def stat_dir(path):
    """The fstat of the folder at path, reached as open_dir reaches it (Missing when it does not exist)."""
    fd = open_dir(path)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def lstat_leaf(path):
    """The lstat of path's last component (never followed), reached as open_dir reaches its folder; None when missing."""
    with parent_of(path, missing=True) as (dir_fd, name):
        return None if dir_fd is None else _lstat_at(dir_fd, name)


def describe_path(path):
    """What is at path, for a message (describe, from its folder reached as open_dir reaches it)."""
    try:
        with parent_of(path) as (dir_fd, name):
            return describe(dir_fd, name, path)
    except UnsafePath as exc:
        return "unreachable (%s)" % exc


def make_dir(path, mode, uid, gid):
    """Create the folder path (its parent must exist), owner and mode set on its descriptor; never through a link."""
    with parent_of(path) as (dir_fd, name):
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
            fd = os.open(name, _DIR, dir_fd=dir_fd)
            try:
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
            os.fsync(dir_fd)
        except OSError as exc:
            raise UnsafePath("cannot create the folder %s: %s" % (path, exc.strerror or exc))


def set_dir_attributes(path, uid, gid, mode):
    """Give the existing folder path (not a link) this owner, group and mode."""
    with parent_of(path) as (dir_fd, name):
        try:
            fd = os.open(name, _DIR, dir_fd=dir_fd)
        except OSError as exc:
            raise UnsafePath("cannot set the owner or mode of the folder %s (%s): %s"
                             % (path, describe(dir_fd, name, path), exc.strerror))
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
        except OSError as exc:
            raise UnsafePath("cannot set the owner or mode of the folder %s: %s" % (path, exc.strerror or exc))
        finally:
            os.close(fd)


def remove_empty_dir(path):
    """Remove the folder path if it is empty; True when removed, False when missing or not empty."""
    with parent_of(path, missing=True) as (dir_fd, name):
        if dir_fd is None:
            return False
        try:
            os.rmdir(name, dir_fd=dir_fd)
            return True
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTEMPTY, errno.EEXIST):
                return False
            raise UnsafePath("cannot remove the folder %s: %s" % (path, exc.strerror or exc))


# ---- trees --------------------------------------------------------------------------------

class Tree(object):
    """What a walk found under a folder: what could be handed over, and what is left alone, by path."""

    def __init__(self, top):
        self.top = top
        self.owners = set()     # (uid, gid) of the folders, files and FIFOs a hand-over changes
        self.links = []         # symbolic links: never followed, never changed
        self.hardlinks = []     # regular files with other hard links: never changed
        self.special = []       # sockets and devices: left alone
        self.changed = []       # [relative path, uid, gid before] of what was (or would be) handed over
        self.count = 0

    def report(self):
        return {"links": self.links, "hardlinks": self.hardlinks, "special": self.special}


def _walk(dir_fd, rel, tree, depth):
    """Yield (relative path, fstat, descriptor) of each folder, regular file and FIFO under dir_fd, recording the rest."""
    if depth > MAX_DEPTH:
        raise UnsafePath("%s is nested more than %d folders deep" % (os.path.join(tree.top, rel), MAX_DEPTH))
    with os.scandir(dir_fd) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        tree.count += 1
        if tree.count > MAX_ENTRIES:
            raise UnsafePath("%s holds more than %d entries" % (tree.top, MAX_ENTRIES))
        path = os.path.join(rel, name)
        st = _lstat_at(dir_fd, name)
        if st is None:
            continue
        if stat.S_ISLNK(st.st_mode):
            tree.links.append(path)
            continue
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            tree.special.append(path)
            continue
        try:
            fd = os.open(name, _DIR if stat.S_ISDIR(st.st_mode) else _READ, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                tree.links.append(path)  # swapped for something else while we looked: leave it
                continue
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
                tree.hardlinks.append(path)
                continue
            yield path, st, fd
            if stat.S_ISDIR(st.st_mode):
                yield from _walk(fd, path, tree, depth + 1)
        finally:
            os.close(fd)


def walk_tree(top, tree=None):
    """Yield (relative path, fstat, descriptor) of top and of every folder, file and FIFO under it (see _walk)."""
    tree = tree if tree is not None else Tree(top)
    fd = open_dir(top)
    try:
        yield "", os.fstat(fd), fd
        yield from _walk(fd, "", tree, 1)
    finally:
        os.close(fd)


def read_tree(top):
    """A Tree with the owners of everything a hand-over would change; None when top does not exist."""
    if not os.path.lexists(top):
        return None
    tree = Tree(top)
    for _path, st, _fd in walk_tree(top, tree):
        tree.owners.add((st.st_uid, st.st_gid))
    return tree


def hand_over(top, uid, gid, check_mode=False):
    """Give top and everything under it to uid:gid, except links, hard-linked files and devices (reported)."""
    tree = Tree(top)
    for path, st, fd in walk_tree(top, tree):
        tree.owners.add((st.st_uid, st.st_gid))
        if (st.st_uid, st.st_gid) != (uid, gid):
            tree.changed.append([path, st.st_uid, st.st_gid])
            if not check_mode:
                os.fchown(fd, uid, gid)
    return tree


def open_beneath(top_fd, rel, directory=False):
    """A descriptor of rel under top_fd, no component followed; None when it is missing or not what it was."""
    fd = os.dup(top_fd)
    parts = _split(rel)
    try:
        for index, name in enumerate(parts):
            last = index == len(parts) - 1
            child = os.open(name, _DIR if (directory or not last) else _READ, dir_fd=fd)
            os.close(fd)
            fd = child
        return fd
    except OSError:
        os.close(fd)
        return None


def give_back(top, changes):
    """Undo a hand-over: each [relative path, uid, gid] gets its owner back, with the same rules as hand_over."""
    restored, skipped = 0, []
    top_fd = open_dir(top)
    try:
        for rel, uid, gid in changes:
            fd = top_fd if rel in ("", ".") else open_beneath(top_fd, rel)
            if fd is None:
                skipped.append(rel)
                continue
            try:
                st = os.fstat(fd)
                if not stat.S_ISDIR(st.st_mode) and (st.st_nlink > 1 or not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode))):
                    skipped.append(rel)
                    continue
                os.fchown(fd, uid, gid)
                restored += 1
            finally:
                if fd != top_fd:
                    os.close(fd)
    finally:
        os.close(top_fd)
    return restored, skipped
