"""Fixtures of the module tests: a module's result as a device returns it."""

import pytest

from ansible.module_utils import _internal
from ansible.module_utils.common import warnings


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """A module's warnings in its own result, as on a device.

    ansible-core keeps them in globals (one test's must not show in the next's result), and sends them to the
    controller's display instead once controller code (the inventory plugin's tests) has been imported.
    """
    monkeypatch.setattr(_internal, "is_controller", False)
    monkeypatch.setattr(warnings, "_global_warnings", {})
    monkeypatch.setattr(warnings, "_global_deprecations", {})


@pytest.fixture
def warning_messages():
    """warning_messages(result): the text of each warning in a module's result (ansible-core 2.19 returns events)."""
    return lambda result: [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
