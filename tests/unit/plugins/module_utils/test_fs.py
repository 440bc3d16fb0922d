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
import time

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


@pytest.mark.root
@pytest.mark.parametrize("kind", LINK_KINDS)
def test_set_attributes_refuses_a_link_and_changes_no_target(tmp_path, agent_dir, secret, kind):
    target = link_kinds(tmp_path, secret)[kind]
    leaf = agent_dir / "file"
    leaf.symlink_to(target)
    with pytest.raises(fs.UnsafePath, match="is a symbolic link to .*; refusing to follow it"):
        fs.set_attributes(str(leaf), SPARE_UID, SPARE_GID, 0o666)
    assert untouched(secret)
    assert os.stat(tmp_path / "elsewhere").st_uid == 0


def test_open_leaf_of_a_missing_file_is_no_descriptor(agent_dir):
    dir_fd, fd, st = fs.open_leaf(str(agent_dir / "none"))
    os.close(dir_fd)
    assert (fd, st) == (None, None)


def test_read_regular_of_a_missing_file_or_folder_is_none(tmp_path):
    assert fs.read_regular(str(tmp_path / "none")) == (None, None)
    assert fs.read_regular(str(tmp_path / "no-folder" / "none")) == (None, None)


def test_remove_file_of_what_is_not_there_is_false(tmp_path):
    assert fs.remove_file(str(tmp_path / "none")) is False
    assert fs.remove_file(str(tmp_path / "no-folder" / "none")) is False


def test_remove_file_refuses_a_folder(agent_dir):
    (agent_dir / "sub").mkdir()
    with pytest.raises(fs.UnsafePath, match="is a folder; refusing to remove it"):
        fs.remove_file(str(agent_dir / "sub"))
    assert (agent_dir / "sub").is_dir()


# ---- what is not a regular file with one link ----------------------------------------------------

def test_read_regular_refuses_a_fifo_without_waiting_for_a_writer(agent_dir, no_hang):
    fifo = agent_dir / "qbee-agent.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(fs.UnsafePath) as exc:
        fs.read_regular(str(fifo))
    assert time.monotonic() - started < 2
    assert str(exc.value) == "%s is a FIFO, not a regular file" % fifo


@pytest.mark.root
def test_read_regular_refuses_a_device_node(agent_dir, no_hang):
    device = agent_dir / "qbee-agent.json"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is
    except OSError as exc:
        pytest.skip("cannot make a device node here: %s" % exc.strerror)
    with pytest.raises(fs.UnsafePath) as exc:
        fs.read_regular(str(device))
    assert "%s is a character device" % device in str(exc.value) or "(a character device)" in str(exc.value)


def test_read_regular_refuses_a_link_to_dev_null_as_a_link(agent_dir):
    leaf = agent_dir / "qbee-agent.json"
    leaf.symlink_to("/dev/null")
    with pytest.raises(fs.UnsafePath, match="is a symbolic link to /dev/null; refusing to follow it"):
        fs.read_regular(str(leaf))


def test_read_regular_refuses_a_socket(agent_dir):
    path = agent_dir / "s"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        server.listen(1)
        with pytest.raises(fs.UnsafePath, match=r"cannot open .* \(a socket\)"):
            fs.read_regular(str(path))
    finally:
        server.close()


def test_read_regular_refuses_a_folder(agent_dir):
    with pytest.raises(fs.UnsafePath, match="is a folder, not a regular file"):
        fs.read_regular(str(agent_dir))


def test_read_regular_refuses_a_hard_linked_file(agent_dir, secret):
    leaf = agent_dir / "qbee-agent.json"
    os.link(secret, leaf)  # what an attacker does to have root read (or re-own) the secret by another name
    with pytest.raises(fs.UnsafePath) as exc:
        fs.read_regular(str(leaf))
    assert str(exc.value) == "%s has 2 hard links; refusing to use a file that is also elsewhere" % leaf


def test_read_regular_reads_up_to_the_cap_and_refuses_one_byte_more(agent_dir):
    leaf = agent_dir / "qbee-agent.json"
    leaf.write_bytes(b"x" * fs.MAX_CONFIG_BYTES)
    data, st = fs.read_regular(str(leaf))
    assert len(data) == fs.MAX_CONFIG_BYTES and st.st_size == fs.MAX_CONFIG_BYTES
    leaf.write_bytes(b"x" * (fs.MAX_CONFIG_BYTES + 1))
    with pytest.raises(fs.UnsafePath) as exc:
        fs.read_regular(str(leaf))
    assert str(exc.value) == "%s is %d bytes, more than the %d this file can honestly be" % (
        leaf, fs.MAX_CONFIG_BYTES + 1, fs.MAX_CONFIG_BYTES)


