"""The collection works from inside its execution environment, run as AWX runs a job."""

import glob
import json
import os

import pytest
import yaml

from qbee_checks import main_pid_user

RUNNER = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "runner")
REPO = os.environ["MOLECULE_PROJECT_DIRECTORY"]


def artifact(ident, name):
    with open(os.path.join(RUNNER, "artifacts", ident, name)) as handle:
        return handle.read().strip()


def stats(ident):
    """The play recap of a job, from ansible-runner's events."""
    for path in glob.glob(os.path.join(RUNNER, "artifacts", ident, "job_events", "*.json")):
        with open(path) as handle:
            event = json.load(handle)
        if event.get("event") == "playbook_on_stats":
            return event["event_data"]
    raise AssertionError("no play recap among the events of " + ident)


@pytest.mark.parametrize("ident", ["site-1", "site-2", "verify"])
def test_each_job_succeeded(ident):
    assert (artifact(ident, "rc"), artifact(ident, "status")) == ("0", "successful"), artifact(ident, "stdout")[-3000:]


def test_the_first_run_changed_the_device_and_the_second_nothing(host):
    name = host.check_output("hostname")
    first, second = stats("site-1"), stats("site-2")
    assert first["changed"].get(name, 0) > 0 and not first["failures"] and not first["dark"]
    assert second["changed"].get(name, 0) == 0, artifact("site-2", "stdout")[-3000:]
    assert second["ok"].get(name, 0) > 0


def test_the_agent_now_runs_unprivileged(host):
    assert main_pid_user(host) == "qbee-agent"


def test_the_ee_holds_the_collection_built_from_this_checkout():
    with open(os.path.join(RUNNER, "collections.json")) as handle:
        listed = json.load(handle)
    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        version = yaml.safe_load(handle)["version"]
    installed = {name: entry["version"] for path in listed.values() for name, entry in path.items()}
    assert installed.get("qbee.unprivileged") == version, listed
