"""The argument checker: every argv shape qbee-agent 2026.27 elevates is
allowed, each known way to turn an allowed tool into a root shell is denied."""

import collections
import os
import re
import stat

import pytest

from ansible_collections.qbee.unprivileged.plugins.module_utils import elevate

ALL = {"features": list(elevate.FEATURES), "package_files": True, "agent_user": "qbee-agent"}
Stat = collections.namedtuple("Stat", "st_uid st_mode")
Pw = collections.namedtuple("Pw", "pw_uid")
USERS = {"root": 0, "daemon": 1, "nobody": 65534, "qbee-agent": 998, "alice": 1001, "www-data": 33}
FILES = {"/etc/login.defs": "# comment\nUID_MIN\t\t\t 1000\nUID_MAX 60000\n", "/etc/shells": "# /etc/shells\n/bin/sh\n/bin/bash\n/usr/bin/bash\n"}
APT = ["/usr/bin/apt-get"] + elevate.APT_BASE


def root_lstat(path):
    """Everything is root's 0755, except what the agent user could have planted."""
    if path.startswith("/home") or path.startswith("/var/lib/qbee"):
        return Stat(998, stat.S_IFREG | 0o755)
    if path == "/usr/local/sbin" or path.startswith("/usr/local/sbin/"):
        return Stat(0, stat.S_IFDIR | 0o777)  # a world-writable folder on the way
    return Stat(0, (stat.S_IFDIR if "." not in os.path.basename(path) else stat.S_IFREG) | 0o755)


def getpwnam(name):
    if name not in USERS:
        raise KeyError(name)
    return Pw(USERS[name])


def check(argv, policy=None):
    return elevate.check(argv, policy or ALL, read=FILES.__getitem__, getpwnam=getpwnam,
                         lstat=root_lstat)