def test_read_regular_stops_at_the_cap_when_the_file_grows_after_its_size_was_checked(agent_dir, fs_os):
    leaf = agent_dir / "qbee-agent.json"
    leaf.write_bytes(b"x" * (3 * fs.MAX_CONFIG_BYTES))
    reads = []

    def small_fstat(fd):  # the size when it was checked: the file grows after that
        st = os.fstat(fd)
        return os.stat_result(tuple(st)[:6] + (10,) + tuple(st)[7:]) if stat.S_ISREG(st.st_mode) else st

    def read(fd, count):
        reads.append(count)
        return os.read(fd, count)

    fs_os(fstat=small_fstat, read=read)
    with pytest.raises(fs.UnsafePath, match="grew past %d bytes while it was read" % fs.MAX_CONFIG_BYTES):
        fs.read_regular(str(leaf))
    assert sum(reads) <= fs.MAX_CONFIG_BYTES + 1


def test_read_regular_honours_a_smaller_cap(agent_dir):
    leaf = agent_dir / "f"
    leaf.write_bytes(b"12345")
    assert fs.read_regular(str(leaf), max_bytes=5)[0] == b"12345"
    with pytest.raises(fs.UnsafePath, match="is 5 bytes, more than the 4"):
        fs.read_regular(str(leaf), max_bytes=4)


# ---- the folders on the way ----------------------------------------------------------------------

def test_open_dir_needs_an_absolute_path():
    with pytest.raises(fs.UnsafePath, match="etc/qbee is not an absolute path"):
        fs.open_dir("etc/qbee")


def test_open_dir_of_a_missing_folder_raises_missing(tmp_path):
    with pytest.raises(fs.Missing, match="%s does not exist" % (tmp_path / "a")):
        fs.open_dir(str(tmp_path / "a" / "b"))


def test_open_dir_refuses_a_file_on_the_way(agent_dir):
    (agent_dir / "file").write_text("")
    with pytest.raises(fs.UnsafePath, match="%s is a regular file, not a folder" % (agent_dir / "file")):
        fs.open_dir(str(agent_dir / "file" / "x"))


def same_folder(fd, path):
    st, other = os.fstat(fd), os.stat(path)
    os.close(fd)
    return (st.st_dev, st.st_ino) == (other.st_dev, other.st_ino)


@pytest.mark.root(reason="only a link root owns is followed")
def test_open_dir_follows_a_root_owned_link_in_a_folder_only_root_can_change(tmp_path):
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    os.chmod(tmp_path, 0o755)
    (tmp_path / "lib").symlink_to("usr/lib")  # as merged-/usr has /lib -> usr/lib
    (tmp_path / "up").symlink_to("usr/lib/../../usr")  # relative targets resolve from the link's folder
    assert same_folder(fs.open_dir(str(tmp_path / "lib")), tmp_path / "usr" / "lib")
    assert same_folder(fs.open_dir(str(tmp_path / "up" / "lib")), tmp_path / "usr" / "lib")


