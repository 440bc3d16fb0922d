"""A module's result as a test compares it: the JSON it printed, without
ansible-core's private ``_ansible_*`` keys, whose set changes between
releases (2.22 adds ``_ansible_new_secrets`` to every result)."""

import json


def module_result(capsys):
    """The result the module under test printed, its public keys only."""
    result = json.loads(capsys.readouterr().out)
    return {key: value for key, value in result.items() if not key.startswith("_ansible_")}
