import pytest

from qbee_checks import read_status


@pytest.fixture
def status(host):
    return read_status(host)
