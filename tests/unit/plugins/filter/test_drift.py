"""The drift filter: which declared entries the preflight found otherwise (unread counts as different)."""

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.qbee.unprivileged.plugins.filter.drift import drift

FOLDER = "/etc/systemd/system/qbee-agent.service.d"
DROPIN = FOLDER + "/30-docker.conf"
DECLARED = [dict(path=FOLDER, state="directory", owner="root", group="root", mode="0755"),
            dict(path=DROPIN, content="[Service]\n", owner="root", group="root", mode="0644")]
READ = {FOLDER: dict(exists=True, type="directory", owner="root", group="root", mode="0755", content=None),
        DROPIN: dict(exists=True, type="file", owner="root", group="root", mode="0644", content="[Service]\n")}


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


@pytest.mark.parametrize("entries, files", [("x", {}), ([{"state": "file"}], {}), ([], [])])
def test_bad_input_is_named(entries, files):
    with pytest.raises(AnsibleFilterError, match="^drift takes"):
        drift(entries, files)
