"""module_utils/fs: root never follows, trusts or writes through what the agent user put in its folders.

The agent user owns the folders these functions work in, so each test plants what it could plant (links,
hard links, FIFOs, devices, sockets, swaps between a check and a use) and proves that root's read, write,
remove or change of owner does not reach anything else. A "secret" file stands for what the attacker wants.
"""

import errno
import os
import signal
import socket
import stat

import pytest

from ansible_collections.qbee.unprivileged.plugins.module_utils import fs

SPARE_UID, SPARE_GID = 12345, 12346
ME = os.getuid(), os.getgid()  # root's ids when run as root; the tests' own otherwise
SECRET = b"root's secret\n"


@pytest.fixture
def secret(tmp_path):
    """A root-only file outside the attacker's folder: nothing here may read, write or re-own it."""
    path = tmp_path / "secret"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


@pytest.fixture
def agent_dir(tmp_path):
    """The attacker's folder (root-owned here unless a test gives it away)."""
    path = tmp_path / "agent"
    path.mkdir()
    return path


@pytest.fixture
def no_hang():
    """Fail, instead of hanging the suite, when something blocks for more than 5 seconds."""
    def alarm(_signum, _frame):
        raise AssertionError("blocked for more than 5 s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def untouched(path, content=SECRET, uid=ME[0], gid=ME[1], mode=0o600):
    st = os.lstat(path)
    with open(path, "rb") as handle:
        data = handle.read()
    return stat.S_ISREG(st.st_mode) and data == content and (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (uid, gid, mode)


def temp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def link_kinds(tmp_path, secret):
    """The three links an attacker can leave at a file's name."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return {"to a file": secret, "dangling": tmp_path / "nothing-here", "to a folder": folder}


LINK_KINDS = ["to a file", "dangling", "to a folder"]


# ---- a symbolic link at the last component -------------------------------------------------------

@pytest.mark.parametrize("kind", LINK_KINDS)
def test_read_regular_refuses_a_link_at_the_leaf_and_names_its_target(tmp_path, agent_dir, secret, kind):
    target = link_kinds(tmp_path, secret)[kind]
    leaf = agent_dir / "qbee-agent.json"
    leaf.symlink_to(target)
    with pytest.raises(fs.UnsafePath) as exc:
        fs.read_regular(str(leaf))
    assert str(exc.value) == "%s is a symbolic link to %s; refusing to follow it" % (leaf, target)


@pytest.mark.parametrize("kind", LINK_KINDS)
def test_replace_file_replaces_a_link_at_the_leaf_and_never_writes_through_it(tmp_path, agent_dir, secret, kind):
    target = link_kinds(tmp_path, secret)[kind]
    leaf = agent_dir / "qbee-agent.json"
    leaf.symlink_to(target)
    fs.replace_file(str(leaf), b"new\n", 0o640, *ME)
    assert not leaf.is_symlink() and leaf.read_bytes() == b"new\n" and stat.S_IMODE(os.lstat(leaf).st_mode) == 0o640
    assert untouched(secret)
    assert not (tmp_path / "nothing-here").exists() and list((tmp_path / "elsewhere").iterdir()) == []
    assert temp_files(agent_dir) == []


@pytest.mark.parametrize("kind", LINK_KINDS)
def test_remove_file_removes_the_link_itself_never_its_target(tmp_path, agent_dir, secret, kind):
    target = link_kinds(tmp_path, secret)[kind]
    leaf = agent_dir / "drop-in.conf"
    leaf.symlink_to(target)
    assert fs.remove_file(str(leaf)) is True
    assert not os.path.lexists(leaf)
    assert untouched(secret) and (tmp_path / "elsewhere").is_dir()


def test_replace_file_through_a_missing_folder_raises_missing(tmp_path):
    with pytest.raises(fs.Missing):
        fs.replace_file(str(tmp_path / "none" / "f"), b"x", 0o600, *ME)


# ---- the race: a link appears between root's look and root's use ---------------------------------

def swap_for_link_when_opened(leaf, secret):
    """An os.open that, just before it opens leaf's name, replaces the regular file there by a link to secret."""
    def racing_open(name, flags, *args, **kwargs):
        if name == leaf.name and kwargs.get("dir_fd") is not None and not leaf.is_symlink():
            leaf.unlink()
            leaf.symlink_to(secret)
        return os.open(name, flags, *args, **kwargs)
    return racing_open


def test_race_link_swapped_in_before_the_open_is_not_read(agent_dir, secret, fs_os):
    leaf = agent_dir / "qbee-agent.json"
    leaf.write_text("{}")
    assert stat.S_ISREG(os.lstat(leaf).st_mode)  # what a check before the open would have seen
    fs_os(open=swap_for_link_when_opened(leaf, secret))
    with pytest.raises(fs.UnsafePath) as exc:
        fs.read_regular(str(leaf))
    assert str(exc.value) == "%s is a symbolic link to %s; refusing to follow it" % (leaf, secret)
    assert "secret\n" not in str(exc.value)


@pytest.mark.root
def test_race_link_swapped_in_for_a_folder_before_the_open_is_not_chowned_or_chmodded(agent_dir, secret, fs_os):
    leaf = agent_dir / "qbee-agent.service.d"
    leaf.mkdir()

    def racing_open(name, flags, *args, **kwargs):
        if name == leaf.name and kwargs.get("dir_fd") is not None and not leaf.is_symlink():
            leaf.rmdir()
            leaf.symlink_to(secret.parent)
        return os.open(name, flags, *args, **kwargs)

    fs_os(open=racing_open)
    before = os.stat(secret.parent)
    with pytest.raises(fs.UnsafePath, match=r"cannot set the owner or mode of the folder .* \(a symbolic link to "):
        fs.set_dir_attributes(str(leaf), SPARE_UID, SPARE_GID, 0o777)
    after = os.stat(secret.parent)
    assert (after.st_uid, after.st_mode) == (before.st_uid, before.st_mode)


def test_make_dir_and_remove_empty_dir(agent_dir):
    folder = agent_dir / "made"
    fs.make_dir(str(folder), 0o750, *ME)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o750
    (folder / "x").write_text("x")
    assert fs.remove_empty_dir(str(folder)) is False and folder.is_dir()
    (folder / "x").unlink()
    assert fs.remove_empty_dir(str(folder)) is True and not folder.exists()
    assert fs.remove_empty_dir(str(folder)) is False


def test_race_link_swapped_in_before_the_rename_is_replaced_not_written_through(agent_dir, secret, fs_os):
    leaf = agent_dir / "qbee-agent.json"
    leaf.write_text("{}")

    def racing_rename(src, dst, *args, **kwargs):
        leaf.unlink()
        leaf.symlink_to(secret)
        return os.rename(src, dst, *args, **kwargs)

    fs_os(open=swap_for_link_when_opened(leaf, secret), rename=racing_rename)
    fs.replace_file(str(leaf), b"new", 0o600, *ME)
    assert not leaf.is_symlink() and leaf.read_bytes() == b"new"
    assert untouched(secret)
    assert temp_files(agent_dir) == []


@pytest.mark.root
def test_race_file_swapped_for_a_link_during_a_hand_over_is_left_alone(tmp_path, agent_dir, secret, fs_os):
    (agent_dir / "victim").write_text("state")
    (agent_dir / "victimdir").mkdir()
    (tmp_path / "outside").mkdir()

    def racing_open(name, flags, *args, **kwargs):
        if name == "victim" and not (agent_dir / "victim").is_symlink():  # after the walk's lstat saw a file
            (agent_dir / "victim").unlink()
            (agent_dir / "victim").symlink_to(secret)
        if name == "victimdir" and not (agent_dir / "victimdir").is_symlink():
            (agent_dir / "victimdir").rmdir()
            (agent_dir / "victimdir").symlink_to(tmp_path / "outside")
        return os.open(name, flags, *args, **kwargs)

    fs_os(open=racing_open)
    tree = fs.hand_over(str(agent_dir), SPARE_UID, SPARE_GID)
    assert sorted(tree.links) == ["victim", "victimdir"]
    assert [c[0] for c in tree.changed] == [""]
    assert untouched(secret)
    assert os.stat(tmp_path / "outside").st_uid == 0


@pytest.mark.root
def test_race_entry_swapped_for_a_link_before_give_back_is_skipped(tmp_path, agent_dir, secret):
    (agent_dir / "state").write_text("x")
    tree = fs.hand_over(str(agent_dir), SPARE_UID, SPARE_GID)
    (agent_dir / "state").unlink()
    (agent_dir / "state").symlink_to(secret)
    os.chown(secret, SPARE_UID, SPARE_GID)  # the give-back must not make root own what the link points at
    restored, skipped = fs.give_back(str(agent_dir), tree.changed)
    assert (restored, skipped) == (1, ["state"])
    assert untouched(secret, uid=SPARE_UID, gid=SPARE_GID)
    assert os.stat(agent_dir).st_uid == 0


# ---- trees --------------------------------------------------------------------------------------

@pytest.fixture
def state_tree(tmp_path, secret):
    """A /var/lib/qbee as the agent may leave it: files, a FIFO, a socket, links out, a hard link to the secret."""
    top = tmp_path / "state"
    (top / "ppkeys").mkdir(parents=True)
    (top / "ppkeys" / "key.pem").write_text("k")
    (top / "fifo").parent.mkdir(exist_ok=True)
    os.mkfifo(top / "fifo")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "inner").write_text("not the agent's")
    (top / "cache").symlink_to(outside)
    (top / "leak").symlink_to(secret)
    os.link(secret, top / "hard")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(top / "sock"))
    yield top
    server.close()


