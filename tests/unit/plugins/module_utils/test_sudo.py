"""Reading what sudo and sudo-rs really grant, from their 'sudo -l -U USER' (outputs seen on Debian 13)."""

import pytest

from ansible_collections.qbee.unprivileged.plugins.module_utils import sudo

OG_SUDO = """Matching Defaults entries for qa on 4d3724eb74dc:
    env_reset, mail_badpass, secure_path=/usr/local/sbin\\:/usr/local/bin\\:/usr/sbin\\:/usr/bin\\:/sbin\\:/bin, use_pty

User qa may run the following commands on 4d3724eb74dc:
    (ALL : ALL) ALL
    (root) NOPASSWD: /usr/bin/id, /usr/bin/ls -l
    (root) SETENV: NOPASSWD: /bin/x
    (root : adm) PASSWD: /bin/y, NOPASSWD: /bin/z
"""
SUDO_RS = """User qa may run the following commands on 50164969413f:
    (ALL : ALL) ALL
    (root) NOPASSWD: /usr/bin/id, /usr/bin/ls -l
    (root) NOPASSWD: /bin/x
    (root : adm) PASSWD: /bin/y, NOPASSWD: /bin/z
"""


def test_original_sudo():
    assert sudo.parse_list(OG_SUDO) == [
        "(ALL : ALL) ALL",
        "(root) NOPASSWD: /usr/bin/id",
        "(root) NOPASSWD: /usr/bin/ls -l",
        "(root) NOPASSWD: SETENV: /bin/x",
        "(root : adm) PASSWD: /bin/y",
        "(root : adm) NOPASSWD: /bin/z",
    ]


def test_sudo_rs_spells_the_same_rules_the_same():
    grants = sudo.parse_list(SUDO_RS)
    assert grants[:3] == sudo.parse_list(OG_SUDO)[:3]
    assert grants[4:] == sudo.parse_list(OG_SUDO)[4:]


@pytest.mark.parametrize("out,err", [
    ("User qb is not allowed to run sudo on 4d3724eb74dc.\n", ""),
    ("", "sudo-rs: Sorry, user root is not allowed to execute 'list' as qb on 50164969413f.\n"),
])
def test_nothing_granted(out, err):
    assert sudo.parse_list(out, err) == []


def test_a_command_that_reads_like_a_refusal_is_still_a_grant():
    """Found by the attack review: the words of a refusal inside a listed command blanked the whole list."""
    out = ("User qbee-agent may run the following commands on h:\n"
           "    (root) NOPASSWD: ALL, /bin/false is not allowed to execute 'list' as x\n"
           "    (root) NOPASSWD: /bin/false User qbee-agent is not allowed to run sudo on h.\n")
    assert sudo.parse_list(out)[0] == "(root) NOPASSWD: ALL"
    with pytest.raises(sudo.SudoError):
        sudo.parse_list("User q is not allowed to run sudo on h. And more\n")


def test_a_blank_line_does_not_end_the_list():
    """Found by the attack review: a list cut short (or with a blank line) hid what came after."""
    out = "User q may run the following commands on h:\n    (root) NOPASSWD: /bin/a\n\n    (ALL) NOPASSWD: ALL\n"
    assert sudo.parse_list(out) == ["(root) NOPASSWD: /bin/a", "(ALL) NOPASSWD: ALL"]
    with pytest.raises(sudo.SudoError):
        sudo.parse_list(out + "User q may run the following commands on h:\n    (ALL) ALL\n")


def test_defaults_that_pass_the_callers_environment():
    assert sudo.environment_defaults(OG_SUDO) == []
    out = ("Matching Defaults entries for qa on h:\n    env_reset, setenv, use_pty\n\n"
           "Runas and Command-specific defaults for qa:\n    Defaults!/usr/local/sbin/x !env_reset\n\n"
           "User qa may run the following commands on h:\n    (root) NOPASSWD: /bin/setenv\n")
    assert sudo.environment_defaults(out) == ["Defaults env_reset, setenv, use_pty", "Defaults Defaults!/usr/local/sbin/x !env_reset"]


