"""The harness works: systemd is PID 1 and the stand-in agent acts like qbee-agent."""

import json
import time

from qbee_checks import STATUS, read_status, start_count, wait_for

CONFIG = "/etc/qbee/qbee-agent.json"


def test_systemd_is_pid_1_and_running(host):
    assert host.check_output("cat /proc/1/comm") == "systemd"
    assert host.run("systemctl is-system-running").stdout.strip() == "running"


def test_device_is_as_the_setup_script_leaves_it(host):
    config = host.file(CONFIG)
    assert config.user == "root" and config.mode == 0o600
    assert config.content_string == '{"server":"device.app.qbee.io","port":"443"}'
    for path in ("/etc/qbee", "/etc/qbee/ppkeys"):
        assert host.file(path).mode == 0o700 and host.file(path).user == "root"
    for key in ("ca.cert", "qbee.key", "qbee.cert"):
        key_file = host.file("/etc/qbee/ppkeys/" + key)
        assert key_file.user == "root" and key_file.mode == 0o600
    assert host.file("/var/lib/qbee").user == "root"
    assert host.package("qbee-agent").is_installed
    assert host.service("qbee-agent").is_enabled


def test_sudo_is_the_image_s(host):
    """The sudo-rs image has sudo-rs as sudo and visudo, laid out as Ubuntu does; the others the original."""
    version = host.run("sudo --version 2>&1").stdout
    if host.backend.get_hostname().endswith("rs"):
        assert version.startswith("sudo-rs 0.2.")
        assert host.file("/usr/bin/sudo").linked_to == "/usr/lib/cargo/bin/sudo"
        assert host.file("/usr/sbin/visudo").linked_to == "/usr/lib/cargo/bin/visudo"
        assert host.file("/etc/sudoers").contains("^@includedir /etc/sudoers.d")
        assert host.run("sudo.ws --version").stdout.startswith("Sudo version 1.9.")
    else:
        assert version.startswith("Sudo version 1.9.")
    assert host.run("visudo -c").rc == 0


def test_standin_runs_as_root_with_fresh_status(host, status):
    assert host.service("qbee-agent").is_running
    main_pid = int(host.check_output("systemctl show -p MainPID --value qbee-agent"))
    assert status["standin"] is True
    assert status["uid"] == 0 and status["euid"] == 0
    assert status["elevation"]["mode"] == "root" and status["elevation"]["ok"] is True
    # Ask for a report now and check it is a new one from the unit's main process.
    before = status["written_at"]
    host.run("systemctl kill --kill-whom=main -s HUP qbee-agent")
    fresh = wait_for(lambda: read_status(host)["written_at"] > before and read_status(host))
    assert fresh, "no new status report after SIGHUP"
    assert fresh["pid"] == main_pid
    device_now = float(host.check_output("date +%s.%N"))
    assert device_now - fresh["written_at"] < 10


def test_restart_adds_exactly_one_start_log_line(host):
    before = start_count(host)
    host.run_expect([0], "systemctl restart qbee-agent")
    assert wait_for(lambda: start_count(host) > before)
    time.sleep(1)
    assert start_count(host) == before + 1
    assert host.service("qbee-agent").is_running


def test_port_as_a_number_makes_the_unit_fail(host):
    original = host.file(CONFIG).content_string
    starts = start_count(host)
    try:
        broken = json.dumps({"server": "device.app.qbee.io", "port": 443}, separators=(",", ":"))
        host.run_expect([0], "printf '%%s' '%s' > %s" % (broken, CONFIG))
        host.run("systemctl restart qbee-agent")
        assert wait_for(lambda: host.run("systemctl is-failed qbee-agent").stdout.strip() == "failed")
        journal = host.check_output("journalctl -u qbee-agent --no-pager -n 20")
        assert "cannot unmarshal number into Go struct field Config.port of type string" in journal
        assert start_count(host) == starts
    finally:
        host.run_expect([0], "printf '%%s' '%s' > %s" % (original, CONFIG))
        host.run("systemctl reset-failed qbee-agent")
        host.run_expect([0], "systemctl restart qbee-agent")
    assert wait_for(lambda: start_count(host) == starts + 1)
    assert read_status(host)["config"]["port"] == "443"


def test_elevation_command_is_validated_even_as_root(host):
    original = host.file(CONFIG).content_string
    try:
        broken = json.dumps({"server": "x", "port": "443", "elevation_command": ["/nonexistent/sudo", "-n"]})
        host.run_expect([0], "printf '%%s' '%s' > %s" % (broken, CONFIG))
        result = host.run("/usr/bin/qbee-agent check")
        assert result.rc != 0
        assert "invalid elevation command" in result.stderr
    finally:
        host.run_expect([0], "printf '%%s' '%s' > %s" % (original, CONFIG))
    assert host.file(STATUS).exists
