"""agent_config on a real device: the agent restarts once and keeps running."""

import json

import pytest

from qbee_checks import CONFIG, fresh_status, start_count
EXPECTED = (
    '{"server":"device.app.qbee.io","port":"443","elevation_command":["/usr/bin/sudo","-n"],'
    '"http_proxy_server":"proxy.invalid","http_proxy_port":"3128","http_proxy_pass":"not-a-real-password"}'
)


def test_config_merged_in_the_agents_layout(host):
    config = host.file(CONFIG)
    assert config.content_string == EXPECTED
    assert (config.user, config.group, config.mode) == ("root", "root", 0o600)
    backups = host.check_output("ls /etc/qbee").split()
    assert any(name.startswith("qbee-agent.json.") and name.endswith("~") for name in backups)


def test_agent_restarted_exactly_once_and_runs_with_the_new_config(host):
    assert host.service("qbee-agent").is_running
    # One start at boot, one from the handler; none from the idempotence run.
    assert start_count(host) == 2
    report = fresh_status(host)
    assert report["config"]["elevation_command"] == ["/usr/bin/sudo", "-n"]
    assert report["config"]["http_proxy_pass"] == "********"
    assert report["elevation"]["ok"] is True


def run_module(host, args, check=False):
    """Run agent_config on the device. With ansible-core 2.19, ``ansible --tree``
    (which testinfra reads) no longer carries ``failed``, so failures are told by
    the missing ``config`` that every success returns."""
    return host.ansible("qbee.unprivileged.agent_config", json.dumps(args), check=check, become=False)


@pytest.mark.parametrize("args, message", [
    ({"elevation_command": ["/usr/local/bin/nonexistent-sudo", "-n"]}, "does not exist on this host"),
    ({"settings": {"port": "abc"}}, "settings.port must be a port number"),
    ({"settings": {"unknown_key": 1}}, "settings.unknown_key is not a key qbee-agent knows"),
    ({"remove": ["tpm_device"], "settings": {"tpm_device": "/dev/tpmrm0"}}, "tpm_device is both set and removed"),
])
def test_bad_input_leaves_the_device_as_it_was(host, args, message):
    before = host.file(CONFIG).content_string
    result = run_module(host, args)
    assert "config" not in result and message in result["msg"], result
    assert host.file(CONFIG).content_string == before
    assert host.service("qbee-agent").is_running


def test_check_mode_shows_the_change_and_writes_nothing(host):
    before = host.file(CONFIG).content_string
    result = run_module(host, {"elevation_command": []}, check=True)
    assert result["changed"] is True
    assert "elevation_command" not in result["config"]
    assert host.file(CONFIG).content_string == before