def test_setenv_rules_in_any_sudoers_file(monkeypatch, tmp_path):
    (tmp_path / "sudoers").write_text("root ALL=(ALL:ALL) ALL\n# x ALL=(root) SETENV: /bin/a\n")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "zz").write_text("qbee-agent ALL=(root) NOPASSWD:SETENV: \\\n  /usr/local/sbin/qbee-agent-elevate\n")
    (tmp_path / "d" / "skipped.bak").write_text("x ALL=(root) SETENV: /bin/b\n")
    monkeypatch.setattr(sudo, "SUDOERS_FILES", (str(tmp_path / "sudoers"),))
    monkeypatch.setattr(sudo, "SUDOERS_DIR", str(tmp_path / "d"))
    assert sudo.setenv_rules() == [
        "SETENV in %s: qbee-agent ALL=(root) NOPASSWD:SETENV: /usr/local/sbin/qbee-agent-elevate" % (tmp_path / "d" / "zz")]


@pytest.mark.parametrize("text", [
    "sudo-rs: invalid configuration: No such file or directory (os error 2)\n",
    "sudo-rs: Sorry, user root is not allowed to execute 'list' as qb on h.\n",  # on stdout: not sudo-rs's
    "sudo: unknown user nosuch\n",
    "User qa may run the following commands on h:\n    something without a run-as list\n",
])
def test_what_cannot_be_read_is_an_error(text):
    with pytest.raises(sudo.SudoError):
        sudo.parse_list(text)


def test_escaped_commas_stay_in_their_command():
    assert sudo.grants_of_rule("root", "/bin/echo a\\,b, /bin/true") == [
        "(root) /bin/echo a\\,b", "(root) /bin/true"]


def test_the_collections_own_rules_read_like_sudo_lists_them():
    content = ("# Ansible managed\nDefaults:qbee-agent !requiretty\n\n"
               "qbee-agent ALL=(root) NOPASSWD: /usr/local/sbin/qbee-agent-elevate\n"
               "other ALL=(ALL) NOPASSWD: ALL\n")
    assert sudo.rules_of_file(content, "qbee-agent") == ["(root) NOPASSWD: /usr/local/sbin/qbee-agent-elevate"]
    listed = "User qbee-agent may run the following commands on h:\n    (root) NOPASSWD: /usr/local/sbin/qbee-agent-elevate\n"
    assert sudo.parse_list(listed) == sudo.rules_of_file(content, "qbee-agent")
    assert sudo.rules_of_file("qbee-agent ALL=(ALL) NOPASSWD: ALL\n", "qbee-agent") == ["(ALL) NOPASSWD: ALL"]
    assert sudo.rules_of_file("qbee-agent ALL=(root) NOPASSWD: /bin/a x, /bin/b\n", "qbee-agent") == [
        "(root) NOPASSWD: /bin/a x", "(root) NOPASSWD: /bin/b"]


def test_paths_are_compared_as_the_files_they_name():
    """sudo-rs lists /bin/sh as /usr/bin/sh where /bin links to /usr/bin; the original sudo as written."""
    real = {"/bin/sh": "/usr/bin/sh", "/bin/id": "/usr/bin/id"}.get

    def resolve(path):
        return real(path) or path
    assert sudo.grants_of_rule("root", "/bin/sh, /bin/id -u, ALL", resolve) == [
        "(root) /usr/bin/sh", "(root) /usr/bin/id -u", "(root) ALL"]
    assert sudo.rules_of_file("qa ALL=(root) NOPASSWD: /bin/sh\n", "qa", resolve) == \
        sudo.parse_list("User qa may run the following commands on h:\n    (root) NOPASSWD: /usr/bin/sh\n", "", resolve)


def test_only_the_systems_own_folder_links_are_resolved(monkeypatch, tmp_path):
    """A link the agent user made (in its home) must not make another rule look like the collection's."""
    link = tmp_path / "x"
    link.symlink_to("/usr/local/sbin")
    calls = []

    class Module:
        def run_command(self, argv, **kwargs):
            calls.append(argv)
            if argv[1] == "--version":
                return 0, "Sudo version 1.9.16\n", ""
            return 0, ("User root may run the following commands on h:\n"
                       "    (root) NOPASSWD: %s/qbee-agent-elevate\n" % link), ""

    fake = tmp_path / "sudo"
    fake.write_text("")
    fake.chmod(0o755)
    result = sudo.read_grants(Module(), [str(fake)], "root",
                              "root ALL=(root) NOPASSWD: /usr/local/sbin/qbee-agent-elevate\n", None)
    assert result["foreign"] == ["(root) NOPASSWD: %s/qbee-agent-elevate" % link]
    assert result["missing"] == ["(root) NOPASSWD: /usr/local/sbin/qbee-agent-elevate"]
