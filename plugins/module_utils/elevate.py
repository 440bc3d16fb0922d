# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument checker between sudo and the commands qbee-agent elevates.

The agent elevates with ``sudo -n <checker> <command...>``; sudoers allows the
agent user the checker alone. The checker runs as root: it allows the argv
shapes the agent sends (qbee-agent 2026.27, app/utils/commands.go and its
callers) for the enabled features and nothing else, then runs the command
with a clean environment. sudo's own rules cannot say this: sudo's ``*``
matches across spaces and sudo-rs has only a trailing ``*``, and neither can
compare a user name with /etc/passwd.

Python standard library only: the same file is the collection's module_utils
(unit-tested) and, templated, the checker on the device.
"""

import os
import re
import stat

# Where a bare program name (systemctl, rauc, opkg, yum, rpm) is looked up,
# and the PATH the command runs with: systemd's default, root's only.
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy")

FEATURES = ("packages", "services", "power", "firewall", "rauc", "users")

# Program name -> feature. The agent names some by absolute path, some bare.
PROGRAMS = {
    "apt-get": "packages", "dpkg": "packages", "yum": "packages", "rpm": "packages", "opkg": "packages",
    "systemctl": "services",
    "shutdown": "power", "reboot": "power",
    "iptables": "firewall",
    "rauc": "rauc",
    "useradd": "users", "userdel": "users",
}

APT_BASE = ['-o Dpkg::Options::="--force-confdef"', '-o Dpkg::Options::="--force-confold"', "-f", "-y"]
# What those two elements were meant to say: apt reads each as one option
# whose name starts with a space and whose value keeps its quotes, so dpkg
# never got them and stopped at conffile prompts. The checker passes these,
# and Pattern-Only: without it apt reads a name with "." or "+" it cannot find
# as a regular expression and installs every package it matches ("ba.h").
APT_RUN = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
           "-o", "APT::Cmd::Pattern-Only=true", "-f", "-y"]
RPM_QUERY_FORMAT = "%{name}||%{version}-%{release}||%{arch}\\n"

# A package name, an optional architecture and version, never ending in "-"
# (apt reads "name-", "name:arch-" and "name=version-" as "remove").
DEB_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]*[a-z0-9+](:[a-z0-9]+(-[a-z0-9]+)*)?(=[A-Za-z0-9.+~:-]*[A-Za-z0-9.+~:])?")
RPM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
# Names opkg reads as a local file rather than a package name.
OPKG_FILE_SUFFIXES = (".ipk", ".opk", ".deb")
# No template instances (getty@, modprobe@ ...).
UNIT = re.compile(r"^[A-Za-z0-9_:][A-Za-z0-9_:.-]*\.service$")
# Services whose start is not a restart of something the agent manages: a root
# shell on a console, or a power transition the power feature does not grant.
FORBIDDEN_UNITS = re.compile(r"^(debug-shell|emergency|rescue|systemd-(poweroff|halt|reboot|kexec|soft-reboot|hibernate|"
                             r"suspend|hybrid-sleep|suspend-then-hibernate))\.service$")
# Names that stock sudoers and polkit rules name as groups: useradd would make them.
PRIVILEGED_NAMES = ("root", "admin", "adm", "sudo", "wheel", "staff", "shadow", "disk")
USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
TABLES = ("filter", "nat", "mangle", "raw", "security")
CHAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,28}$")
POLICIES = ("ACCEPT", "DROP")
ADDRESS = re.compile(r"^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$")
WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
PORT = re.compile(r"^[0-9]{1,5}(:[0-9]{1,5})?$")
CTSTATE = re.compile(r"^[A-Z]+(,[A-Z]+)*$")
IPTABLES_MATCHES = ("conntrack", "tcp", "udp", "icmp", "icmpv6", "sctp", "udplite")
# Rule options the agent's firewall renders, each with one value.
IPTABLES_RULE_OPTIONS = {"-s": ADDRESS, "-p": WORD, "-m": None, "--dport": PORT, "-j": CHAIN,
                         "-i": WORD, "--ctstate": CTSTATE}
MAX_ARGS = 64
MAX_ARG = 4096


class Denied(Exception):
    """The command is not one the agent sends for the enabled features."""


def _package_file(value, suffixes, policy):
    """A local package file to install: allowed only by the package_files
    switch, and only a path, never an option."""
    if not policy.get("package_files"):
        raise Denied("%r is a package file: installing package files is switched off" % value)
    if value.startswith("-") or "\n" in value or not value.endswith(suffixes):
        raise Denied("%r is not a package file (%s)" % (value, ", ".join(suffixes)))


def _apt_get(args, policy):
    if args == ["update"]:
        return
    if args[:4] != APT_BASE:
        raise Denied("apt-get takes 'update' or the agent's four options first")
    rest = args[4:]
    if rest in (["upgrade"], ["dist-upgrade"], ["install"]):
        return
    if len(rest) >= 3 and rest[0] == "--allow-downgrades" and rest[1] == "install":
        bad = [name for name in rest[2:] if not DEB_NAME.fullmatch(name)]
        if bad:
            raise Denied("apt-get installs packages by name only, not %s" % ", ".join(repr(b) for b in bad))
        return
    raise Denied("apt-get %s is not an upgrade, dist-upgrade or install of named packages "
                 "(--force-yes, which old apt needed, also allows removing essential packages: refused)" % " ".join(rest))


def _dpkg(args, policy):
    if args == ["-l"]:
        return
    if len(args) == 2 and args[0] == "-i":
        _package_file(args[1], (".deb",), policy)
        return
    raise Denied("dpkg takes -l or -i FILE.deb")


def _yum(args, policy):
    if args in (["--quiet", "--assumeyes", "check-update"], ["--assumeyes", "--quiet", "update"]):
        return
    if len(args) == 4 and args[:3] == ["--assumeyes", "--quiet", "install"]:
        if args[3].endswith(".rpm"):
            _package_file(args[3], (".rpm",), policy)
            return
        if RPM_NAME.fullmatch(args[3]):
            return
    raise Denied("yum takes check-update, update or install of one package")


def _rpm(args, policy):
    if args == ["-qa", "--queryformat", RPM_QUERY_FORMAT]:
        return
    raise Denied("rpm takes only the agent's query of installed packages")


def _opkg(args, policy):
    if args in (["update"], ["list-upgradable"], ["list-installed"], ["print-architecture"]):
        return
    if len(args) == 2 and args[0] in ("install", "upgrade"):
        if args[1].endswith(OPKG_FILE_SUFFIXES):
            if args[0] == "upgrade":
                raise Denied("opkg reads %r as a package file: upgrading from one is never allowed" % args[1])
            _package_file(args[1], OPKG_FILE_SUFFIXES, policy)
            return
        if RPM_NAME.fullmatch(args[1]):
            return
    raise Denied("opkg takes update, list-upgradable, list-installed, print-architecture, "
                 "or install/upgrade of one package by name")


def _systemctl(args, policy):
    if len(args) == 3 and args[:2] == ["show", "--property=LoadState"] or \
            len(args) == 2 and args[0] == "restart" or \
            len(args) == 3 and args[:2] == ["--no-block", "restart"]:
        if UNIT.fullmatch(args[-1]) and not FORBIDDEN_UNITS.match(args[-1]):
            return
        raise Denied("%r is not the name of a service the agent may restart (no templates, shells or power units)" % args[-1])
    raise Denied("systemctl takes show --property=LoadState UNIT or [--no-block] restart UNIT")


def _shutdown(args, policy):
    if args != ["-r", "+1"]:
        raise Denied("shutdown takes -r +1")


def _reboot(args, policy):
    if args:
        raise Denied("reboot takes no arguments")


def _iptables(args, policy):
    if len(args) < 3 or args[0] != "-t" or args[1] not in TABLES:
        raise Denied("iptables takes -t TABLE (%s) first" % ", ".join(TABLES))
    verb, rest = args[2], args[3:]
    if not rest or not CHAIN.fullmatch(rest[0]):
        raise Denied("iptables %s needs a chain name" % verb)
    if verb in ("-S", "-F") and len(rest) == 1:
        return
    if verb == "-P" and len(rest) == 2 and rest[1] in POLICIES:
        return
    if verb == "-A":
        options = rest[1:]
        if len(options) % 2:
            raise Denied("iptables -A takes options each with one value")
        for option, value in zip(options[::2], options[1::2]):
            if option not in IPTABLES_RULE_OPTIONS:
                raise Denied("iptables option %r is not one the agent's firewall uses" % option)
            pattern = IPTABLES_RULE_OPTIONS[option]
            if (value not in IPTABLES_MATCHES) if pattern is None else not pattern.fullmatch(value):
                raise Denied("iptables %s %r is not allowed" % (option, value))
        return
    raise Denied("iptables takes -S, -F, -P or -A with the agent's rule options")


def _rauc(args, policy):
    if args == ["status", "--output-format", "json", "--detailed"]:
        return
    if len(args) == 4 and args[:3] == ["info", "--output-format", "json"] or len(args) == 2 and args[0] == "install":
        if args[-1].startswith("-") or "\n" in args[-1]:
            raise Denied("%r is not a bundle" % args[-1])
        return
    raise Denied("rauc takes status, info or install of a bundle")


def _login_defs_uid_min(read):
    """UID_MIN from /etc/login.defs (1000 when unset)."""
    for line in read("/etc/login.defs").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "UID_MIN" and fields[1].isdigit():
            return int(fields[1])
    return 1000


def _shells(read):
    return [line.strip() for line in read("/etc/shells").splitlines() if line.strip().startswith("/")]


def _useradd(args, policy, read=None, getpwnam=None):
    if len(args) != 6 or args[0] != "--comment" or args[2:4] != ["--create-home", "--shell"]:
        raise Denied("useradd takes --comment C --create-home --shell SHELL USER")
    comment, shell, user = args[1], args[4], args[5]
    if not USER.fullmatch(user) or user in PRIVILEGED_NAMES:
        raise Denied("%r is not a user name the agent may create" % user)
    if comment != user + ",,,,User added by qbee":
        raise Denied("useradd's comment must be the agent's (%r)" % (user + ",,,,User added by qbee"))
    if shell not in _shells(read):
        raise Denied("shell %r is not listed in /etc/shells" % shell)


def _userdel(args, policy, read=None, getpwnam=None):
    if len(args) != 2 or args[0] != "--remove":
        raise Denied("userdel takes --remove USER")
    user = args[1]
    if not USER.fullmatch(user) or user in ("root", policy.get("agent_user")):
        raise Denied("%r may not be removed" % user)
    try:
        uid = getpwnam(user).pw_uid
    except KeyError:
        raise Denied("there is no user %r" % user)
    uid_min = _login_defs_uid_min(read)
    if uid < uid_min or uid >= 60000:
        raise Denied("%r (uid %d) is a system account: only users from uid %d up may be removed" % (user, uid, uid_min))


CHECKS = {
    "apt-get": _apt_get, "dpkg": _dpkg, "yum": _yum, "rpm": _rpm, "opkg": _opkg,
    "systemctl": _systemctl, "shutdown": _shutdown, "reboot": _reboot,
    "iptables": _iptables, "rauc": _rauc, "useradd": _useradd, "userdel": _userdel,
}
NEEDS_SYSTEM = ("useradd", "userdel")


MAX_LINKS = 40


def _root_only(st):
    return st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _trusted_program(path, lstat=os.lstat, readlink=os.readlink):
    """The file path names, found one name at a time from /, or None unless
    root alone controls the way there: every folder looked in is root's and
    not writable by group or others, every link followed is root's, and so
    is the file (a link the agent made in a folder of its own is never
    followed, wherever it points)."""
    if not path.startswith("/") or not _root_only(lstat("/")):
        return None
    pending = [part for part in path.split("/") if part]
    current, links = "/", 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        st = lstat(candidate)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if st.st_uid != 0 or links > MAX_LINKS:
                return None
            target = readlink(candidate)
            pending = [part for part in target.split("/") if part] + pending
            if target.startswith("/"):
                current = "/"
            continue
        if not _root_only(st):
            return None
        current = candidate
    return current


def resolve(program, lstat=os.lstat, readlink=os.readlink):
    """The name the checker knows the program by, and the path it runs."""
    name = os.path.basename(program)
    if name not in PROGRAMS:
        raise Denied("%r is not a command qbee-agent elevates" % program)
    if "/" in program:
        if not program.startswith("/") or os.path.dirname(os.path.normpath(program)) not in SAFE_PATH.split(":"):
            raise Denied("%r is not in a system folder (%s)" % (program, SAFE_PATH))
        candidates = [os.path.normpath(program)]
    else:
        candidates = [os.path.join(folder, name) for folder in SAFE_PATH.split(":")]
    for candidate in candidates:
        try:
            real = _trusted_program(candidate, lstat, readlink)
            if real:
                return name, real
        except OSError:
            continue
    raise Denied("%s is not installed where root alone can change it" % program)


def _custom(argv, commands, lstat=os.lstat, readlink=os.readlink):
    """The custom profile: argv exactly one of the listed commands, element by
    element (never a joined string), its program a file root alone controls."""
    if list(argv) not in [list(command) for command in commands]:
        raise Denied("%r is not one of the commands listed for the agent" % " ".join(argv)[:200])
    try:
        path = _trusted_program(argv[0], lstat, readlink) if argv[0].startswith("/") else None
    except OSError:
        path = None
    if not path:
        raise Denied("%s is not installed where root alone can change it" % argv[0])
    return path, list(argv)


def check(argv, policy, read=None, getpwnam=None, lstat=os.lstat, readlink=os.readlink):
    """Allow argv (the agent's command) under policy, or raise Denied.

    policy: features (list), package_files (bool), agent_user (str), and
    custom: None, or the custom profile's commands (argv lists), which are
    then the only ones allowed.
    Returns (path to run: the program's resolved, checked file; argv to run
    with, its first element the name the agent gave)."""
    if not argv:
        raise Denied("no command given")
    if len(argv) > MAX_ARGS or any(len(a) > MAX_ARG or "\0" in a for a in argv):
        raise Denied("the command is too long")
    if policy.get("custom") is not None:
        return _custom(argv, policy["custom"], lstat, readlink)
    name, path = resolve(argv[0], lstat, readlink)
    feature = PROGRAMS[name]
    if feature not in policy.get("features", ()):
        raise Denied("the %s feature (%s) is not enabled for the agent" % (feature, name))
    if name in NEEDS_SYSTEM:
        CHECKS[name](argv[1:], policy, read, getpwnam)
    else:
        CHECKS[name](argv[1:], policy)
    args = list(argv[1:])
    if name == "apt-get" and args[:4] == APT_BASE:
        args = APT_RUN + args[4:]
    return path, [argv[0]] + args


def environment(name, inherited):
    """The command's environment: a safe PATH, the proxy variables sudo kept,
    and for apt-get what the agent gives it (DEBIAN_FRONTEND=noninteractive)."""
    # No pager: dpkg -l and systemctl page through less on a terminal, and
    # less runs commands.
    env = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "PAGER": "cat", "DPKG_PAGER": "cat", "SYSTEMD_PAGER": "cat",
           "SYSTEMD_PAGERSECURE": "1", "LESSSECURE": "1"}
    env.update((k, v) for k, v in inherited.items() if k in PROXY_VARIABLES)
    if name == "apt-get":
        env["DEBIAN_FRONTEND"] = "noninteractive"
    return env


# Limits a caller could lower to make a command stop half way (a package
# install cut off by SIGXFSZ, a fork or open that fails): raised back for
# what the checker runs; the stack to its usual 8 MiB, open files to 65536.
LIMITS = {"RLIMIT_FSIZE": None, "RLIMIT_CPU": None, "RLIMIT_AS": None, "RLIMIT_DATA": None, "RLIMIT_NPROC": None,
          "RLIMIT_STACK": 8 << 20, "RLIMIT_NOFILE": 65536}


def _raise_limits(resource):
    """Each of LIMITS unlimited (None) or at least its value, as far as the
    hard limit lets root (without CAP_SYS_RESOURCE, only up to it)."""
    infinity = resource.RLIM_INFINITY
    for name, least in LIMITS.items():
        limit = getattr(resource, name, None)
        if limit is None:
            continue
        soft, hard = resource.getrlimit(limit)
        if least is None:
            attempts = [(infinity, infinity), (hard, hard)]
        elif soft == infinity or soft >= least:
            continue
        else:
            attempts = [(least if hard == infinity or hard >= least else hard, hard)]
        for wanted in attempts:
            try:
                resource.setrlimit(limit, wanted)
                break
            except (ValueError, OSError):
                continue


def reset_process():
    """What sudo-rs (unlike sudo) hands on from the caller, set back: umask
    022, no lowered limits, every signal at its default action and none
    blocked, nice 0, no out-of-memory bias, the default scheduling policy,
    every CPU."""
    import resource
    import signal
    os.umask(0o022)
    _raise_limits(resource)
    for number in signal.valid_signals():
        if number in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("0")
    except OSError:
        pass
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except (AttributeError, OSError):
        pass
    try:
        # Every CPU there may be, online or not: the kernel keeps those it can use.
        os.sched_setaffinity(0, range(os.sysconf("SC_NPROCESSORS_CONF") or 1))
    except (AttributeError, OSError, ValueError):
        pass
