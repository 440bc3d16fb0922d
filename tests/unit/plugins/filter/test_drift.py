"""The drift filter: which declared entries the preflight found otherwise (unread counts as different)."""

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.qbee.unprivileged.plugins.filter.drift import drift as drift_of

FOLDER = "/etc/systemd/system/qbee-agent.service.d"
DROPIN = FOLDER + "/30-docker.conf"
DECLARED = [dict(path=FOLDER, state="directory", owner="root", group="root", mode="0755"),
            dict(path=DROPIN, content="[Service]\n", owner="root", group="root", mode="0644")]
READ = {FOLDER: dict(exists=True, type="directory", owner="root", group="root", mode="0755", content=None),
        DROPIN: dict(exists=True, type="file", owner="root", group="root", mode="0644", content="[Service]\n")}


def drift(entries, files):
    """The filter over a declaration of files alone."""
    return drift_of({"files": entries}, {"files": files})


def test_as_declared_is_no_drift():
    assert drift(DECLARED, READ) == []


@pytest.mark.parametrize("path, change", [
    (DROPIN, dict(content="[Service]\nUser=root\n")),
    (DROPIN, dict(content=None)),           # could not be read: a link, too large, hard-linked
    (DROPIN, dict(mode="0664")),
    (DROPIN, dict(owner="qbee-agent")),
    (DROPIN, dict(group="qbee-agent")),
    (DROPIN, dict(type="link")),
    (DROPIN, dict(exists=False, type=None)),
    (FOLDER, dict(mode="0777")),
    (FOLDER, dict(type="file")),
    (FOLDER, dict(exists=False, type=None)),
])
def test_each_difference_is_drift(path, change):
    read = dict(READ, **{path: dict(READ[path], **change)})
    assert drift(DECLARED, read) == [path]


def test_what_the_preflight_did_not_read_is_drift():
    assert drift(DECLARED, {FOLDER: READ[FOLDER]}) == [DROPIN]


def test_absent_drifts_only_where_something_is():
    declared = [dict(path=DROPIN, state="absent")]
    assert drift(declared, {DROPIN: dict(exists=False)}) == []
    assert drift(declared, {DROPIN: dict(exists=True, type="link")}) == [DROPIN]


def test_undeclared_attributes_are_not_compared_and_modes_compare_as_numbers():
    read = {DROPIN: dict(READ[DROPIN], owner="nobody", mode="644")}
    assert drift([dict(path=DROPIN, content="[Service]\n", mode="0644")], read) == []


def test_an_int_mode_is_the_mode_itself_as_the_module_takes_it():
    read = {DROPIN: dict(READ[DROPIN], mode="0420")}
    assert drift([dict(path=DROPIN, content="[Service]\n", mode=420)], read) == [DROPIN]
    assert drift([dict(path=DROPIN, content="[Service]\n", mode=0o420)], read) == []


@pytest.mark.parametrize("declaration, info", [("x", {}), ({"files": [{"state": "file"}]}, {}), ({"files": "x"}, {}),
                                               ({}, []), ({}, {"files": []})])
def test_bad_input_is_named(declaration, info):
    with pytest.raises(AnsibleFilterError, match="^drift takes"):
        drift_of(declaration, info)


class Tagged(str):
    """A str subclass, as ansible-core's data tagging hands values to a filter."""


CONFIG = "/etc/qbee/qbee-agent.json"
SUDO = ["/usr/bin/sudo", "-n", "/usr/local/sbin/qbee-agent-elevate"]


@pytest.mark.parametrize("data, declared, differs", [
    ({"server": "x", "elevation_command": SUDO}, {"elevation_command": SUDO}, False),
    ({"server": "x"}, {"elevation_command": SUDO}, True),
    ({"server": "x", "Elevation_Command": SUDO}, {"elevation_command": SUDO}, True),   # the module renames it
    ({"elevation_command": SUDO[:2]}, {"elevation_command": SUDO}, True),
    ({"server": "x"}, {"elevation_command": []}, False),
    ({"ELEVATION_COMMAND": SUDO}, {"elevation_command": []}, True),
    ({"tpm_device": "/dev/tpmrm0"}, {"settings": {"tpm_device": "/dev/tpmrm0"}}, False),
    ({"tpm_device": "/dev/tpm0"}, {"settings": {"TPM_device": "/dev/tpmrm0"}}, True),
    ({"port": "443"}, {"settings": {"port": 443}}, False),                              # written as a string
    (None, {"elevation_command": SUDO}, True),                                           # not read: differs
    ({}, {"settings": {"no_such_key": 1}}, True),                                        # bad input: the module says why
])
def test_configuration_keys_compare_as_the_module_compares_them(data, declared, differs):
    # Values reach the filter as Ansible's own str and list subclasses: compared as the JSON they are.
    declared = dict((k, [Tagged(v) for v in value] if isinstance(value, list) else value) for k, value in declared.items())
    result = drift_of({"files": [], "config": declared}, {"files": {}, "config": {"data": data}})
    assert result == ([CONFIG] if differs else [])
