"""The render lookup: the text ansible.builtin.template's lookup renders, for
the same template and variables, without copying the variables first."""

import json
import os
import subprocess
import sys

import pytest

TEMPLATE = r"""{{ ansible_managed | comment }}
[Service]
User={{ user }}
{% for group in groups_wanted %}
SupplementaryGroups={{ group }}
{% endfor %}
{% if info.paths['/bin/bash'].exists %}
Environment=SHELL=/bin/bash
{% endif %}
ExecStart=/bin/sh -c 'printf "%%s\n" {{ "a\\b" }} \\ end'
Literal=\n \t {{ '\\' }}

"""

PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    user: qbee-agent
    groups_wanted: [docker, tss]
    info: {paths: {/bin/bash: {exists: true}}}
  tasks:
    - name: Render both ways
      ansible.builtin.copy:
        content: "{{ {'render': lookup('qbee.unprivileged.render', template)}
                     | combine({'builtin': lookup('ansible.builtin.template', template)} if compare | bool else {}) | to_json }}"
        dest: %(dest)s
        mode: "0600"
"""


def render(tmp_path, extra=None, template_text=TEMPLATE, template_name="unit.conf.j2", compare=True):
    template = tmp_path / template_name
    if template_text is not None:
        template.write_text(template_text)
    dest = tmp_path / "out.json"
    play = tmp_path / "play.yml"
    play.write_text(PLAY % {"dest": dest})
    variables = dict({"template": str(template), "compare": compare}, **(extra or {}))
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run([ansible, "-i", "localhost,", "-c", "local", str(play), "-e", json.dumps(variables)],
                          capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0"))
    return proc, (json.loads(dest.read_text()) if proc.returncode == 0 else None)


def test_renders_what_the_builtin_lookup_renders(tmp_path):
    proc, out = render(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["render"] == out["builtin"]
    assert out["render"].startswith("#\n# Ansible managed\n#\n[Service]\nUser=qbee-agent\n")
    assert "SupplementaryGroups=docker\nSupplementaryGroups=tss\nEnvironment=SHELL=/bin/bash\n" in out["render"]
    assert out["render"].endswith("\n\n")


def test_ansible_managed_set_by_the_user_is_kept(tmp_path):
    proc, out = render(tmp_path, {"ansible_managed": "Managed by the fleet team"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out["render"] == out["builtin"]
    assert out["render"].startswith("#\n# Managed by the fleet team\n#\n")


def test_a_missing_template_names_the_file(tmp_path):
    proc, out = render(tmp_path, template_text=None, template_name="missing.j2", compare=False)
    assert proc.returncode != 0 and out is None
    assert "qbee.unprivileged.render: the template file %s could not be found" % (tmp_path / "missing.j2") in proc.stdout


@pytest.mark.parametrize("name", ["base", "docker", "podman", "remote_console", "sudoers", "tpm"])
def test_the_roles_use_it_for_every_template(name):
    """ansible.builtin.template's lookup copies every variable, the preflight's
    read among them, on each evaluation: the roles use this one instead."""
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
    for folder in ("vars", "tasks"):
        for path in os.listdir(os.path.join(root, "roles", name, folder)):
            with open(os.path.join(root, "roles", name, folder, path)) as handle:
                assert "ansible.builtin.template'" not in handle.read(), path
