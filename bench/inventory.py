"""How much controller CPU the inventory plugin needs for a large fleet.

Serves N fake devices (tests/support/fake_qbee_api.py, 127.0.0.1 only) and
runs `ansible-inventory --graph -vvv` against them R times. Reports, per run,
the plugin's own CPU time for fetching every page and for building hosts,
groups and variables (it prints both at -vvv), and the whole process's CPU
(user+sys, including ansible-inventory's start-up and output), with medians.

    python bench/inventory.py [--devices 10000] [--repeat 5]
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "support"))

from fake_qbee_api import FakeQbeeApi, Fleet, device  # noqa: E402  pylint: disable=wrong-import-position

REPORT = re.compile(r"qbee: (\d+) devices from .* in ([\d.]+) s CPU, inventory built in ([\d.]+) s CPU")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rows = []
    with FakeQbeeApi({"bench": Fleet([device(i) for i in range(args.devices)])}) as api, \
            tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "bench.qbee.yml")
        with open(source, "w", encoding="utf-8") as handle:
            json.dump({"plugin": "qbee.unprivileged.qbee", "base_url": api.base_url}, handle)
        env = dict(os.environ, QBEE_TOKEN="bench", ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
        for _run in range(args.repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.run(["ansible-inventory", "-i", source, "--graph", "-vvv"], env=env,
                                  capture_output=True, text=True, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            found = REPORT.search(proc.stdout)
            if not found or int(found.group(1)) != args.devices:
                sys.exit("the plugin did not report listing %d devices:\n%s" % (args.devices, proc.stdout[-2000:]))
            total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            rows.append((float(found.group(2)), float(found.group(3)), total))
            print("fetch %.2f s  build %.2f s  plugin %.2f s  whole ansible-inventory %.2f s" % (
                rows[-1][0], rows[-1][1], rows[-1][0] + rows[-1][1], total))
    fetch, build, total = (statistics.median(column) for column in zip(*rows))
    print("median of %d, %d devices: fetch %.2f s, build %.2f s, plugin %.2f s, whole process %.2f s CPU"
          % (args.repeat, args.devices, fetch, build, statistics.median(r[0] + r[1] for r in rows), total))


if __name__ == "__main__":
    main()
