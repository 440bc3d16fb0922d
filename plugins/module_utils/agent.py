# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the modules of qbee.unprivileged share about qbee-agent's configuration."""

from __future__ import annotations

MASK = "********"
# Keys of qbee-agent.json whose values are never shown.
SECRET_KEYS = ("bootstrap_key", "http_proxy_pass")


def mask_secrets(config):
    """A copy of a parsed qbee-agent.json with the secret values masked.

    Key names match case-insensitively, as the agent matches them.
    """
    return dict((k, MASK if k.lower() in SECRET_KEYS and v not in (None, "") else v) for k, v in config.items())
