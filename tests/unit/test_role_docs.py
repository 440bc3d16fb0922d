"""Every role documents every variable it has, with the default it really has,
and docs/roles/ is what tests/bin/role-docs generates from the specs."""

import importlib.machinery
import importlib.util
import os

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(REPO, "tests", "bin", "role-docs")
_LOADER = importlib.machinery.SourceFileLoader("role_docs", SCRIPT)
_SPEC = importlib.util.spec_from_loader("role_docs", _LOADER)
role_docs = importlib.util.module_from_spec(_SPEC)
_LOADER.exec_module(role_docs)

ROLES = role_docs.roles()


def load(role, *path):
    with open(os.path.join(REPO, "roles", role, *path)) as handle:
        return yaml.safe_load(handle) or {}


def test_every_role_is_covered():
    assert set(ROLES) == {"common", "base", "remote_console", "sudoers", "docker", "podman", "tpm"}


def first_line(option):
    description = option.get("description") or ""
    return description[0] if isinstance(description, list) else description


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_agree(role):
    defaults = load(role, "defaults", "main.yml")
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    # A deprecated variable has no default: the role tells whether it is set.
    deprecated = sorted(name for name, option in options.items() if first_line(option).startswith("Deprecated,"))
    for name in deprecated:
        assert "default" not in options[name] and name not in defaults, name
    assert sorted(defaults) == sorted(set(options) - set(deprecated)), \
        "defaults/main.yml and argument_specs.yml list different variables"
    for name, option in options.items():
        assert name.startswith("qbee_agent_"), name
        assert option.get("default") == defaults.get(name), name
        assert option.get("description") and option.get("type"), name


@pytest.mark.parametrize("role", ROLES)
def test_role_docs_are_generated_from_the_specs(role):
    with open(os.path.join(REPO, "docs", "roles", role + ".md")) as handle:
        assert handle.read() == role_docs.render(role), "run tests/bin/role-docs"
