"""After the revert playbook the device is in root mode again, and stays usable."""

import json

from qbee_checks import AGENT, CONFIG, SUDOERS, assert_root_mode, run_playbook, start_count


def test_agent_runs_as_root_without_our_dropins(host):
    assert_root_mode(host)


def test_restarted_once_by_the_conversion_and_once_by_the_revert(host):
    # boot, site, revert; the check-mode run and the second revert add none.
    assert start_count(host) == 3


def test_elevation_and_sudoers_gone(host):
    assert "elevation_command" not in json.loads(host.file(CONFIG).content_string)
    assert not host.file(SUDOERS).exists


def test_folders_belong_to_root_again(host):
    for path in ("/etc/qbee", "/etc/qbee/ppkeys", "/etc/qbee/ppkeys/ca.cert", "/etc/qbee/qbee-agent.json", "/var/lib/qbee"):
        assert host.file(path).user == "root", path
    assert host.file("/etc/qbee").mode == 0o700 and host.file(CONFIG).mode == 0o600


def test_linger_subids_and_user_removed(host):
    assert not host.file("/var/lib/systemd/linger/%s" % AGENT).exists
    assert not host.file("/etc/tmpfiles.d/qbee-agent-linger.conf").exists
    assert not host.file("/etc/subuid").contains("^%s:" % AGENT)
    assert not host.file("/etc/subgid").contains("^%s:" % AGENT)
    assert not host.user(AGENT).exists


def test_config_otherwise_untouched(host):
    config = json.loads(host.file(CONFIG).content_string)
    # prepare-features named /dev/tpm0, and this scenario does not switch it.
    assert config == {"server": "device.app.qbee.io", "port": "443", "tpm_device": "/dev/tpm0"}


def test_verify_playbook_reports_root_mode_as_not_configured(host):
    rc, output = run_playbook("qbee.unprivileged.verify", limit=host.backend.get_hostname())
    assert rc != 0, output
    assert "1 of 1 devices are not as configured: %s" % host.backend.get_hostname() in output
    assert "the agent runs as root" in output
