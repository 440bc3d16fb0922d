# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the modules of qbee.unprivileged share: qbee-agent's keys, their types and secrets, and owner names."""

from __future__ import annotations

import grp
import pwd

MASK = "********"
# Keys of qbee-agent.json whose values are never shown.
SECRET_KEYS = ("bootstrap_key", "http_proxy_pass")
STRING_KEYS = ("server", "device_name", "http_proxy_server", "http_proxy_user")
PORT_KEYS = ("port", "http_proxy_port")
PATH_KEYS = ("tpm_device", "ca_cert")
BOOL_KEYS = ("disable_remote_access",)
# The JSON type the agent decodes each key into.
AGENT_TYPES = dict(
    [(k, "string") for k in STRING_KEYS + PORT_KEYS + PATH_KEYS + SECRET_KEYS]
    + [(k, "boolean") for k in BOOL_KEYS]
    + [("elevation_command", "list of strings")]
)


def json_type(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def agent_type_problem(data):
    """(key, JSON type found, type needed) of the first key the agent could not decode, or None.

    The agent refuses to start with such a file, so no module writes one.
    """
    for key, value in data.items():
        expected = AGENT_TYPES.get(key.lower())
        if expected is None or value is None:
            continue
        if expected == "string" and isinstance(value, str):
            continue
        if expected == "boolean" and isinstance(value, bool):
            continue
        if expected == "list of strings" and isinstance(value, list) and all(
            isinstance(v, str) or v is None for v in value
        ):
            continue
        return key, json_type(value), expected
    return None


def mask_secrets(config):
    """A copy of a parsed qbee-agent.json with the secret values masked.

    Key names match case-insensitively, as the agent matches them.
    """
    return dict((k, MASK if k.lower() in SECRET_KEYS and v not in (None, "") else v) for k, v in config.items())


def user_name(uid):
    """The user's name, or the number where the uid has none."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid):
    """The group's name, or the number where the gid has none."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def owner_name(uid, gid):
    """user:group, as the roles compare owners."""
    return "%s:%s" % (user_name(uid), group_name(gid))
