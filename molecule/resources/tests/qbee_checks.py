"""What every scenario reads from a test device: the stand-in agent's reports
and the system around it."""

import json
import time

STATUS = "/var/lib/qbee/standin-status.json"
START_LOG = "/var/lib/qbee/standin-starts.log"
CONFIG = "/etc/qbee/qbee-agent.json"
DROPIN_DIR = "/etc/systemd/system/qbee-agent.service.d"
SUDOERS = "/etc/sudoers.d/qbee-agent"
AGENT = "qbee-agent"


def wait_for(predicate, timeout=30, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def read_status(host):
    return json.loads(host.file(STATUS).content_string)


def fresh_status(host):
    """Ask the running agent for a new report (SIGHUP) and return it."""
    before = read_status(host)["written_at"]
    # To the main process alone: a HUP to the whole unit would also kill the
    # probes (sudo, the checker, systemctl) a report being written has running.
    host.run("systemctl kill --kill-whom=main -s HUP qbee-agent")

    def newer():
        report = read_status(host)
        return report if report["written_at"] > before else None

    report = wait_for(newer, timeout=40)
    assert report, "the agent wrote no new status after SIGHUP"
    return report


def start_count(host):
    return len(host.file(START_LOG).content_string.splitlines())


def dropins(host):
    return sorted(host.file(DROPIN_DIR).listdir()) if host.file(DROPIN_DIR).exists else []


def main_pid_user(host):
    pid = host.check_output("systemctl show -p MainPID --value qbee-agent")
    return host.check_output("stat -c %%U /proc/%s" % pid)


def assert_root_mode(host):
    """The agent as the package set it up: root, no drop-ins of ours, no elevation."""
    assert host.service("qbee-agent").is_running
    report = fresh_status(host)
    assert report["uid"] == 0 and report["user"] == "root"
    assert "elevation_command" not in report["config"]
    assert dropins(host) == []


def run_playbook(playbook, extra_vars=None, limit=None, args=()):
    """Run ansible-playbook from the controller against the scenario's devices.

    Returns (exit code, everything it printed)."""
    import os
    import subprocess

    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    argv = ["ansible-playbook", "-i", inventory, playbook, "-e", json.dumps(extra_vars or {})]
    if limit:
        argv += ["--limit", limit]
    argv += list(args)
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    env.setdefault("ANSIBLE_CONFIG", os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.cfg"))
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr
