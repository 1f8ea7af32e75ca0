"""-C CGROUP and --container ID: every process of a cgroup v2 directory.

There is no container engine here, so the tests make what one would: real
cgroup directories under the cgroup2 mount, named the way runtimes name
theirs (docker-<64 hex>.scope under a slice), with real target processes
moved into them through cgroup.procs. leakwatch finds them through /proc
and the cgroup file system alone, as it would a real container's.

Every directory a test makes is removed when it ends, however it ends:
processes still inside are moved back to the test runner's own cgroup
first (a cgroup with processes cannot be removed).
"""

import ctypes
import errno
import os
import secrets
import struct
import time
from pathlib import Path

import pytest

from conftest import (EXIT_TARGET, EXIT_USAGE, by_function, one_line, outstanding_of,
                      process, watch)


def _mounts():
    """(cgroup2 mount point, {v1 controller option: mount point})."""
    v2, v1 = None, {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        fields, kind = pre.split(), post.split()
        if len(kind) < 3:
            continue
        point = fields[4].replace("\\040", " ")
        if kind[0] == "cgroup2" and v2 is None:
            v2 = point
        elif kind[0] == "cgroup":
            for opt in kind[2].split(","):
                v1.setdefault(opt, point)
    return v2, v1


V2_MOUNT, V1_MOUNTS = _mounts()


class Cgroups:
    """Cgroup directories made for one test, and the processes moved in."""

    def __init__(self, mount, own_path):
        self.mount = Path(mount)
        # where processes go back to before their directory is removed
        self.home = self.mount / own_path.lstrip("/")
        self.made = []

    def make(self, rel, mount=None):
        """Makes mount/rel (the cgroup2 mount by default) and its missing
        parents; returns its path."""
        path = Path(mount or self.mount)
        # processes go back to the runner's cgroup, or a v1 hierarchy's root
        home = Path(mount) if mount else self.home
        for part in Path(rel).parts:
            path = path / part
            if not path.exists():
                path.mkdir()
                self.made.append((path, home))
        return path

    @staticmethod
    def move(pid, directory):
        (Path(directory) / "cgroup.procs").write_text("%d\n" % pid)

    @staticmethod
    def procs(directory):
        try:
            return [int(p) for p in (Path(directory) / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def cleanup(self):
        problems = []
        for d, home in reversed(self.made):
            for pid in self.procs(d):
                try:
                    self.move(pid, home)
                except OSError:
                    pass  # gone meanwhile
            deadline = time.monotonic() + 5.0
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    # EBUSY while an exiting process leaves it
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        problems.append("%s: %s" % (d, e))
                        break
                    time.sleep(0.05)
        self.made = []
        assert not problems, "cgroups left behind: %s" % problems


def _own_v2_path():
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    return "/"


@pytest.fixture
def cgroups():
    """A Cgroups whose directories are all removed at the end. Skips where
    cgroup2 is not mounted or cannot be written (this needs root)."""
    if V2_MOUNT is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    cg = Cgroups(V2_MOUNT, _own_v2_path())
    try:
        probe = cg.make("leakwatch-test-%d.slice" % os.getpid())
        (probe / "cgroup.procs").read_text()
    except OSError as e:
        cg.cleanup()
        pytest.skip("cannot make cgroups under %s: %s" % (V2_MOUNT, e))
    try:
        yield cg
    finally:
        cg.cleanup()


@pytest.fixture
def slice_name():
    return "leakwatch-test-%d.slice" % os.getpid()


def expected_total(scale):
    """allocs N: 75980 + 50000*(N-1) bytes in 87 + 50*(N-1) allocations."""
    return 75980 + 50000 * (scale - 1), 87 + 50 * (scale - 1)


def check_allocs(summary, target, scale):
    got = outstanding_of(summary, "leak_malloc", target.pid)
    assert got == (50000 * scale, 50 * scale), \
        "pid %d (scale %d): leak_malloc %r; stacks %r" % (
            target.pid, scale, got, by_function(summary, target.pid).get("leak_malloc"))
    totals = process(summary, target.pid)["totals"]
    assert (totals["outstanding_bytes"], totals["outstanding_allocs"]) == \
        expected_total(scale), totals


def cgroup_id(directory):
    """The cgroup's id as the kernel's file handle for it says (kernfs
    encodes the node id, which is the cgroup id), to check the inode."""
    class FileHandle(ctypes.Structure):
        _fields_ = [("bytes", ctypes.c_uint), ("type", ctypes.c_int),
                    ("handle", ctypes.c_ubyte * 8)]
    libc = ctypes.CDLL(None, use_errno=True)
    fh = FileHandle(8, 0)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, str(directory).encode(), ctypes.byref(fh),
                              ctypes.byref(mount_id), 0):
        pytest.fail("name_to_handle_at %s: %s" % (directory, os.strerror(ctypes.get_errno())))
    return struct.unpack("<Q", bytes(fh.handle))[0]


def test_cgroup_two_processes_and_one_skipped(run, cgroups, slice_name):
    """-C with a path relative to the mount: processes in the cgroup and in
    a child cgroup are both watched, each with its own exact leaks; one
    whose allocator cannot be found is skipped with a word, not fatal."""
    app = cgroups.make(slice_name + "/app.scope")
    worker = cgroups.make(slice_name + "/app.scope/worker")
    one, three = run.target("allocs", 1), run.target("allocs", 3)
    stripped = run.target("static_stripped")
    cgroups.move(one.pid, app)
    cgroups.move(three.pid, worker)
    cgroups.move(stripped.pid, worker)

    lw, summary, _ = watch(run, [one, three], "-v",
                           pid_args=["-C", slice_name + "/app.scope"])
    pids = sorted(p["pid"] for p in summary["processes"])
    assert pids == sorted([one.pid, three.pid]), summary["processes"]
    check_allocs(summary, one, 1)
    check_allocs(summary, three, 3)
    total = [a + b for a, b in zip(expected_total(1), expected_total(3))]
    assert [summary["totals"]["outstanding_bytes"],
            summary["totals"]["outstanding_allocs"]] == total

    err = lw.err.snapshot()
    skipped = [l for l in err if "watching 2 of its 3 processes; 1 skipped" in l]
    assert len(skipped) == 1, err
    why = [l for l in err if l.startswith("leakwatch: cgroup: skipping PID %d:" % stripped.pid)]
    assert len(why) == 1 and "allocator" in why[0], err
    # the id -v names is the directory's inode, the kernel's cgroup id
    ino = os.stat(app).st_ino
    assert ino == cgroup_id(app)
    head = [l for l in err if l.startswith("leakwatch: cgroup %s (" % app)]
    assert len(head) == 1 and ("id %d): 3 processes" % ino) in head[0], err


def test_container_by_prefix(run, cgroups, slice_name):
    """--container with a 12-digit prefix (any case) finds the runtime-named
    scope through /proc/PID/cgroup; the processes in it, in sub-cgroups too."""
    cid = secrets.token_hex(32)
    scope = cgroups.make("%s/docker-%s.scope" % (slice_name, cid))
    inner = cgroups.make("%s/docker-%s.scope/init" % (slice_name, cid))
    two, four = run.target("allocs", 2), run.target("allocs", 4)
    cgroups.move(two.pid, scope)
    cgroups.move(four.pid, inner)

    # one of them given with -p too: watched once
    lw, summary, _ = watch(run, [two, four], "-v",
                           pid_args=["-p", str(four.pid), "--container", cid[:12].upper()])
    assert sorted(p["pid"] for p in summary["processes"]) == sorted([two.pid, four.pid])
    check_allocs(summary, two, 2)
    check_allocs(summary, four, 4)
    err = lw.err.snapshot()
    assert any(l.startswith("leakwatch: cgroup %s (container %s, id %d): 2 processes"
                            % (scope, cid, os.stat(scope).st_ino)) for l in err), err


def test_process_in_pid_namespace_has_host_pid(run, cgroups, slice_name):
    """A container's processes live in a PID namespace of their own: the
    report names them by host PID, and -v gives the PID inside."""
    scope = cgroups.make("%s/libpod-%s.scope" % (slice_name, secrets.token_hex(32)))
    outer = run.target("allocs", 2, prefix=("unshare", "--pid", "--fork"))
    children = Path("/proc/%d/task/%d/children" % (outer.pid, outer.pid)).read_text().split()
    assert len(children) == 1, children
    host_pid = int(children[0])
    status = Path("/proc/%d/status" % host_pid).read_text()
    assert "NSpid:\t%d\t1\n" % host_pid in status, status
    cgroups.move(host_pid, scope)

    lw, summary, _ = watch(run, [outer], "-v", pid_args=["-C", str(scope)])
    assert [p["pid"] for p in summary["processes"]] == [host_pid]
    assert summary["processes"][0]["ns_pid"] == 1, summary["processes"][0]
    assert outstanding_of(summary, "leak_malloc", host_pid) == (100000, 100)
    line = "leakwatch: cgroup: PID %d (allocs) is PID 1 in its namespace" % host_pid
    assert line in lw.err.snapshot(), lw.err.snapshot()


@pytest.mark.skipif("pids" not in V1_MOUNTS, reason="no cgroup v1 pids hierarchy (not hybrid)")
def test_container_in_v1_only(run, cgroups, slice_name):
    """A hybrid host whose runtime uses v1 only (Docker's cgroupfs driver
    puts /docker/<id> in each v1 hierarchy): the v1 directory serves."""
    cid = secrets.token_hex(32)
    v1 = cgroups.make("leakwatch-test-%d/%s" % (os.getpid(), cid), mount=V1_MOUNTS["pids"])
    target = run.target("allocs", 1)
    cgroups.move(target.pid, v1)

    lw, summary, _ = watch(run, [target], pid_args=["--container", cid[:16]])
    assert [p["pid"] for p in summary["processes"]] == [target.pid]
    check_allocs(summary, target, 1)
    note = [l for l in lw.err.snapshot() if "cgroup v1 hierarchy pids only" in l]
    assert len(note) == 1, lw.err.snapshot()


def test_unknown_container_says_what_was_tried(run, cgroups):
    cid = secrets.token_hex(32)
    rc, out, err = run.leakwatch_fails("--container", cid[:12], "--json", "-", "0.2")
    assert rc == EXIT_TARGET, err
    line = one_line(err)
    assert line.startswith("leakwatch: no container with id %s:" % cid[:12]), line
    for form in ("docker-ID.scope", "cri-containerd-ID.scope", "crio-ID.scope",
                 "libpod-ID.scope", "/docker/ID"):
        assert form in line, line
    n = int(line.split("cgroups of ")[1].split()[0])
    assert n >= 3, line  # this test's runner, its parent, leakwatch at least
    assert out == []


def test_ambiguous_prefix_lists_candidates(run, cgroups, slice_name):
    prefix = secrets.token_hex(4)
    ids = sorted(prefix + secrets.token_hex(28) for _ in range(2))
    for cid, form in zip(ids, ("docker-%s.scope", "cri-containerd-%s.scope")):
        d = cgroups.make("%s/%s" % (slice_name, form % cid))
        cgroups.move(run.target("allocs").pid, d)
    rc, out, err = run.leakwatch_fails("--container", prefix, "0.2")
    assert rc == EXIT_USAGE, err
    line = one_line(err)
    assert "ambiguous" in line and "2 containers" in line, line
    for cid in ids:
        assert cid in line, line
    # not an id at all: usage, before anything is scanned
    rc, _, err = run.leakwatch_fails("--container", prefix[:3] + "x", "0.2")
    assert rc == EXIT_USAGE and "bad --container value" in one_line(err), err


def test_bad_paths(run, cgroups, slice_name, tmp_path):
    empty = cgroups.make(slice_name + "/empty.scope")
    afile = tmp_path / "not-a-cgroup"
    afile.write_text("")
    cases = [
        (slice_name + "/missing.scope", EXIT_USAGE, "no such cgroup"),
        (str(afile), EXIT_USAGE, "not a directory"),
        (str(empty / "cgroup.procs"), EXIT_USAGE, "not a directory"),
        ("/proc", EXIT_USAGE, "not in a cgroup v2 hierarchy"),
        (str(empty), EXIT_TARGET, "it has no processes"),
    ]
    if "pids" in V1_MOUNTS:
        cases.append((V1_MOUNTS["pids"], EXIT_USAGE, "it is cgroup v1"))
    for path, want_rc, words in cases:
        rc, out, err = run.leakwatch_fails("-C", path, "0.2")
        line = one_line(err)
        assert rc == want_rc and words in line, (path, rc, line)
        assert out == []


def test_processes_entering_and_leaving(run, cgroups, slice_name):
    """A process moved into the cgroup while leakwatch runs is watched from
    then on (counted as having run unwatched a while); one moved out is
    detached, its numbers final: what it allocates afterwards is not its
    cgroup's."""
    app = cgroups.make(slice_name + "/app.scope")
    first, leaver = run.target("allocs", 1), run.target("allocs", 1)
    cgroups.move(first.pid, app)
    cgroups.move(leaver.pid, app)
    lw = run.leakwatch("-C", str(app), "--json", "-", "-T", "100", "-v", "0.2")
    lw.wait_ready()

    newcomer = run.target("allocs", 2)
    cgroups.move(newcomer.pid, app)
    lw.wait_report(lambda r: newcomer.pid in {p["pid"] for p in r["processes"]}, 20,
                   "the newcomer watched")
    cgroups.move(leaver.pid, cgroups.home)
    lw.wait_report(lambda r: any(p["pid"] == leaver.pid and p.get("left_cgroup")
                                 for p in r["processes"]), 20, "the leaver detached")
    for t in (first, newcomer, leaver):
        t.go()
    lw.wait_intervals(2)
    assert lw.stop() == 0, lw.describe()
    summary = lw.summary()
    check_allocs(summary, first, 1)
    check_allocs(summary, newcomer, 2)
    assert process(summary, newcomer.pid)["totals"]["lost"]["unattached_window"] == 1
    gone = process(summary, leaver.pid)
    assert gone["left_cgroup"] is True, gone
    assert gone["totals"]["outstanding_bytes"] == 0, gone
    assert gone["totals"]["alloc_calls"] == 0, gone
