"""What the project says it supports is what it tests: the cores with pins,
the range in meta/runtime.yml, the core in the execution environment, and
the cores the Makefile runs."""

import glob
import os
import re

import yaml
from ansible.module_utils.compat.version import LooseVersion

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def pinned_cores():
    cores = {}
    for path in glob.glob(os.path.join(REPO, "constraints", "ansible-core-*.txt")):
        with open(path) as handle:
            text = handle.read()
        pin = re.search(r"^ansible-core==(\S+)$", text, re.M).group(1)
        cores[re.search(r"ansible-core-(\d+\.\d+)\.txt$", path).group(1)] = (pin, text)
    return cores


def read_yaml(*parts):
    with open(os.path.join(REPO, *parts)) as handle:
        return yaml.safe_load(handle)


def test_each_constraints_file_pins_its_own_core_a_python_and_a_collections_source():
    cores = pinned_cores()
    assert sorted(cores) == ["2.19", "2.20", "2.21"]
    for core, (pin, text) in cores.items():
        assert pin.startswith(core + "."), (core, pin)
        assert re.search(r"^# python: 3\.\d+", text, re.M), core
        source = re.search(r"^# collections-source: ansible==(\d+)\.", text, re.M)
        # ansible 12 ships core 2.19, 13 ships 2.20, 14 ships 2.21.
        assert source and int(source.group(1)) == int(core.split(".")[1]) - 7, (core, source)


def test_requires_ansible_is_exactly_the_tested_cores():
    spec = read_yaml("meta", "runtime.yml")["requires_ansible"]
    cores = sorted(pinned_cores(), key=LooseVersion)
    assert spec == ">=%s.0,<2.%d.0" % (cores[0], int(cores[-1].split(".")[1]) + 1)


def test_the_makefile_tests_every_pinned_core():
    with open(os.path.join(REPO, "Makefile")) as handle:
        makefile = handle.read()
    main = re.search(r"^CORE \?= (\S+)$", makefile, re.M).group(1)
    compat = re.search(r"^COMPAT_CORES \?= (.+)$", makefile, re.M).group(1).split()
    assert sorted([main] + compat) == sorted(pinned_cores())
    assert main == max(pinned_cores(), key=LooseVersion)


def test_the_execution_environment_runs_the_main_core_and_declares_the_collection_s_needs():
    definition = read_yaml("execution-environment.yml")
    assert definition["version"] == 3
    core_pin, _text = pinned_cores()["2.21"]
    assert definition["dependencies"]["ansible_core"]["package_pip"] == "ansible-core==" + core_pin
    assert re.fullmatch(r"ansible-runner==[\d.]+", definition["dependencies"]["ansible_runner"]["package_pip"])
    meta = read_yaml("meta", "execution-environment.yml")
    assert meta == {"version": 1, "dependencies": {}}
