# -*- coding: utf-8 -*-

# Copyright: qbee.unprivileged contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What sudo (the original, or sudo-rs) really grants a user, from ``sudo -l -U USER``.

Each command a user may run becomes one *grant*, a string
``(RUNAS) TAG: TAG: COMMAND`` with the run-as list spelled ``user`` or
``user : group``, the tags that apply to that command (sorted), and the
command with its blanks collapsed: the same string for the same rule under
both implementations, whichever file or group rule it came from.
"""

from __future__ import annotations

import os
import pwd
import re

from ansible_collections.qbee.unprivileged.plugins.module_utils import fs

MAX_LIST_CHARS = 256 * 1024
# Folders that are links into /usr on a merged-/usr system, which sudo-rs lists resolved.
MERGED_FOLDERS = ("/bin", "/sbin", "/lib", "/lib64")
MAX_SUDOERS_BYTES = 64 * 1024
HEADER = re.compile(r"^User \S+ may run the following commands on ")
# Whole lines, each on the stream where that sudo prints it.
NOT_ALLOWED_OUT = re.compile(r"^User \S+ is not allowed to run sudo on \S+\.$")  # sudo
NOT_ALLOWED_ERR = re.compile(r"^sudo-rs: Sorry, user \S+ is not allowed to execute 'list' as \S+ on \S+\.$")  # sudo-rs
DEFAULTS_HEADER = re.compile(r"^(Matching Defaults entries|Runas and Command-specific defaults) for ")
# Settings that let the caller hand the command its own environment (LD_PRELOAD
# reaches the checker's interpreter before any of its code runs).
ENVIRONMENT_SETTINGS = re.compile(r"(^|[\s,])(setenv|!\s*env_reset)(\s*,|\s*$)")
SETENV_TAG = re.compile(r"\bSETENV\s*:")
SUDOERS_FILES = ("/etc/sudoers", "/etc/sudoers-rs")
SUDOERS_DIR = "/etc/sudoers.d"
ENTRY = re.compile(r"^\s+\(([^)]*)\)\s*(.*)$")
TAG = re.compile(r"^([A-Z_]+):\s*")
# Tags that come in pairs; the last one written applies to the commands after it.
TAG_FAMILIES = {}
for _family in ("PASSWD", "SETENV", "EXEC", "LOG_INPUT", "LOG_OUTPUT", "MAIL", "FOLLOW", "INTERCEPT"):
    TAG_FAMILIES[_family] = TAG_FAMILIES["NO" + _family] = _family


class SudoError(Exception):
    pass


def _split_commands(text):
    """The comma-separated list of a rule, commas escaped with a backslash kept."""
    pieces, current, escaped = [], "", False
    for char in text:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == ",":
            pieces.append(current)
            current = ""
        else:
            current += char
    pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]


def _runas(text):
    return " : ".join(part.strip() for part in text.split(":")) if text.strip() else "root"


def grants_of_rule(runas, rest, resolve=None):
    """The grants of one rule: run-as text and 'TAG: cmd, TAG: cmd, ...'.

    resolve, when given, turns a command's path into the one sudo-rs lists: its
    folder resolved (/bin/sh as /usr/bin/sh where /bin links to /usr/bin), the
    name kept (sh, not the dash it links to)."""
    grants, tags = [], {}
    for piece in _split_commands(rest):
        while True:
            match = TAG.match(piece)
            if not match or match.group(1) not in TAG_FAMILIES:
                break
            tags[TAG_FAMILIES[match.group(1)]] = match.group(1)
            piece = piece[match.end():]
        spelled = "".join("%s: " % tag for tag in sorted(tags.values()))
        # The original sudo lists an escaped "=" or ":" as written, sudo-rs without the backslash.
        command = re.sub(r"\\([=:])", r"\1", " ".join(piece.split()))
        if resolve and command.startswith("/"):
            path, sep, args = command.partition(" ")
            command = resolve(path) + sep + args
        grants.append("(%s) %s%s" % (_runas(runas), spelled, command))
    return grants


def parse_list(out, err="", resolve=None):
    """The grants in the output of 'sudo -l -U USER' (either implementation); [] when it grants nothing.

    Every line after the one header must be an entry: text that cannot be read
    is an error, never a reason to report less."""
    lines = out.splitlines()
    headers = [index for index, line in enumerate(lines) if HEADER.match(line)]
    if not headers:
        if any(NOT_ALLOWED_OUT.match(line) for line in lines) or any(
                NOT_ALLOWED_ERR.match(line) for line in err.splitlines()):
            return []
        raise SudoError("the list of what sudo grants has no line 'User ... may run the following commands'")
    if len(headers) > 1:
        raise SudoError("sudo printed %d lists of what it grants" % len(headers))
    grants = []
    for line in lines[headers[0] + 1:]:
        if not line.strip():
            continue
        match = ENTRY.match(line)
        if not match:
            raise SudoError("cannot read this line of what sudo grants: %r" % line[:200])
        grants.extend(grants_of_rule(match.group(1), match.group(2), resolve))
    return grants


def environment_defaults(out):
    """The settings of the original sudo's Defaults sections in 'sudo -l' that pass the caller's environment."""
    found, inside = [], False
    for line in out.splitlines():
        if DEFAULTS_HEADER.match(line) or HEADER.match(line):
            inside = bool(DEFAULTS_HEADER.match(line))
            continue
        if inside and line.strip() and ENVIRONMENT_SETTINGS.search(line):
            found.append("Defaults " + " ".join(line.split()))
    return found


def _sudoers_files():
    """The files sudo and sudo-rs read rules from, as sudo names them (no dot, no trailing ~ in sudoers.d)."""
    paths = [path for path in SUDOERS_FILES if os.path.lexists(path)]
    try:
        names = sorted(os.listdir(SUDOERS_DIR))
    except OSError:
        names = []
    return paths + [os.path.join(SUDOERS_DIR, name) for name in names if "." not in name and not name.endswith("~")]


def setenv_rules():
    """Lines of every sudoers file with a SETENV tag, which sudo-rs honours but does not list.

    Which user a line is for is not worked out (aliases, groups): every such
    line is reported. A file that cannot be read safely is reported too."""
    found = []
    for path in _sudoers_files():
        try:
            data, _st = fs.read_regular(path, MAX_SUDOERS_BYTES)
        except fs.UnsafePath as exc:
            found.append("%s cannot be checked for SETENV: %s" % (path, exc))
            continue
        if data is None:
            continue
        text = data.decode("utf-8", "replace").replace("\\\n", " ")
        for line in text.splitlines():
            if not line.lstrip().startswith("#") and SETENV_TAG.search(line):
                found.append("SETENV in %s: %s" % (path, " ".join(line.split())[:200]))
    return found


def rules_of_file(content, user, resolve=None):
    """The grants of the 'USER ALL=(RUNAS) ...' lines of a sudoers file this collection wrote."""
    grants = []
    for line in content.splitlines():
        match = re.match(r"^%s\s+ALL\s*=\s*\(([^)]*)\)\s*(.*)$" % re.escape(user), line)
        if match:
            grants.extend(grants_of_rule(match.group(1), match.group(2), resolve))
    return grants


def implementation_of(module, sudo):
    """('sudo' or 'sudo-rs', version) from 'sudo --version' (sudo-rs prints it on stderr)."""
    rc, out, err = module.run_command([sudo, "--version"], environ_update={"LC_ALL": "C"})
    first = ((out or "").strip() or (err or "").strip()).splitlines()[:1]
    first = first[0] if first else ""
    match = re.match(r"^sudo-rs\s+(\S+)", first)
    if match:
        return "sudo-rs", match.group(1)
    match = re.match(r"^Sudo version\s+(\S+)", first)
    if match:
        return "sudo", match.group(1)
    return None, None


def read_grants(module, candidates, user, rules, own_file):
    """What sudo grants user, against the rules the caller writes (sudoers text) and its own file; never raises."""
    def resolve(path):
        # Only the system's own folder links (merged /usr): a link the agent
        # user made must not make somebody else's rule look like ours.
        folder = os.path.dirname(path)
        if folder in MERGED_FOLDERS:
            folder = os.path.realpath(folder)
        return os.path.join(folder, os.path.basename(path))
    expected = rules_of_file(rules or "", user, resolve)
    result = {"path": None, "realpath": None, "implementation": None, "version": None, "user_exists": False,
              "grants": [], "own": [], "foreign": [], "missing": [], "error": None}
    found = [path for path in candidates if os.path.isfile(path) and os.access(path, os.X_OK)]
    if not found:
        return result
    sudo = result["path"] = found[0]
    result["realpath"] = os.path.realpath(sudo)
    result["implementation"], result["version"] = implementation_of(module, sudo)
    try:
        pwd.getpwnam(user)
        result["user_exists"] = True
    except KeyError:
        pass
    # For a user still to be made, listing root's still shows whether sudo can read its rules.
    listed = user if result["user_exists"] else "root"
    rc, out, err = module.run_command([sudo, "-n", "-l", "-U", listed], environ_update={"LC_ALL": "C", "LANG": "C"})
    out, err = out or "", (err or "").strip()
    try:
        if len(out) > MAX_LIST_CHARS:
            raise SudoError("it lists more than %d characters" % MAX_LIST_CHARS)
        grants = parse_list(out, err, resolve)
    except SudoError as exc:
        result["error"] = "'%s -l -U %s' exited %d: %s" % (sudo, listed, rc, (err[:500] + " " if err else "") + str(exc))
        return result
    if not result["user_exists"]:
        return result
    own = []
    if own_file:
        try:
            data, _st = fs.read_regular(own_file, MAX_SUDOERS_BYTES)
        except fs.UnsafePath:
            data = None
        if data is not None:
            own = rules_of_file(data.decode("utf-8", "replace"), user, resolve)
    if result["implementation"] == "sudo-rs":
        # sudo-rs lists a command allowed without arguments ('CMD ""') as plain CMD.
        expected = [re.sub(r' ""$', "", grant) for grant in expected]
        own = [re.sub(r' ""$', "", grant) for grant in own]
    result["grants"], result["own"] = grants, own
    result["foreign"] = [grant for grant in grants if grant not in expected and grant not in own]
    # What lets the caller set the command's environment, which the listing
    # shows only under the original sudo (and not its Defaults as grants).
    if result["implementation"] == "sudo-rs":
        result["foreign"] += setenv_rules()
    else:
        result["foreign"] += environment_defaults(out)
    result["missing"] = [grant for grant in expected if grant not in grants]
    return result


# The options of agent_info and agent_wait that ask what sudo grants a user.
SUDO_SPEC = dict(
    sudo=dict(type="list", elements="path", default=["/usr/bin/sudo", "/bin/sudo", "/usr/local/bin/sudo", "/usr/bin/sudo-rs"]),
    sudo_user=dict(type="str"),
    sudo_rules=dict(type="str", default=""),
    sudo_own_file=dict(type="path"),
    sudo_foreign=dict(type="str", choices=["report", "warn"], default="report"),
)


def report_grants(module):
    """read_grants for the module's SUDO_SPEC options, each foreign grant also a warning with sudo_foreign=warn."""
    params = module.params
    result = read_grants(module, params["sudo"], params["sudo_user"], params["sudo_rules"], params["sudo_own_file"])
    if params["sudo_foreign"] == "warn":
        for grant in result["foreign"]:
            module.warn("sudo grants %s more than this collection's rules: %s" % (params["sudo_user"], grant))
    return result
