"""The switch filter: one vocabulary (true, false, auto) for every feature."""

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.qbee.unprivileged.plugins.filter import switch as plugin


@pytest.mark.parametrize("value, state", [
    (True, "present"), ("true", "present"), ("Yes", "present"), ("on", "present"), (1, "present"), ("present", "present"),
    ("y", "present"), ("T", "present"),
    (False, "absent"), ("False", "absent"), ("no", "absent"), ("off", "absent"), (0, "absent"), ("absent", "absent"),
    ("n", "absent"), ("f", "absent"),
    ("auto", "auto"), (" AUTO ", "auto"),
])
def test_values_become_states(value, state):
    assert plugin.switch(value, "qbee_agent_docker_enabled") == state


@pytest.mark.parametrize("value", ["maybe", "", None, 2, 1.0, "1.0", ["true"], {"a": 1}])
def test_anything_else_is_refused_naming_the_variable(value):
    with pytest.raises(AnsibleFilterError, match=r"^qbee_agent_docker_enabled must be true, false or auto, got "):
        plugin.switch(value, "qbee_agent_docker_enabled")


def test_auto_only_where_the_switch_takes_it():
    with pytest.raises(AnsibleFilterError, match=r"^qbee_agent_elevation_enabled must be true, false, got 'auto'"):
        plugin.switch("auto", "qbee_agent_elevation_enabled", auto=False)
    assert plugin.switch("yes", "qbee_agent_elevation_enabled", auto=False) == "present"


def test_the_old_state_variable_wins_with_a_deprecation(monkeypatch):
    said = []
    monkeypatch.setattr(plugin.Display, "deprecated", lambda self, msg, **kw: said.append((msg, kw)))
    assert plugin.switch(True, "qbee_agent_docker_enabled", old="absent", old_name="qbee_agent_docker_state") == "absent"
    assert said == [("qbee_agent_docker_state is deprecated: set qbee_agent_docker_enabled (true, false or auto) instead",
                     {"version": "3.0.0", "collection_name": "qbee.unprivileged"})]
    with pytest.raises(AnsibleFilterError, match=r"^qbee_agent_docker_state must be true, false or auto, got 'sometimes'"):
        plugin.switch(True, "qbee_agent_docker_enabled", old="sometimes", old_name="qbee_agent_docker_state")


def test_the_plugin_offers_the_filter():
    assert plugin.FilterModule().filters() == {"switch": plugin.switch}
