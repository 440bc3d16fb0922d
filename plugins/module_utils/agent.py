# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the modules of qbee.unprivileged share: qbee-agent's secrets, and writing a file safely."""

from __future__ import annotations

import errno
import os
import tempfile

MASK = "********"
# Keys of qbee-agent.json whose values are never shown.
SECRET_KEYS = ("bootstrap_key", "http_proxy_pass")


def mask_secrets(config):
    """A copy of a parsed qbee-agent.json with the secret values masked.

    Key names match case-insensitively, as the agent matches them.
    """
    return dict((k, MASK if k.lower() in SECRET_KEYS and v not in (None, "") else v) for k, v in config.items())


class WriteError(Exception):
    """A new file could not be written; the message says why, the original is unchanged."""


def write_beside(dest, data, mode=None, owner_of=None):
    """Write data to a new temporary file in dest's folder, synced to disk, and return its path.

    The file gets `mode` (an int) and the uid and gid of `owner_of` (an os.stat_result) before
    anything else can see it. On failure nothing is left behind and WriteError says why.
    """
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), suffix=".tmp",
                                   dir=os.path.dirname(dest) or ".")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            if owner_of is not None:
                os.fchown(handle.fileno(), owner_of.st_uid, owner_of.st_gid)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        hint = {
            errno.ENOSPC: " (the file system is full)",
            errno.EROFS: " (the file system is read-only)",
            errno.EDQUOT: " (disk quota exceeded)",
        }.get(exc.errno, "")
        raise WriteError("cannot write a new %s: %s%s; the original is unchanged" % (dest, exc.strerror or exc, hint))
    return tmp
