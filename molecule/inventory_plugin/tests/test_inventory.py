"""The site and verify playbooks, run over an inventory that only the
qbee.unprivileged.qbee plugin provides: one device reached at the address it
reported (connection: direct), one only through the qbee-cli tunnel."""

import json
import os
import re
import subprocess

from fake_qbee_api import FakeQbeeApi, Fleet, device

LAN, REMOTE = "qbee-invplugin-deb12", "qbee-invplugin-deb13"
TOKEN = "tok-molecule-S3CRET"


def docker(*argv):
    return subprocess.run(["docker", *argv], capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def agent_user(container):
    pid = docker("exec", container, "systemctl", "show", "-p", "MainPID", "--value", "qbee-agent")
    return docker("exec", container, "stat", "-c", "%U", "/proc/%s" % pid)


def run(argv, env):
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_site_and_verify_through_the_inventory_plugin(tmp_path):
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    key = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "id_ed25519")
    address = {name: docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
               for name in (LAN, REMOTE)}
    lan = device(1, title=LAN, tags=["lan"], system={"ipv4_first": address[LAN]})
    # The remote device's own address is not reachable from here: only the tunnel gets there.
    remote = device(2, title=REMOTE, tags=["remote"], system={"ipv4_first": "192.0.2.2", "remoteaddr": "192.0.2.3"})
    routes, cli_log = tmp_path / "routes.json", tmp_path / "qbee-cli.log"
    routes.write_text(json.dumps({remote["node_id"]: address[REMOTE]}))

    assert agent_user(LAN) == agent_user(REMOTE) == "root"
    with FakeQbeeApi({TOKEN: Fleet([lan, remote])}) as api:
        sources = {
            "lan.qbee.yml": {"plugin": "qbee.unprivileged.qbee", "base_url": api.base_url,
                             "connection": "direct", "search": {"tags": ["lan"]}},
            "remote.qbee.yml": {"plugin": "qbee.unprivileged.qbee", "base_url": api.base_url,
                                "search": {"tags": ["remote"]},
                                "qbee_cli_path": os.path.join(project, "tests", "support", "fake-qbee-cli")},
        }
        inventory = []
        for name, source in sources.items():
            (tmp_path / name).write_text(json.dumps(source))
            inventory += ["-i", str(tmp_path / name)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("QBEE_")}
        env.update(QBEE_TOKEN=TOKEN, FAKE_QBEE_CLI_ROUTES=str(routes), FAKE_QBEE_CLI_LOG=str(cli_log),
                   ANSIBLE_PRIVATE_KEY_FILE=key, ANSIBLE_REMOTE_USER="root", ANSIBLE_HOST_KEY_CHECKING="False",
                   ANSIBLE_PIPELINING="True", ANSIBLE_INVENTORY_UNPARSED_FAILED="True", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=10s -o UserKnownHostsFile=/dev/null")
        env.pop("ANSIBLE_CONFIG", None)  # molecule's points at its docker-connection inventory

        rc, out = run(["ansible-inventory", *inventory, "--graph"], env)
        assert rc == 0, out
        assert "@tag_lan:\n  |  |--%s" % LAN in out and "@tag_remote:\n  |  |--%s" % REMOTE in out, out

        rc, out = run(["ansible-playbook", *inventory, os.path.join(project, "playbooks", "site.yml")], env)
        assert rc == 0, out
        for name in (LAN, REMOTE):
            assert re.search(r"^%s\s+: ok=\d+\s+changed=[1-9]\d*\s+unreachable=0\s+failed=0" % name, out, re.M), out

        rc, out = run(["ansible-playbook", *inventory, os.path.join(project, "playbooks", "verify.yml")], env)
        assert rc == 0, out
        assert "All 2 devices run qbee-agent as configured." in out, out
        assert TOKEN not in out

    assert agent_user(LAN) == agent_user(REMOTE) == "qbee-agent"
    calls = [json.loads(line) for line in cli_log.read_text().splitlines()]
    assert calls and all(call == ["connect", "-d", remote["node_id"], "-t", "stdio:localhost:22"] for call in calls)
