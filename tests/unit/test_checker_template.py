"""The sudoers role's argument checker as the template renders it: a program
that runs, knows its policy, refuses with 126 and runs what it allows.
(module_utils/elevate.py's rules are tested in plugins/module_utils.)"""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLE = os.path.join(REPO, "roles", "sudoers")
PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    role_path: %(role)s
    __qbee_agent_roles_path: "{{ role_path | dirname }}"
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - ansible.builtin.copy:
        content: "{{ lookup('ansible.builtin.template', role_path ~ '/templates/usr/local/sbin/qbee-agent-elevate.j2') }}"
        dest: %(dest)s
        mode: "0755"
"""


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checker")
    dest = str(folder / "qbee-agent-elevate")
    play = folder / "render.yml"
    play.write_text(PLAY % {"role": ROLE, "dest": dest})
    extra = {"qbee_agent_user": "qbee-agent", "qbee_agent_sudoers_features": ["packages", "power"],
             "qbee_agent_sudoers_package_files": False, "qbee_agent_sudoers_checker": dest,
             "qbee_agent_sudoers_profile": "least",
             "__qbee_agent_python": sys.executable}
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run([ansible, "-i", "localhost,", "-c", "local", str(play), "-e", json.dumps(extra)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def run(checker, *argv):
    return subprocess.run([checker] + list(argv), capture_output=True, text=True, check=False,
                          env={"PATH": "/home/evil", "APT_CONFIG": "/home/evil/apt.conf"})


def test_it_starts_with_the_python_and_isolation_it_was_given(checker):
    with open(checker) as handle:
        first, second = handle.readline(), handle.readline()
    assert first == "#!%s -IS\n" % sys.executable
    assert second.startswith("#")  # ansible_managed


def test_it_refuses_what_its_policy_does_not_allow_with_126(checker):
    for argv, why in ((["/bin/sh", "-c", "id"], "not a command qbee-agent elevates"),
                      (["systemctl", "restart", "x.service"], "the services feature (systemctl) is not enabled"),
                      (["/usr/bin/dpkg", "-i", "/tmp/x.deb"], "installing package files is switched off")):
        result = run(checker, *argv)
        assert result.returncode == 126 and result.stderr.startswith("qbee-agent-elevate: denied: ") and why in result.stderr, result.stderr


@pytest.mark.skipif(not os.path.exists("/usr/bin/dpkg") or os.stat("/usr/bin/dpkg").st_uid != 0, reason="needs a root-owned dpkg")
def test_it_runs_what_it_allows_with_a_rebuilt_environment(checker):
    result = run(checker, "/usr/bin/dpkg", "-l")
    assert result.returncode == 0, result.stderr
    assert "Desired=Unknown/Install/Remove/Purge/Hold" in result.stdout


@pytest.mark.skipif(not os.path.exists("/usr/bin/dpkg") or os.stat("/usr/bin/dpkg").st_uid != 0, reason="needs a root-owned dpkg")
def test_on_a_terminal_it_starts_no_pager_and_leaves_no_prompt_to_answer(checker):
    """dpkg -l pages through less on a terminal, and less's !cmd is a root
    shell: the command must run with no pager and stdin on /dev/null."""
    import pty

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([checker, "/usr/bin/dpkg", "-l"], stdin=follower, stdout=follower, stderr=follower,
                                env={"PAGER": "less", "TERM": "xterm"})
        os.close(follower)
        follower = None
        import select
        import time

        seen, deadline = b"", time.monotonic() + 30
        while time.monotonic() < deadline:  # read what it prints; a pager would wait for keys instead of ending
            if select.select([leader], [], [], 1)[0]:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: every writer ended
                    break
                if not chunk:
                    break
                seen += chunk
        assert proc.wait(timeout=5) == 0, seen[-500:]
        assert b"Desired=Unknown" in seen and b"(END)" not in seen and b"lines " not in seen
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)
