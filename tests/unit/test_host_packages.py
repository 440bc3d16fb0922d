"""Every external command the project's shell scripts run is either always
there on Debian (an Essential or required package, or a shell builtin) or
listed in tests/host-packages.txt, which tests/bin/host-packages installs
from: a fresh machine cannot lack a command nobody installs (debootstrap
once did)."""

import os
import re
import shlex

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIST = os.path.join(REPO, "tests", "host-packages.txt")
SCRIPTS = [os.path.join("tests", "bin", name) for name in sorted(os.listdir(os.path.join(REPO, "tests", "bin")))] + [
    os.path.join("tests", "images", "base-rootfs.sh"), os.path.join(".ci", "run")]

# bash's keywords and builtins.
SHELL = set("""
if then else elif fi case esac for select while until do done in function time coproc { } [[ ]] ! [ test
alias bg bind break builtin caller cd command compgen complete compopt continue declare dirs disown echo enable
eval exec exit export false fc fg getopts hash help history jobs kill let local logout mapfile popd printf pushd
pwd read readarray readonly return set shift shopt source suspend times trap true type typeset ulimit umask
unalias unset wait :
""".split())
# Commands of Debian's Essential and Priority: required packages, on every
# Debian machine (coreutils, util-linux, grep, sed, mawk, findutils, tar,
# gzip, dpkg, apt, debianutils, diffutils, hostname, login, bash).
ALWAYS = set("""
awk basename cat chmod chown chroot cp cut date dd df dirname du env expr grep head id install ln ls mkdir
mktemp mv nproc od printf readlink realpath rm rmdir sed seq setsid sha256sum sleep sort stat tail tee timeout
touch tr uname uniq wc xargs find tar gzip dpkg dpkg-query apt-get which diff cmp hostname su mount umount
sh bash kill flock getopt
""".split())
# The project's own programs and what its venv provides.
PROJECT = {"python", "python3", "pytest", "ansible-test", "ansible-galaxy", "ansible-playbook", "ansible-lint", "ansible-builder",
           "ansible-doc", "yamllint", "pip"}
# Interpreters the scripts pick at run time ("$python", pyenv's python3.13...).
VARIABLE = re.compile(r"^\$|^\"\$|^python3\.\d+$|^python\$\w+$")
SEPARATORS = {";", ";;", "|", "||", "&&", "&", "(", "!", "if", "while", "until", "then", "do", "else", "elif", "time", "{"}


def listed():
    with open(LIST) as handle:
        return {line.split()[0] for line in handle if line.strip() and not line.startswith("#")}


def shell_script(path):
    with open(os.path.join(REPO, path)) as handle:
        first = handle.readline()
    return "bash" in first or first.strip() == "#!/bin/sh"


def commands_of(text):
    """The first word of every simple command, also inside $(...), heredocs and comments left out."""
    text = re.sub(r"<<-?\s*'?(\w+)'?\n.*?\n\1\n", "\n", text, flags=re.S)
    text = text.replace("\\\n", " ")
    found = set()
    # Command substitutions, also inside double quotes: each is a command line of its own.
    for inner in re.findall(r"\$\(([^()]*(?:\([^()]*\)[^()]*)*)\)", text):
        found |= commands_of(inner)
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)
        line = re.sub(r"^\s*(?:[^()\s\"']|\"[^\"]*\"|'[^']*')+\)\s*", "", line)  # a case pattern starting a line
        line = re.sub(r"^\s*[A-Za-z_][A-Za-z0-9_-]*\s*\(\)", "", line)  # a function definition
        line = re.sub(r"\d*>&\d+|&>|\d*[<>]+\s*[^\s;&|()]+", " ", line)  # redirections
        line = re.sub(r"\$\(([^()]*(?:\([^()]*\)[^()]*)*)\)", "X", line)  # done above
        if not line.strip():
            continue
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:
            continue
        expect, skip_to, in_case = True, None, False
        for token in tokens:
            if skip_to:
                if token in skip_to:
                    if token == "in" and in_case:
                        skip_to = (")",)
                        continue
                    skip_to, expect = None, True
                continue
            if token in ("for", "select"):
                skip_to = ("do",)
                continue
            if token == "case":
                skip_to, in_case = ("in",), True
                continue
            if token == "in" and in_case or token == ";;":
                skip_to = (")",)  # the next pattern
                continue
            if token in SEPARATORS:
                expect = True
                continue
            if token == ")" or token == "()":
                expect = expect if token == "()" else False
                continue
            if set(token) <= set(";&|()"):  # punctuation run together, such as ");"
                expect = not token.endswith(")")
                continue
            if not expect:
                continue
            if re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", token) or token in ("command", "exec", "env", "-v"):
                continue  # an assignment, or a prefix before the command
            found.add(token)
            expect = False
    return found


def functions_of(text):
    return set(re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\(\)", text, flags=re.M))


@pytest.mark.parametrize("path", [p for p in SCRIPTS if shell_script(p)])
def test_every_command_a_script_runs_is_always_there_or_listed(path):
    with open(os.path.join(REPO, path)) as handle:
        text = handle.read()
    known = SHELL | ALWAYS | PROJECT | listed() | functions_of(text)
    unknown = sorted(c for c in commands_of(text)
                     if c not in known and not VARIABLE.match(c) and "/" not in c and not c.startswith("-"))
    assert unknown == [], "%s runs %s: add each to %s (command and Debian package)" % (path, unknown, LIST)


def test_the_extractor_finds_commands_where_scripts_hide_them():
    text = ('x=$(debootstrap --version)\nif pgrep -x dockerd; then echo "$(shellcheck a)"; fi\n'
            'a && git log | sort\n# comment curl\nf() { jq . ; }\ncat <<EOF\nwget here\nEOF\n'
            'for u in getty.target; do ln -s a b; done\ncase $v in\n  12) lsof x ;;\nesac\n'
            '[ "$(id -u)" != 0 ] || rsync 2>/dev/null >&2\ncase " $v " in *" 13 "*) strace a ;; up|down) ss ;; esac\n')
    found = commands_of(text)
    assert found >= {"debootstrap", "pgrep", "echo", "shellcheck", "git", "sort", "jq", "cat", "ln", "lsof", "id", "rsync",
                     "strace", "ss"}
    assert not found & {"curl", "wget", "getty.target", "12", "!=", "0", "1", "2", "* 13 *", "up", "down"}, found
