"""Helpers for reading the qbee-agent stand-in's reports on a test device."""

import json
import time

import pytest

STATUS = "/var/lib/qbee/standin-status.json"
START_LOG = "/var/lib/qbee/standin-starts.log"


def read_status(host):
    return json.loads(host.file(STATUS).content_string)


def start_count(host):
    return len(host.file(START_LOG).content_string.splitlines())


def wait_for(predicate, timeout=30, interval=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@pytest.fixture
def status(host):
    return read_status(host)