AGENT_SHAPES = [
    ["/sbin/shutdown", "-r", "+1"],
    ["/sbin/reboot"],
    ["/usr/sbin/iptables", "-t", "filter", "-S", "INPUT"],
    ["/usr/sbin/iptables", "-t", "nat", "-F", "PREROUTING"],
    ["/usr/sbin/iptables", "-t", "filter", "-A", "INPUT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
    ["/usr/sbin/iptables", "-t", "filter", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
    ["/usr/sbin/iptables", "-t", "filter", "-A", "INPUT", "-s", "10.0.0.0/8", "-p", "tcp", "-m", "tcp", "--dport", "22", "-j", "DROP"],
    ["/usr/sbin/iptables", "-t", "filter", "-A", "INPUT", "-p", "udp", "-m", "udp", "-j", "REJECT"],
    ["/usr/sbin/iptables", "-t", "filter", "-P", "INPUT", "DROP"],
    ["rauc", "status", "--output-format", "json", "--detailed"],
    ["rauc", "info", "--output-format", "json", "/tmp/bundle.raucb"],
    ["rauc", "install", "https://device.app.qbee.io:443/v1/org/device/public/files/b?e=1&k=a&o=b&s=c"],
    ["systemctl", "show", "--property=LoadState", "qbee-agent.service"],
    ["systemctl", "restart", "nginx.service"],
    ["systemctl", "--no-block", "restart", "qbee-agent.service"],
    ["/usr/sbin/useradd", "--comment", "bob,,,,User added by qbee", "--create-home", "--shell", "/usr/bin/bash", "bob"],
    ["/usr/sbin/userdel", "--remove", "alice"],
    ["/usr/bin/dpkg", "-l"],
    ["/usr/bin/dpkg", "-i", "/var/lib/qbee/app_workdir/cache/software/pkgs/foo_1.0_all.deb"],
    ["/usr/bin/apt-get", "update"],
    APT + ["upgrade"],
    APT + ["dist-upgrade"],
    APT + ["install"],
    APT + ["--allow-downgrades", "install", "nginx"],
    APT + ["--allow-downgrades", "install", "libfoo1:arm64=1.2-3~deb12u1", "g++"],
    ["yum", "--quiet", "--assumeyes", "check-update"],
    ["rpm", "-qa", "--queryformat", "%{name}||%{version}-%{release}||%{arch}\\n"],
    ["yum", "--assumeyes", "--quiet", "update"],
    ["yum", "--assumeyes", "--quiet", "install", "nginx-1.20.1"],
    ["yum", "--assumeyes", "--quiet", "install", "/var/lib/qbee/app_workdir/cache/software/x.rpm"],
    ["opkg", "update"],
    ["opkg", "list-upgradable"],
    ["opkg", "list-installed"],
    ["opkg", "print-architecture"],
    ["opkg", "upgrade", "busybox"],
    ["opkg", "install", "busybox"],
    ["opkg", "install", "/var/lib/qbee/app_workdir/cache/software/x.ipk"],
]


@pytest.mark.parametrize("argv", AGENT_SHAPES, ids=lambda a: " ".join(a)[:60])
def test_every_shape_the_agent_sends_is_allowed(argv):
    path, args = check(argv)
    assert args[0] == argv[0]
    assert args[1:] == (elevate.APT_RUN + argv[5:] if argv[1:5] == elevate.APT_BASE else argv[1:])
    assert path.startswith("/") and os.path.basename(path) == os.path.basename(argv[0])


ESCAPES = [
    (["/usr/bin/apt-get", "-o", "APT::Update::Pre-Invoke::=/bin/sh", "update"], "apt-get takes 'update'"),
    (["/usr/bin/apt-get", "-oAPT::Update::Pre-Invoke::=/bin/sh", "update"], "apt-get takes 'update'"),
    (APT + ["-o", "Dpkg::Pre-Invoke::=/bin/sh", "install", "x"], "not an upgrade"),
    (APT + ["--allow-downgrades", "install", "./x.deb"], "by name only"),
    (APT + ["--allow-downgrades", "install", "/home/qbee-agent/x.deb"], "by name only"),
    (APT + ["--allow-downgrades", "install", "-oDpkg::Pre-Invoke::=sh"], "by name only"),
    (["/usr/bin/apt-get", "changelog", "bash"], "apt-get takes 'update'"),
    (["/usr/bin/dpkg", "--force-all", "-i", "x.deb"], "dpkg takes -l"),
    (["/usr/bin/dpkg", "-i", "--admindir=/home/qbee-agent"], "not a package file"),
    (["/usr/bin/dpkg", "--unpack", "x.deb"], "dpkg takes -l"),
    (["systemctl", "link", "/home/qbee-agent/x.service"], "systemctl takes"),
    (["systemctl", "start", "x.service"], "systemctl takes"),
    (["systemctl", "restart", "--force", "x.service"], "systemctl takes"),
    (["systemctl", "restart", "../../home/x.service"], "not the name of a service"),
    (["systemctl", "restart", "-H", "evil"], "systemctl takes"),
    (["systemctl", "restart", "-Hevil"], "not the name of a service"),
    (["systemctl", "edit", "ssh.service"], "systemctl takes"),
    (["/usr/sbin/useradd", "-o", "-u", "0", "-g", "0", "evil"], "useradd takes"),
    (["/usr/sbin/useradd", "--comment", "evil,,,,User added by qbee", "--create-home", "--shell", "/home/qbee-agent/sh", "evil"],
     "not listed in /etc/shells"),
    (["/usr/sbin/useradd", "--comment", "x", "--create-home", "--shell", "/bin/sh", "evil"], "comment must be"),
    (["/usr/sbin/useradd", "--comment", "-G,,,,User added by qbee", "--create-home", "--shell", "/bin/sh", "-G"], "not a user name"),
    (["/usr/sbin/userdel", "--remove", "root"], "may not be removed"),
    (["/usr/sbin/userdel", "--remove", "qbee-agent"], "may not be removed"),
    (["/usr/sbin/userdel", "--remove", "daemon"], "system account"),
    (["/usr/sbin/userdel", "--remove", "www-data"], "system account"),
    (["/usr/sbin/userdel", "--remove", "nobody"], "system account"),
    (["/usr/sbin/userdel", "--remove", "ghost"], "there is no user"),
    (["/usr/sbin/userdel", "--force", "--remove", "alice"], "userdel takes"),
    (["/usr/sbin/iptables", "--modprobe=/home/qbee-agent/x", "-t", "filter", "-S", "INPUT"], "takes -t TABLE"),
    (["/usr/sbin/iptables", "-t", "filter", "-A", "INPUT", "--modprobe=/home/qbee-agent/x", "-j", "ACCEPT"], "one value"),
    (["/usr/sbin/iptables", "-t", "filter", "-A", "INPUT", "--modprobe=/home/qbee-agent/x", "-j"], "not one the agent"),
    (["/usr/sbin/iptables", "-t", "filter", "-A", "INPUT", "-M", "/home/qbee-agent/x", "-j", "ACCEPT"], "not one the agent"),
    (["/usr/sbin/iptables", "-t", "filter", "-A", "INPUT", "--mod", "/tmp/x", "-j", "ACCEPT"], "not one the agent"),
    (["/usr/sbin/iptables", "-t", "filter", "-A", "INPUT", "-m", "/tmp/x", "-j", "ACCEPT"], "is not allowed"),
    (["/usr/sbin/iptables", "-t", "filter", "-A", "INPUT", "-j", "-M/tmp/x"], "is not allowed"),
    (["/usr/sbin/iptables", "-t", "filter", "-S", "-M/tmp/x"], "needs a chain name"),
    (["/usr/sbin/iptables", "-t", "filter", "-P", "INPUT", "DROP", "-M", "x"], "iptables takes -S"),
    (["rauc", "write-slot", "rootfs.0", "/tmp/x.img"], "rauc takes"),
    (["rauc", "install", "--keyring=/home/qbee-agent/k", "x.raucb"], "rauc takes"),
    (["rauc", "install", "-hx"], "not a bundle"),
    (["/sbin/shutdown", "-h", "now"], "shutdown takes -r +1"),
    # Found by the attack review: removals, --force-yes, opkg files by another suffix,
    # units that start a root shell or power off, template instances, an empty shell, group names.
    (APT + ["--allow-downgrades", "install", "coreutils-", "sudo-"], "by name only"),
    (APT + ["--force-yes", "install", "coreutils-"], "--force-yes"),
    # The second attack review: a "-" after the architecture or version is a removal too; "$" matched before "\n".
    (APT + ["--allow-downgrades", "install", "bc:amd64-"], "by name only"),
    (APT + ["--allow-downgrades", "install", "bc=1.07.1-3+b1-"], "by name only"),
    (APT + ["--allow-downgrades", "install", "bc\n"], "by name only"),
    (["systemctl", "restart", "ssh.service\n"], "no templates, shells or power units"),
    (["/usr/sbin/useradd", "--comment", "bob,,,,User added by qbee", "--create-home", "--shell", "/bin/sh", "bob\n"],
     "may create"),
    (["opkg", "upgrade", "evil.deb"], "never allowed"),
    (["opkg", "upgrade", "evil.opk"], "never allowed"),
    (["opkg", "upgrade", "evil.ipk"], "never allowed"),
    (["systemctl", "restart", "debug-shell.service"], "no templates, shells or power units"),
    (["systemctl", "--no-block", "restart", "systemd-poweroff.service"], "no templates, shells or power units"),
    (["systemctl", "restart", "getty@pts-3.service"], "no templates, shells or power units"),
    (["systemctl", "restart", "modprobe@nbd.service"], "no templates, shells or power units"),
    (["/usr/sbin/useradd", "--comment", "bob,,,,User added by qbee", "--create-home", "--shell", "", "bob"],
     "not listed in /etc/shells"),
    (["/usr/sbin/useradd", "--comment", "admin,,,,User added by qbee", "--create-home", "--shell", "/bin/sh", "admin"],
     "may create"),
    (["/sbin/reboot", "--force"], "reboot takes no arguments"),
    (["yum", "--assumeyes", "--quiet", "install", "--setopt=x"], "yum takes"),
    (["yum", "shell"], "yum takes"),
    (["rpm", "-i", "x.rpm"], "rpm takes only"),
    (["opkg", "install", "--force-depends", "x"], "opkg takes"),
    (["opkg", "install", "-o/home/qbee-agent"], "opkg takes"),
    (["/bin/sh", "-c", "id"], "not a command qbee-agent elevates"),
    (["sh"], "not a command qbee-agent elevates"),
    (["/home/qbee-agent/systemctl", "restart", "x.service"], "not in a system folder"),
    (["/usr/bin/../../home/qbee-agent/systemctl", "show", "--property=LoadState", "x.service"], "not in a system folder"),
    (["bin/systemctl", "restart", "x.service"], "not in a system folder"),
    (["/usr/local/sbin/iptables", "-t", "filter", "-S", "INPUT"], "where root alone can change it"),
    ([], "no command given"),
    (["systemctl", "restart", "x" * 5000 + ".service"], "too long"),
    (["systemctl", "restart", "a\0b.service"], "too long"),
]


@pytest.mark.parametrize("argv,reason", ESCAPES, ids=lambda a: " ".join(a)[:60] if isinstance(a, list) else "")
def test_the_ways_out_are_denied(argv, reason):
    with pytest.raises(elevate.Denied, match=re.escape(reason)):
        check(argv)


def test_a_feature_switched_off_denies_its_commands():
    policy = dict(ALL, features=["power", "services"])
    assert check(["/sbin/shutdown", "-r", "+1"], policy)
    for argv in (["/usr/bin/apt-get", "update"], ["rauc", "install", "x.raucb"], ["/usr/sbin/userdel", "--remove", "alice"],
                 ["/usr/sbin/iptables", "-t", "filter", "-S", "INPUT"]):
        with pytest.raises(elevate.Denied, match="feature .* is not enabled"):
            check(argv, policy)


def test_package_files_switched_off_denies_installing_files_but_not_names():
    policy = dict(ALL, package_files=False)
    for argv in (["/usr/bin/dpkg", "-i", "/var/lib/qbee/x.deb"], ["yum", "--assumeyes", "--quiet", "install", "x.rpm"],
                 ["opkg", "install", "/tmp/x.ipk"], ["opkg", "install", "evil.deb"], ["opkg", "install", "evil.opk"]):
        with pytest.raises(elevate.Denied, match="switched off"):
            check(argv, policy)
    assert check(APT + ["--allow-downgrades", "install", "nginx"], policy)
    assert check(["opkg", "install", "busybox"], policy)


def test_a_bare_name_runs_from_the_first_system_folder_root_alone_controls():
    path, args = check(["systemctl", "restart", "x.service"])
    # /usr/local/sbin is world-writable in this fake, so it is passed over.
    assert path == "/usr/local/bin/systemctl" and args[0] == "systemctl"


def tree(entries):
    """A fake file system: path -> (uid, mode) or (uid, link target); folders not listed are root's 0755."""
    def lstat(path):
        entry = entries.get(path)
        if entry is None:
            return Stat(0, stat.S_IFDIR | 0o755)
        uid, what = entry
        return Stat(uid, stat.S_IFLNK | 0o777) if isinstance(what, str) else Stat(uid, what)

    def readlink(path):
        return entries[path][1]
    return lstat, readlink


def test_a_program_reached_through_a_link_is_judged_where_the_link_ends():
    lstat, readlink = tree({"/usr/sbin/shutdown": (0, "/home/qbee-agent/shutdown"),
                            "/home/qbee-agent": (998, stat.S_IFDIR | 0o755),
                            "/home/qbee-agent/shutdown": (998, stat.S_IFREG | 0o755)})
    with pytest.raises(elevate.Denied, match="where root alone can change it"):
        elevate.check(["/usr/sbin/shutdown", "-r", "+1"], ALL, read=FILES.__getitem__, getpwnam=getpwnam,
                      lstat=lstat, readlink=readlink)


def test_root_s_links_through_root_s_folders_are_followed():
    """/usr/sbin/iptables -> /etc/alternatives/iptables -> ../../usr/sbin/iptables-legacy, as Debian has it."""
    lstat, readlink = tree({"/usr/sbin/iptables": (0, "/etc/alternatives/iptables"),
                            "/etc/alternatives/iptables": (0, "../../usr/sbin/iptables-legacy"),
                            "/usr/sbin/iptables-legacy": (0, stat.S_IFREG | 0o755)})
    assert elevate.check(["/usr/sbin/iptables", "-t", "filter", "-S", "INPUT"], ALL, lstat=lstat,
                         readlink=readlink)[0] == "/usr/sbin/iptables-legacy"


@pytest.mark.parametrize("entries", [
    # The agent's link to a root program, in a folder of the agent's (/run/qbee is RuntimeDirectory=).
    {"/run/qbee": (998, stat.S_IFDIR | 0o755), "/run/qbee/apply": (998, "/bin/sh"),
     "/bin/sh": (0, stat.S_IFREG | 0o755)},
    # Root's link, but in a folder the agent may rename things in.
    {"/run/qbee": (998, stat.S_IFDIR | 0o755), "/run/qbee/apply": (0, "/bin/sh"), "/bin/sh": (0, stat.S_IFREG | 0o755)},
    # A sticky, world-writable folder on the way (/tmp).
    {"/run/qbee": (0, stat.S_IFDIR | 0o1777), "/run/qbee/apply": (0, stat.S_IFREG | 0o755)},
    # Links in a loop.
    {"/run/qbee/apply": (0, "/run/qbee/apply")},
])
def test_a_custom_program_behind_anything_the_agent_controls_is_refused(entries):
    lstat, readlink = tree(entries)
    policy = dict(ALL, custom=[["/run/qbee/apply", "/run/qbee/app.conf"]])
    with pytest.raises(elevate.Denied, match="where root alone can change it"):
        elevate.check(["/run/qbee/apply", "/run/qbee/app.conf"], policy, lstat=lstat, readlink=readlink)


def test_a_custom_program_root_alone_controls_runs_where_it_is():
    lstat, readlink = tree({"/opt/tool": (0, stat.S_IFDIR | 0o755), "/opt/tool/run": (0, stat.S_IFREG | 0o750)})
    policy = dict(ALL, custom=[["/opt/tool/run"]])
    assert elevate.check(["/opt/tool/run"], policy, lstat=lstat, readlink=readlink) == ("/opt/tool/run", ["/opt/tool/run"])


def test_the_environment_is_rebuilt_not_inherited():
    inherited = {"APT_CONFIG": "/home/qbee-agent/apt.conf", "LD_PRELOAD": "/home/qbee-agent/x.so", "PATH": "/home/qbee-agent",
                 "https_proxy": "http://proxy:3128", "PYTHONPATH": "/tmp", "DEBIAN_FRONTEND": "readline"}
    env = elevate.environment("apt-get", inherited)
    assert env == {"PATH": elevate.SAFE_PATH, "LANG": "C.UTF-8", "https_proxy": "http://proxy:3128",
                   "DEBIAN_FRONTEND": "noninteractive", "PAGER": "cat", "DPKG_PAGER": "cat", "SYSTEMD_PAGER": "cat",
                   "SYSTEMD_PAGERSECURE": "1", "LESSSECURE": "1"}
    assert "DEBIAN_FRONTEND" not in elevate.environment("systemctl", inherited)


def test_reset_process_undoes_what_a_caller_set(tmp_path):
    """umask, lowered limits, ignored and blocked signals, a batch policy and one CPU do not reach the command
    (sudo-rs hands them on)."""
    import subprocess
    import sys
    script = (
        "import os, resource, signal, sys\n"
        "from ansible_collections.qbee.unprivileged.plugins.module_utils import elevate\n"
        "os.umask(0)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (8192, resource.RLIM_INFINITY))\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (20, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "resource.setrlimit(resource.RLIMIT_STACK, (262144, resource.RLIM_INFINITY))\n"
        "for s in (signal.SIGHUP, signal.SIGCHLD, signal.SIGTSTP, signal.SIGRTMIN + 2):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])\n"
        "os.nice(5)\n"
        "os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))\n"
        "os.sched_setaffinity(0, {0})\n"
        "elevate.reset_process()\n"
        "assert os.sched_getscheduler(0) == os.SCHED_OTHER, os.sched_getscheduler(0)\n"
        "assert os.sched_getaffinity(0) == set(range(os.cpu_count())), os.sched_getaffinity(0)\n"
        "os.execv('/bin/sh', ['sh', '-c', 'umask; ulimit -f; ulimit -n; ulimit -s; grep -E \"^Sig(Ign|Blk)\" /proc/self/status; "
        "cut -d\" \" -f19 /proc/self/stat'])\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    lines = proc.stdout.split()
    assert proc.returncode == 0, proc.stderr
    assert lines[0] == "0022" and lines[1] == "unlimited"
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert int(lines[2]) >= (65536 if hard == resource.RLIM_INFINITY else min(65536, hard))
    assert lines[3] == "unlimited" or int(lines[3]) >= 8192
    # Signals Python can set (glibc keeps 32 and 33 for itself; this machine's processes ignore them).
    import signal
    settable = sum(1 << (n - 1) for n in signal.valid_signals() if n not in (signal.SIGKILL, signal.SIGSTOP))
    assert int(proc.stdout.split("SigIgn:")[1].split()[0], 16) & settable == 0
    assert int(proc.stdout.split("SigBlk:")[1].split()[0], 16) & settable == 0
    if os.geteuid() == 0:  # only root may lower its nice value again
        assert lines[-1] == "0"


CUSTOM = dict(ALL, custom=[["/usr/bin/tar", "-xf", "/opt/backup.tar", "-C", "/"], ["/usr/bin/id"]])


def test_custom_commands_are_allowed_exactly():
    tar = ["/usr/bin/tar", "-xf", "/opt/backup.tar", "-C", "/"]
    assert elevate.check(tar, CUSTOM, lstat=root_lstat) == ("/usr/bin/tar", tar)
    assert elevate.check(["/usr/bin/id"], CUSTOM, lstat=root_lstat)[1] == ["/usr/bin/id"]


@pytest.mark.parametrize("argv", [
    # The original sudo matches these against "tar -xf /opt/backup.tar -C /" as one joined string.
    ["/usr/bin/tar", "-xf /opt/backup.tar", "-C", "/"],
    ["/usr/bin/tar", "-xf", "/opt/backup.tar -C", "/"],
    ["/usr/bin/tar", "-xf", "/opt/backup.tar", "-C", "/", "--to-command=sh"],
    ["/usr/bin/id", "-u"],
    ["tar", "-xf", "/opt/backup.tar", "-C", "/"],
    ["/bin/../usr/bin/id"],
    # The least profile's shapes are not allowed next to custom commands.
    ["/usr/bin/apt-get", "update"],
])
def test_custom_commands_allow_nothing_else(argv):
    with pytest.raises(elevate.Denied):
        elevate.check(argv, CUSTOM, lstat=root_lstat)


def test_a_custom_program_the_agent_could_replace_is_refused():
    policy = dict(ALL, custom=[["/home/qbee-agent/tool"]])
    with pytest.raises(elevate.Denied, match="where root alone can change it"):
        elevate.check(["/home/qbee-agent/tool"], policy, lstat=root_lstat)
