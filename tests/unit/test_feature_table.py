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