@pytest.mark.root
def test_hand_over_changes_what_it_may_and_reports_what_it_leaves_alone(tmp_path, state_tree, secret):
    tree = fs.hand_over(str(state_tree), SPARE_UID, SPARE_GID)
    assert sorted(c[0] for c in tree.changed) == ["", "fifo", "ppkeys", "ppkeys/key.pem"]
    assert all(c[1:] == [0, 0] for c in tree.changed)
    for rel in ("", "fifo", "ppkeys", "ppkeys/key.pem"):
        st = os.lstat(state_tree / rel)
        assert (st.st_uid, st.st_gid) == (SPARE_UID, SPARE_GID), rel
    assert sorted(tree.links) == ["cache", "leak"] and tree.hardlinks == ["hard"] and tree.special == ["sock"]
    assert tree.report() == {"links": sorted(tree.links), "hardlinks": ["hard"], "special": ["sock"]}
    # Nothing outside, nothing hard-linked, no link itself changed owner.
    assert untouched(secret)
    assert os.stat(tmp_path / "outside").st_uid == 0 and os.stat(tmp_path / "outside" / "inner").st_uid == 0
    assert os.lstat(state_tree / "cache").st_uid == 0 and os.lstat(state_tree / "sock").st_uid == 0


@pytest.mark.root
def test_hand_over_in_check_mode_reports_and_changes_nothing(state_tree):
    tree = fs.hand_over(str(state_tree), SPARE_UID, SPARE_GID, check_mode=True)
    assert len(tree.changed) == 4 and tree.owners == {(0, 0)}
    assert os.stat(state_tree).st_uid == 0 and os.stat(state_tree / "ppkeys" / "key.pem").st_uid == 0


