"""Forking servers: children of a watched process are watched from their
fork on, with no window (tests/targets/forker.c: workers leak right after
fork), and an exec in a watched process is followed into the new program."""

import os
import signal
import time

import pytest

from conftest import INTERVAL, TARGETS, parse_kv, process, site, watch


def parse_pids(value):
    return [int(p) for p in str(value).split(",")]


# Kernels before 6.13 cannot stop a child from its parent's fork (the child
# stops itself at its first system call), and before 6.6 have no
# uprobe_multi (a uprobe per function): the same answers either way.
@pytest.mark.parametrize("kernel", ["as_is", "before_6.6"])
def test_workers_followed_from_their_fork(run, kernel):
    options = ["--kernel-without", "uprobe_multi,send_signal_task"] if kernel != "as_is" else []
    parent = run.target("forker", "fork", 2)
    lw, summary, (done,) = watch(run, [parent], *options)
    workers, grandchild = parse_pids(done["workers"]), int(done["grandchild"])

    # the parent's numbers stay its own: its blocks freed by the workers
    # (copies, in their address spaces) are not its frees
    p = process(summary, parent.pid)
    assert p["totals"]["outstanding_bytes"] == 10000, p
    assert p["totals"]["lost"]["unknown_frees"] == 0, p
    assert site(summary, "leak_in_parent", parent.pid)["bytes"] == 10000

    for i, pid in enumerate(workers):
        w = process(summary, pid)
        assert w["parent_pid"] == parent.pid, w
        # every allocation from the first, made right after fork()
        leak = site(summary, "leak_in_worker", pid)
        assert (leak["bytes"], leak["allocs"]) == ((i + 1) * 20000, (i + 1) * 10), leak
        assert w["totals"]["outstanding_bytes"] == (i + 1) * 20000, w
        # the inherited blocks it freed were allocated before it was watched
        assert w["totals"]["lost"]["unknown_frees"] == 10, w
        assert w["totals"]["lost"]["unattached_window"] == 0, w
        assert "leak_in_parent" not in {s["frames"][0]["function"] for s in summary["stacks"]
                                        if s["pid"] == pid}

    g = process(summary, grandchild)
    assert g["parent_pid"] == workers[0], g
    leak = site(summary, "leak_in_grandchild", grandchild)
    assert (leak["bytes"], leak["allocs"]) == (15000, 5), leak
    # a stack's id is the same in every process running the same code
    ids = {s["id"] for s in summary["stacks"] if s["frames"] and
           s["frames"][0]["function"] == "leak_in_worker"}
    assert len(ids) == 1, ids
    # and the workers' leak rolls up into one line for their program
    (rollup,) = [u for u in summary["rollups"] if u["id"] in ids]
    assert rollup["processes"] == 2 and sorted(rollup["pids"]) == sorted(workers), rollup
    assert rollup["exe"] == str(TARGETS / "forker"), rollup
    assert (rollup["outstanding_bytes"], rollup["outstanding_allocs"]) == (60000, 30), rollup
    assert rollup["frames"][0]["function"] == "leak_in_worker", rollup
    assert rollup["growth_per_process_bytes_per_s"] == rollup["growth_bytes_per_s"] / 2
    # stacks of one process only do not roll up
    assert not [u for u in summary["rollups"]
                if u["frames"] and u["frames"][0]["function"] in ("leak_in_parent",
                                                                 "leak_in_grandchild")]
    assert process(summary, parent.pid)["exe"] == str(TARGETS / "forker")


def test_no_follow_forks(run):
    parent = run.target("forker", "fork", 2)
    lw, summary, (done,) = watch(run, [parent], "--no-follow-forks")
    assert [p["pid"] for p in summary["processes"]] == [parent.pid]
    assert site(summary, "leak_in_parent", parent.pid)["bytes"] == 10000


def test_exec_in_a_child_is_followed(run):
    """A child that execs another program (not leakwatch's child, so held
    through /proc) is probed anew before the new program's libraries run:
    its leaks are exact, under the child's PID."""
    parent = run.target("forker", "exec", TARGETS / "allocs")
    lw, summary, (done,) = watch(run, [parent])
    child = int(done["child"])
    c = process(summary, child)
    assert c["comm"] == "allocs", c
    leak = site(summary, "leak_malloc", child)
    assert (leak["bytes"], leak["allocs"]) == (50000, 50), leak
    assert site(summary, "leak_calloc", child)["bytes"] == 14000
    assert site(summary, "leak_in_parent", parent.pid)["bytes"] == 10000



def test_workers_leaking_alike_roll_up_into_one_growing_stack(run):
    """Three workers leaking 20000 B/s each through one code path: one
    rolled-up stack for their program, growing at about 60000 B/s in all and
    20000 B/s per worker."""
    parent = run.target("forker", "grow", 3)
    lw = run.leakwatch("-p", parent.pid, "--json", "-", "-T", "100", "0.25")
    lw.wait_ready()
    done = parent.go()
    workers = parse_pids(done["workers"])
    lw.wait_intervals(14)
    assert lw.stop() == 0, lw.describe()
    summary = lw.summary()
    (rollup,) = [u for u in summary["rollups"]
                 if u["frames"] and u["frames"][0]["function"] == "leak_in_worker_tick"]
    assert sorted(rollup["pids"]) == sorted(workers), rollup
    assert rollup["verdict"] == "growing", rollup
    per = rollup["growth_per_process_bytes_per_s"]
    assert 14000 < per < 26000, rollup
    assert abs(rollup["growth_bytes_per_s"] - 3 * per) < 1e-6 * rollup["growth_bytes_per_s"] + 1
    # the rolled-up line comes first in the summary: it grows fastest
    assert summary["rollups"][0]["id"] == rollup["id"]


def children_of(pid):
    """{child pid: state letter} of pid's children, from /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out[int(entry)] = fields[0]
    return out


def test_killed_while_holding_children(run):
    """leakwatch is SIGKILLed while the workers it holds at fork wait for
    their probes (it is stopped first, so it cannot attach them): its
    guardian process continues them, they run to the end, and stderr says
    which were continued. Without it they would stay stopped for good."""
    parent = run.target("forker", "fork", 2)
    lw = run.leakwatch("-p", str(parent.pid), "--json", "-", INTERVAL)
    lw.wait_ready()
    lw.proc.send_signal(signal.SIGSTOP)
    parent.send("go")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        held = [p for p, state in children_of(parent.pid).items() if state == "T"]
        if held:
            break
        time.sleep(0.02)
    assert held, "no worker held stopped at its fork: %r" % children_of(parent.pid)
    lw.proc.kill()
    assert lw.wait_exit(5.0) == -9
    done = parse_kv(parent.expect("done", 10))
    assert len(parse_pids(done["workers"])) == 2, done
    assert lw.err.wait_for(lambda l: "continued it" in l, 5.0) is not None, lw.err.snapshot()
    said = [l for l in lw.err.snapshot() if "continued it" in l]
    assert {int(l.split("PID ")[1].split()[0]) for l in said} >= set(held), said
    lw.assert_no_probes_left()
