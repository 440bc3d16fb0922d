"""Fleet benchmark: the site playbook against the guide's literal shell steps.

For each fleet size N it starts N fresh test devices (systemd in Docker, the
qbee-agent stand-in running as root, Docker and TPM stand-ins as in the
Molecule scenarios) and measures, in the same run on the same machine:

  converge   qbee.unprivileged.site, first run
  rerun      qbee.unprivileged.site, nothing changed
  revert     qbee.unprivileged.revert
  baseline   bench/baseline.yml on equally fresh devices

For each: wall time, controller CPU seconds (user+sys of ansible-playbook and
its children) per host, peak controller memory, tasks executed per host,
changed count, and agent restarts per host (from the stand-in's start log).
Medians over the repetitions go to docs/performance.md (with a plot) and
bench/results.json.

  python bench/run.py --sizes 1 8 24 --repeat 3 --forks 24

Run through `make bench`, which sets up the environment. Containers it starts
are labelled qbee.bench and removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DOCS = os.path.join(REPO, "docs")
PREPARE = os.path.join(REPO, "molecule", "resources", "prepare-features.yml")
BASELINE = os.path.join(HERE, "baseline.yml")
IMAGE = "qbee-test/debian:12"
LABEL = "qbee.bench"
START_LOG = "/var/lib/qbee/standin-starts.log"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")


def sh(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def start_devices(prefix, count):
    names = ["%s-%02d" % (prefix, i) for i in range(1, count + 1)]
    for name in names:
        sh(["docker", "run", "-d", "--name", name, "--hostname", name, "--label", LABEL,
            "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--cgroupns", "host",
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
            IMAGE, "/lib/systemd/systemd"])
    for name in names:
        for _attempt in range(120):  # systemd's bus answers a moment after the container starts
            try:
                proc = subprocess.run(["docker", "exec", name, "systemctl", "is-system-running", "--wait"],
                                      capture_output=True, text=True, check=False, timeout=30)
                state = proc.stdout.strip()
            except subprocess.TimeoutExpired:
                state = "initializing"
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        else:
            status = sh(["docker", "inspect", "-f", "{{.State.Status}}", name]).stdout.strip()
            raise RuntimeError(
                "test device %s did not boot (container %s, systemd %s). Many systemd containers at once need "
                "more inotify instances than Linux's default 128: sysctl -w fs.inotify.max_user_instances=1024"
                % (name, status, state))
    return names


def remove_devices():
    ids = sh(["docker", "ps", "-aq", "--filter", "label=" + LABEL]).stdout.split()
    if ids:
        sh(["docker", "rm", "-f"] + ids)


# Mitogen (--mitogen) replaces connection plugins it knows by their short names.
CONNECTION = {"default": "community.docker.docker", "mitogen": "docker"}
STRATEGY_ENV = {}


def inventory(names, directory):
    path = os.path.join(directory, "inventory.ini")
    connection = CONNECTION["mitogen" if STRATEGY_ENV else "default"]
    with open(path, "w") as handle:
        handle.write("[devices]\n")
        for name in names:
            handle.write("%s ansible_connection=%s ansible_python_interpreter=/usr/bin/python3\n" % (name, connection))
        handle.write("[devices:vars]\nqbee_agent_docker_enabled=true\nqbee_agent_tpm_enabled=true\n"
                     "qbee_agent_tpm_use_resource_manager=true\n")
    return path


# The measured command runs in a child of this helper, so that the helper's
# RUSAGE_CHILDREN is exactly the playbook's CPU time and peak memory.
# It also reads the whole machine's busy CPU time (/proc/stat: the controller,
# dockerd and the devices together), which bounds the wall time from below on
# a machine that runs the fleet too.
MEASURE = r"""
import json, os, resource, subprocess, sys, time
def busy():
    with open("/proc/stat") as handle:
        ticks = [int(v) for v in handle.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / float(os.sysconf("SC_CLK_TCK"))
start, busy_start = time.monotonic(), busy()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall, machine = time.monotonic() - start, busy() - busy_start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": proc.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "machine": machine,
                  "maxrss_kib": usage.ru_maxrss, "output": proc.stdout + proc.stderr}))
