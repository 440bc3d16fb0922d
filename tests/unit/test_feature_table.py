"""The feature table (roles/common/vars/main/features.yml) agrees with the roles it names."""

import glob
import os

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES_DIR = os.path.join(REPO, "roles")


def load(*path):
    with open(os.path.join(REPO, *path)) as handle:
        return yaml.safe_load(handle) or {}


FEATURES = load("roles", "common", "vars", "main", "features.yml")["__qbee_agent_features"]


def test_every_role_but_common_is_a_feature_of_its_own_name():
    roles = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROLES_DIR, "*")) if os.path.basename(p) != "common")
    assert sorted(FEATURES) == roles
    for name, feature in FEATURES.items():
        assert feature["role"] == "qbee.unprivileged." + name


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_switch_and_settings_are_the_roles_own_with_the_same_defaults(name):
    feature = FEATURES[name]
    defaults = load("roles", name, "defaults", "main.yml")
    specs = load("roles", name, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert feature["switch"] in defaults and feature["switch"] in specs
    settings = [read for kind in feature.get("reads", {}).values() for read in kind]
    if "group_setting" in feature:
        assert feature["group_setting"] in [read["setting"] for read in feature["reads"]["groups"]]
    for read in settings:
        assert defaults[read["setting"]] == read["default"], read["setting"]


@pytest.mark.parametrize("name", sorted(n for n in FEATURES if "dropin" in FEATURES[n]))
def test_each_dropin_is_templated_by_its_role(name):
    dropin = FEATURES[name]["dropin"]
    templates = glob.glob(os.path.join(ROLES_DIR, name, "templates", "**", dropin + ".j2"), recursive=True)
    assert templates, "roles/%s/templates has no %s.j2" % (name, dropin)
    others = [n for n, f in FEATURES.items() if n != name and f.get("dropin") == dropin]
    assert not others


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_each_role_says_whether_it_has_anything_to_do_and_acts_on_it(name):
    """The site playbook ends a device's play when no role's _todo is true, so a
    role's work must run on exactly that variable: a role whose work ran on a
    condition of its own could be left out by the site playbook."""
    todo = "__qbee_agent_%s_todo" % name
    assert todo in load("roles", name, "vars", "main.yml")
    with open(os.path.join(ROLES_DIR, name, "tasks", "main.yml")) as handle:
        tasks = handle.read()
    if name == "tpm":  # two parts, each its step's condition, the two together its _todo
        assert "when: __qbee_agent_tpm_device_todo\n" in tasks and "when: __qbee_agent_tpm_files_todo\n" in tasks
        assert "__qbee_agent_tpm_device_todo or __qbee_agent_tpm_files_todo" in load("roles", "tpm", "vars", "main.yml")[todo]
    else:
        assert "when: %s\n" % todo in tasks


def test_the_play_finds_its_roles_by_their_todo():
    """common's __qbee_agent_play_roles finds the roles of the play by the name of
    their _todo variable, in the feature table's order (base first)."""
    import re

    common = load("roles", "common", "vars", "main", "main.yml")["__qbee_agent_play_roles"]
    pattern = re.search(r"varnames', '([^']+)'", common).group(1)
    names = [name for role in sorted(FEATURES) for name in load("roles", role, "vars", "main.yml") if re.match(pattern, name)]
    found = sorted(set(re.sub(r"^__qbee_agent_(.+)_todo$", r"\1", n) for n in names) & set(FEATURES))
    assert found == sorted(FEATURES)
    assert list(FEATURES)[0] == "base"