@pytest.mark.root
def test_hand_over_leaves_a_device_node_alone(agent_dir):
    try:
        os.mknod(agent_dir / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except OSError as exc:
        pytest.skip("cannot make a device node here: %s" % exc.strerror)
    tree = fs.hand_over(str(agent_dir), SPARE_UID, SPARE_GID)
    assert tree.special == ["null"] and os.lstat(agent_dir / "null").st_uid == 0


@pytest.mark.root
def test_hand_over_twice_changes_nothing_the_second_time(state_tree):
    fs.hand_over(str(state_tree), SPARE_UID, SPARE_GID)
    again = fs.hand_over(str(state_tree), SPARE_UID, SPARE_GID)
    assert again.changed == [] and again.owners == {(SPARE_UID, SPARE_GID)}


@pytest.mark.root
def test_give_back_restores_the_owners_a_hand_over_replaced(state_tree):
    os.chown(state_tree / "ppkeys" / "key.pem", 0, SPARE_GID)
    tree = fs.hand_over(str(state_tree), SPARE_UID, SPARE_UID)
    restored, skipped = fs.give_back(str(state_tree), tree.changed)
    assert (restored, skipped) == (4, [])
    assert os.stat(state_tree).st_uid == 0 and os.stat(state_tree / "fifo").st_uid == 0
    st = os.stat(state_tree / "ppkeys" / "key.pem")
    assert (st.st_uid, st.st_gid) == (0, SPARE_GID)


@pytest.mark.root
def test_give_back_skips_an_entry_that_is_gone_or_hard_linked_since(state_tree, secret):
    tree = fs.hand_over(str(state_tree), SPARE_UID, SPARE_GID)
    (state_tree / "ppkeys" / "key.pem").unlink()
    os.link(state_tree / "fifo", state_tree / "fifo2")
    restored, skipped = fs.give_back(str(state_tree), tree.changed)
    assert sorted(skipped) == ["fifo", "ppkeys/key.pem"] and restored == 2
    assert os.lstat(state_tree / "fifo").st_uid == SPARE_UID
    assert untouched(secret)


def test_read_tree_counts_owners_of_what_a_hand_over_changes_only(tmp_path, state_tree):
    tree = fs.read_tree(str(state_tree))
    assert tree.owners == {ME}
    assert sorted(tree.links) == ["cache", "leak"] and tree.hardlinks == ["hard"] and tree.special == ["sock"]
    assert fs.read_tree(str(tmp_path / "none")) is None


def test_walk_refuses_a_tree_nested_too_deep(agent_dir, monkeypatch):
    monkeypatch.setattr(fs, "MAX_DEPTH", 2)
    (agent_dir / "a" / "b" / "c").mkdir(parents=True)
    with pytest.raises(fs.UnsafePath, match="is nested more than 2 folders deep"):
        fs.read_tree(str(agent_dir))


def test_walk_refuses_a_tree_with_too_many_entries(agent_dir, monkeypatch):
    monkeypatch.setattr(fs, "MAX_ENTRIES", 3)
    for name in "abcd":
        (agent_dir / name).write_text("")
    with pytest.raises(fs.UnsafePath, match="holds more than 3 entries"):
        fs.read_tree(str(agent_dir))


def test_walk_tree_closes_every_descriptor_it_opened(state_tree):
    before = len(os.listdir("/proc/self/fd"))
    fs.read_tree(str(state_tree))
    with pytest.raises(fs.UnsafePath):
        fs.read_regular(str(state_tree / "leak"))
    assert len(os.listdir("/proc/self/fd")) == before


def test_kind_of_names_every_kind():
    assert fs.kind_of(stat.S_IFSOCK) == "a socket" and fs.kind_of(stat.S_IFBLK) == "a block device"
    assert fs.kind_of(0) == "an unknown kind of file"


def test_errors_are_reported_with_their_errno_text(agent_dir, fs_os):
    def busy(*_args, **_kwargs):
        raise OSError(errno.EBUSY, "Device or resource busy")

    (agent_dir / "f").write_text("x")
    fs_os(unlink=busy)
    with pytest.raises(fs.UnsafePath, match="cannot remove .*f: Device or resource busy"):
        fs.remove_file(str(agent_dir / "f"))