"""


def playbook(path, inv, forks, extra_env=None):
    env = dict(os.environ, ANSIBLE_FORKS=str(forks), ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0",
               ANSIBLE_PIPELINING="1", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.profile_tasks",
               PROFILE_TASKS_TASK_OUTPUT_LIMIT="200")
    env.update(STRATEGY_ENV)
    env.update(extra_env or {})
    out = sh([sys.executable, "-c", MEASURE, "ansible-playbook", "-i", inv, path], env=env).stdout
    result = json.loads(out)
    if result["rc"] != 0:
        raise RuntimeError("%s failed:\n%s" % (path, result["output"][-4000:]))
    hosts = {}
    for line in result["output"].splitlines():
        match = RECAP.match(line)
        if match:
            ok, changed, failed = int(match.group(2)), int(match.group(3)), int(match.group(5))
            hosts[match.group(1)] = {"tasks": ok + failed, "changed": changed}
    result["hosts"] = hosts
    result["profile"] = [line for line in result["output"].splitlines() if re.search(r" -{3,} \d+\.\d+s$", line)]
    return result


def start_counts(names):
    counts = {}
    for name in names:
        proc = subprocess.run(["docker", "exec", name, "cat", START_LOG], capture_output=True, text=True, check=False)
        counts[name] = len(proc.stdout.splitlines())
    return counts


def measure(label, path, inv, names, forks):
    before = start_counts(names)
    result = playbook(path, inv, forks)
    after = start_counts(names)
    devices = [n for n in names if n in result["hosts"]]
    return {
        "phase": label,
        "hosts": len(names),
        "wall_s": round(result["wall"], 2),
        "cpu_s_per_host": round(result["cpu"] / len(names), 3),
        "machine_cpu_s_per_host": round(result["machine"] / len(names), 3),
        "peak_mem_mib": round(result["maxrss_kib"] / 1024.0, 1),
        "tasks_per_host": statistics.median(result["hosts"][n]["tasks"] for n in devices),
        "changed_per_host": statistics.median(result["hosts"][n]["changed"] for n in devices),
        "restarts_per_host": statistics.median(after[n] - before[n] for n in names),
        "profile": result["profile"][:12],
    }


def one_round(size, forks, directory):
    rows = []
    names = start_devices("qbee-bench", size)
    inv = inventory(names, directory)
    playbook(PREPARE, inv, forks)
    rows.append(measure("converge", "qbee.unprivileged.site", inv, names, forks))
    rows.append(measure("rerun", "qbee.unprivileged.site", inv, names, forks))
    rows.append(measure("revert", "qbee.unprivileged.revert", inv, names, forks))
    remove_devices()
    names = start_devices("qbee-bench", size)
    inv = inventory(names, directory)
    playbook(PREPARE, inv, forks)
    rows.append(measure("baseline", BASELINE, inv, names, forks))
    remove_devices()
    return rows


def median_rows(rounds):
    merged = []
    for index, first in enumerate(rounds[0]):
        row = dict(first)
        for key in ("wall_s", "cpu_s_per_host", "machine_cpu_s_per_host", "peak_mem_mib", "tasks_per_host", "changed_per_host", "restarts_per_host"):
            row[key] = statistics.median(r[index][key] for r in rounds)
        row["repetitions"] = len(rounds)
        merged.append(row)
    return merged


def machine():
    version = sh(["ansible", "--version"]).stdout.splitlines()[0]
    return "%s, %d cores, Python %s, %s" % (platform.machine(), os.cpu_count(), platform.python_version(), version)


def write_report(results, forks):
    with open(os.path.join(HERE, "results.json"), "w") as handle:
        json.dump(dict((k, v) for k, v in results.items() if k != "notes"), handle, indent=1)
    lines = [
        "| N | phase | wall s | controller CPU s / host | machine CPU s / host | peak controller MiB "
        "| tasks / host | changed / host | restarts / host |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size, rows in sorted(results["sizes"].items(), key=lambda item: int(item[0])):
        for row in rows:
            machine_cpu = row.get("machine_cpu_s_per_host")
            lines.append("| %s | %s | %.1f | %.2f | %s | %.0f | %g | %g | %g |" % (
                size, row["phase"], row["wall_s"], row["cpu_s_per_host"],
                "-" if machine_cpu is None else "%.2f" % machine_cpu, row["peak_mem_mib"],
                row["tasks_per_host"], row["changed_per_host"], row["restarts_per_host"]))
    table = "\n".join(lines)
    plot = make_plot(results)
    text = render_performance(results, table, plot, forks)
    with open(os.path.join(DOCS, "performance.md"), "w") as handle:
        handle.write(text)


def make_plot(results):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sizes = sorted(int(s) for s in results["sizes"])
    fig, (cpu_ax, wall_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for phase in ("converge", "rerun", "revert", "baseline"):
        rows = [next(r for r in results["sizes"][str(s)] if r["phase"] == phase) for s in sizes]
        cpu_ax.plot(sizes, [r["cpu_s_per_host"] for r in rows], marker="o", label=phase)
        wall_ax.plot(sizes, [r["wall_s"] for r in rows], marker="o", label=phase)
    cpu_ax.set(xlabel="hosts (N)", ylabel="controller CPU s per host", title="Controller CPU per host")
    wall_ax.set(xlabel="hosts (N)", ylabel="wall time s", title="Wall time")
    for ax in (cpu_ax, wall_ax):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = os.path.join(DOCS, "performance.png")
    fig.savefig(path, dpi=90)
    return "performance.png"


def render_performance(results, table, plot, forks):
    head = [
        "# Performance",
        "",
        "<!-- Generated by bench/run.py (make bench); the measurements are this file's only source. -->",
        "",
        "Measured %s on %s, forks %d, medians of %d repetitions%s. Devices are systemd containers "
        "(`%s`) reached through the community.docker.docker connection, so round trips cost a "
        "`docker exec` each, not an SSH exchange."
        % (results["date"], results["machine"], forks, results["repetitions"],
           "".join(" (N=%s: %d)" % (size, count) for size, count in sorted(
               results.get("repetitions_by_size", {}).items(), key=lambda item: int(item[0]))
               if count != results["repetitions"]), IMAGE),
        "",
        "Phases: **converge** is `qbee.unprivileged.site` on fresh devices (base, remote console, "
        "sudoers `least`, docker, tpm with `/dev/tpm0` switched to `/dev/tpmrm0`; podman is skipped "
        "by `auto`, the image has none); **rerun** the same with nothing to change; **revert** "
        "`qbee.unprivileged.revert`; **baseline** `bench/baseline.yml`, the vendor guide's steps as "
        "literal shell tasks, on equally fresh devices (it also writes a linger file for podman and "
        "does no checking at all). **Machine CPU** is the busy time of all cores during the phase "
        "(controller, dockerd and the devices together) per host: on this machine the fleet and the "
        "controller share the cores, so N hosts take at least N times that divided by the cores.",
        "",
        table,
        "",
    ]
    if plot:
        head += ["![controller CPU per host and wall time against N](%s)" % plot, ""]
    return "\n".join(head) + "\n" + results.get("notes", "")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 24])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--forks", type=int, default=24)
    parser.add_argument("--no-report", action="store_true", help="print the results, do not rewrite docs/performance.md")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other sizes of bench/results.json (measured the same day), replace only these")
    parser.add_argument("--mitogen", action="store_true",
                        help="run every playbook with Mitogen's mitogen_linear strategy (pip install mitogen first); "
                             "writes bench/results-mitogen.json and leaves docs/performance.md alone")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: rewrite docs/performance.md from bench/results.json and bench/notes.md")
    args = parser.parse_args(argv)
    notes_path = os.path.join(HERE, "notes.md")
    if args.report_only:
        with open(os.path.join(HERE, "results.json")) as handle:
            results = json.load(handle)
        results["notes"] = open(notes_path).read() if os.path.exists(notes_path) else ""
        write_report(results, results.get("forks", args.forks))
        return 0
    if args.mitogen:
        try:
            import ansible_mitogen
        except ImportError:
            sys.exit("--mitogen needs Mitogen for Ansible in this Python: pip install mitogen (not a requirement "
                     "of the collection; see docs/performance.md)")
        STRATEGY_ENV.update(ANSIBLE_STRATEGY="mitogen_linear", ANSIBLE_STRATEGY_PLUGINS=os.path.join(
            os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"))
        args.no_report = True
    results = {"date": datetime.date.today().isoformat(), "machine": machine(), "repetitions": args.repeat,
               "forks": args.forks, "sizes": {}, "strategy": "mitogen_linear" if args.mitogen else "linear"}
    if os.path.exists(notes_path):
        with open(notes_path) as handle:
            results["notes"] = handle.read()
    if args.merge and not args.mitogen:
        with open(os.path.join(HERE, "results.json")) as handle:
            previous = json.load(handle)
        results["sizes"] = previous["sizes"]
        results["repetitions"] = previous["repetitions"]
        results["repetitions_by_size"] = previous.get("repetitions_by_size", {})
    directory = tempfile.mkdtemp(prefix="qbee-bench-")
    try:
        remove_devices()
        for size in args.sizes:
            rounds = []
            for repetition in range(args.repeat):
                started = time.monotonic()
                rounds.append(one_round(size, args.forks, directory))
                print("N=%d repetition %d: %.0f s" % (size, repetition + 1, time.monotonic() - started), flush=True)
            results["sizes"][str(size)] = median_rows(rounds)
            results.setdefault("repetitions_by_size", {})[str(size)] = len(rounds)
    finally:
        remove_devices()
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(results["sizes"], indent=1))
    if args.mitogen:
        with open(os.path.join(HERE, "results-mitogen.json"), "w") as handle:
            json.dump(dict((k, v) for k, v in results.items() if k != "notes"), handle, indent=1)
    if not args.no_report:
        write_report(results, args.forks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
