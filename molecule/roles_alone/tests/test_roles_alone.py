"""Each role alone: its own drop-in (or sudoers file), nothing else, one restart."""

import json

import pytest

from qbee_checks import AGENT, CONFIG, SUDOERS, dropins, fresh_status, start_count

OWN_DROPIN = {
    "qbee-alone-base": ["10-unprivileged.conf"],
    "qbee-alone-console": ["20-remote-console.conf"],
    "qbee-alone-sudoers": [],
    "qbee-alone-docker": ["30-docker.conf"],
    "qbee-alone-podman": ["40-podman.conf"],
    "qbee-alone-tpm": ["50-tpm.conf"],
}


@pytest.fixture(scope="module")
def name(host):
    return host.backend.get_hostname()


@pytest.fixture(scope="module")
def report(host):
    return fresh_status(host)


def test_only_its_own_dropin(host, name):
    assert dropins(host) == OWN_DROPIN[name]


def test_restarted_exactly_once(host):
    assert start_count(host) == 2


def test_sudoers_file_only_where_the_sudoers_role_ran(host, name):
    assert host.file(SUDOERS).exists == (name == "qbee-alone-sudoers")
    config = json.loads(host.file(CONFIG).content_string)
    assert ("elevation_command" in config) == (name == "qbee-alone-sudoers")


def test_agent_user_only_where_base_or_podman_ran(host, name, report):
    assert host.user(AGENT).exists == (name in ("qbee-alone-base", "qbee-alone-podman"))
    if name == "qbee-alone-base":
        assert report["user"] == AGENT and report["gid"] == host.group(AGENT).gid
        assert host.file("/etc/qbee").user == AGENT
    else:
        assert report["user"] == "root"
        assert host.file("/etc/qbee").user == "root"


def test_feature_works_for_the_root_agent_too(host, name, report):
    if name == "qbee-alone-console":
        assert report["console_shell"] == "/bin/bash"
    elif name == "qbee-alone-sudoers":
        assert host.file(SUDOERS).contains("qbee-agent ALL=(ALL) NOPASSWD: ALL")
        # The agent user does not exist here (base did not run), so sudo -l -U cannot list it.
        assert host.run("visudo -cf %s" % SUDOERS).rc == 0
        assert report["elevation"]["mode"] == "root" and report["elevation"]["ok"]
    elif name == "qbee-alone-docker":
        assert "docker" in report["group_names"] and report["docker_socket"]["ping"] is True
    elif name == "qbee-alone-podman":
        assert report["podman_socket"]["ping"] is True, report["podman_socket"]
    elif name == "qbee-alone-tpm":
        assert "tss" in report["group_names"] and report["tpm"]["device"] == "/dev/tpmrm0"
        assert report["tpm"]["accessible"] is True
    else:
        # Without the remote_console role the console would start nologin.
        assert report["console_shell"] == "/usr/sbin/nologin"
