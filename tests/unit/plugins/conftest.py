"""Fixtures shared by the module and module_utils tests."""

import os

import pytest

from ansible_collections.qbee.unprivileged.plugins.module_utils import fs


def pytest_configure(config):
    config.addinivalue_line("markers", "root(reason): needs root (files given to other users or to root, root's links)")


def pytest_runtest_setup(item):
    marker = item.get_closest_marker("root")
    if marker and os.geteuid() != 0:
        pytest.skip("needs root: %s" % marker.kwargs.get("reason", "it gives files to other users"))


class OsWith(object):
    """The os module as module_utils/fs sees it, with some functions replaced; os itself stays as it is."""

    def __init__(self, **replaced):
        self.__dict__.update(replaced)

    def __getattr__(self, name):
        return getattr(os, name)


@pytest.fixture
def fs_os(monkeypatch):
    """fs_os(open=..., write=...) replaces those functions for module_utils/fs only, until the test ends."""
    def replace(**functions):
        monkeypatch.setattr(fs, "os", OsWith(**functions))
    return replace