@pytest.mark.root
def test_open_dir_refuses_a_link_in_a_folder_the_agent_owns(tmp_path, agent_dir):
    (tmp_path / "elsewhere").mkdir()
    (agent_dir / "cache").symlink_to(tmp_path / "elsewhere")  # root's link, but in the agent's folder
    os.chown(agent_dir, SPARE_UID, SPARE_GID)
    os.chmod(agent_dir, 0o755)
    with pytest.raises(fs.UnsafePath) as exc:
        fs.open_dir(str(agent_dir / "cache"))
    assert str(exc.value) == "%s is a symbolic link (to %s) in a folder that users other than root can change" % (
        agent_dir / "cache", tmp_path / "elsewhere")
    with pytest.raises(fs.UnsafePath, match="in a folder that users other than root can change"):
        fs.replace_file(str(agent_dir / "cache" / "f"), b"x", 0o600, *ME)
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.root
def test_open_dir_refuses_a_link_the_agent_owns_even_in_roots_folder(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    os.lchown(tmp_path / "link", SPARE_UID, SPARE_GID)
    with pytest.raises(fs.UnsafePath, match="in a folder that users other than root can change"):
        fs.open_dir(str(tmp_path / "link"))


@pytest.mark.root(reason="only a link root owns is followed")
@pytest.mark.parametrize("mode, followed", [(0o775, False), (0o757, False), (0o1777, True), (0o755, True)],
                         ids=["0775", "0757", "1777", "0755"])
def test_open_dir_follows_links_only_in_folders_others_cannot_write_or_that_are_sticky(tmp_path, mode, followed):
    holder = tmp_path / "holder"
    (tmp_path / "real").mkdir()
    holder.mkdir()
    (holder / "link").symlink_to(tmp_path / "real")
    os.chmod(holder, mode)
    if followed:
        assert same_folder(fs.open_dir(str(holder / "link")), tmp_path / "real")
    else:
        with pytest.raises(fs.UnsafePath, match="in a folder that users other than root can change"):
            fs.open_dir(str(holder / "link"))


@pytest.mark.root(reason="only a link root owns is followed")
def test_open_dir_gives_up_on_a_loop_of_links(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(fs.UnsafePath) as exc:
        fs.open_dir(str(tmp_path / "a"))
    assert str(exc.value) == "%s: more than %d symbolic links on the way (a loop?)" % (tmp_path / "a", fs.MAX_LINKS)


@pytest.mark.root
def test_open_dir_refuses_a_folder_swapped_for_a_link_while_it_walks(tmp_path, agent_dir, fs_os):
    """The agent replaces a folder on the way by a link between root's looks: the open itself refuses it."""
    os.chown(agent_dir, SPARE_UID, SPARE_GID)
    (agent_dir / "conf.d").mkdir()
    (tmp_path / "elsewhere").mkdir()

    def swapping_open(name, flags, *args, **kwargs):
        if name == "conf.d" and (agent_dir / "conf.d").is_dir() and not (agent_dir / "conf.d").is_symlink():
            (agent_dir / "conf.d").rmdir()
            (agent_dir / "conf.d").symlink_to(tmp_path / "elsewhere")
        return os.open(name, flags, *args, **kwargs)

    fs_os(open=swapping_open)
    with pytest.raises(fs.UnsafePath, match="in a folder that users other than root can change"):
        fs.replace_file(str(agent_dir / "conf.d" / "x.conf"), b"x", 0o644, *ME)
    assert list((tmp_path / "elsewhere").iterdir()) == []


# ---- replace_file -------------------------------------------------------------------------------

@pytest.mark.root
def test_replace_file_sets_owner_and_mode_and_leaves_no_temporary_file(agent_dir):
    leaf = agent_dir / "qbee-agent.json"
    leaf.write_text("old")
    fs.replace_file(str(leaf), b"new", 0o640, SPARE_UID, SPARE_GID)
    assert untouched(leaf, b"new", SPARE_UID, SPARE_GID, 0o640)
    assert sorted(p.name for p in agent_dir.iterdir()) == ["qbee-agent.json"]


def test_replace_file_leaves_the_other_name_of_a_hard_linked_file_alone(agent_dir, secret):
    leaf = agent_dir / "qbee-agent.json"
    os.link(secret, leaf)
    fs.replace_file(str(leaf), b"new", 0o600, *ME)
    assert leaf.read_bytes() == b"new" and os.lstat(leaf).st_nlink == 1
    assert untouched(secret)


def test_replace_file_never_writes_through_a_link_planted_at_its_temporary_name(agent_dir, secret):
    leaf = agent_dir / "qbee-agent.json"
    planted = agent_dir / (".qbee-agent.json.%d.0.tmp" % os.getpid())
    planted.symlink_to(secret)  # the first name replace_file tries
    fs.replace_file(str(leaf), b"new", 0o600, *ME)
    assert leaf.read_bytes() == b"new" and untouched(secret) and planted.is_symlink()


def test_replace_file_refuses_a_folder_at_its_name_and_leaves_no_temporary_file(agent_dir):
    (agent_dir / "sub").mkdir()
    with pytest.raises(fs.UnsafePath, match="cannot write a new .*sub: .*; the original is unchanged"):
        fs.replace_file(str(agent_dir / "sub"), b"x", 0o600, *ME)
    assert (agent_dir / "sub").is_dir() and temp_files(agent_dir) == []


def test_replace_file_through_a_missing_folder_raises_missing(tmp_path):
    with pytest.raises(fs.Missing):
        fs.replace_file(str(tmp_path / "none" / "f"), b"x", 0o600, *ME)


@pytest.mark.root
def test_set_attributes_changes_owner_and_mode_and_returns_the_old_ones(agent_dir):
    leaf = agent_dir / "f"
    leaf.write_bytes(b"x")
    leaf.chmod(0o644)
    assert fs.set_attributes(str(leaf), SPARE_UID, SPARE_GID, 0o600) == (0, 0, 0o644)
    assert untouched(leaf, b"x", SPARE_UID, SPARE_GID, 0o600)
    assert fs.set_attributes(str(leaf)) == (SPARE_UID, SPARE_GID, 0o600)


def test_set_attributes_refuses_a_hard_linked_file(agent_dir, secret):
    os.link(secret, agent_dir / "f")
    with pytest.raises(fs.UnsafePath, match="has 2 hard links"):
        fs.set_attributes(str(agent_dir / "f"), mode=0o666)
    assert untouched(secret)


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
def test_race_link_swapped_in_before_the_open_is_not_chowned_or_chmodded(agent_dir, secret, fs_os):
    leaf = agent_dir / "qbee-agent.json"
    leaf.write_text("{}")
    fs_os(open=swap_for_link_when_opened(leaf, secret))
    with pytest.raises(fs.UnsafePath, match="refusing to follow it"):
        fs.set_attributes(str(leaf), SPARE_UID, SPARE_GID, 0o666)
    assert untouched(secret)


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
