"""The symbolizer worker: the ELF and DWARF of target files are parsed in a
separate process of leakwatch's that runs without privileges; when it dies,
a new one takes over and leakwatch carries on, counting it."""

import os
import signal
import time

from conftest import INTERVAL, site

NOBODY = 65534


def worker_of(lw, timeout=10.0):
    """The PID of leakwatch's symbolizer worker (its child serving
    --symbol-worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if ppid == lw.proc.pid and b"--symbol-worker" in argv:
                return int(entry)
        time.sleep(0.05)
    raise AssertionError("no symbolizer worker under leakwatch: " + lw.describe())


def status_of(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def named(summary, pid):
    """Functions of the first frame of pid's stacks."""
    return {s["frames"][0]["function"] for s in summary["stacks"]
            if s["pid"] == pid and s["frames"]}


def test_worker_runs_without_privilege(run):
    target = run.target("symbols")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "100", INTERVAL)
    lw.wait_ready()
    worker = worker_of(lw)
    st = status_of(worker)
    assert st["Uid"] == [str(NOBODY)] * 4 and st["Gid"] == [str(NOBODY)] * 4, st
    assert st.get("Groups", []) == [], st
    for caps in ("CapPrm", "CapEff", "CapAmb"):
        assert int(st[caps][0], 16) == 0, (caps, st[caps])
    assert st["NoNewPrivs"] == ["1"], st
    # it holds the files it was handed, and nothing of the tracer's
    held = [os.readlink("/proc/%d/fd/%s" % (worker, fd)) for fd in os.listdir("/proc/%d/fd" % worker)]
    assert not [h for h in held if "bpf" in h or "perf_event" in h], held

    target.go()
    lw.wait_intervals(2)
    assert lw.stop() == 0
    summary = lw.summary()
    assert {"store_records", "make_record", "leak_plain"} <= {
        f["function"] for s in summary["stacks"] for f in s["frames"]}, summary["stacks"]
    assert summary["symbolizer"] == {"crashes": 0, "timeouts": 0, "modules_failed": 0}


def test_worker_crash_is_survived(run):
    first = run.target("symbols")
    second = run.target("allocs")
    lw = run.leakwatch("-p", "%d,%d" % (first.pid, second.pid), "--json", "-", "-T", "100",
                       INTERVAL)
    lw.wait_ready()
    first.go()
    lw.wait_report(lambda r: "leak_plain" in named(r, first.pid), 20, "first's stacks named")

    # the worker crashes between requests...
    old = worker_of(lw)
    os.kill(old, signal.SIGSEGV)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and status_of(old)["State"][0] not in ("Z", "X"):
        time.sleep(0.05)
    # ...and the next new stacks (another module) need one
    second.go()
    lw.wait_report(lambda r: "leak_calloc" in named(r, second.pid), 20, "second's stacks named")
    new = worker_of(lw)
    assert new != old
    assert lw.stop() == 0
    summary = lw.summary()
    assert summary["symbolizer"]["crashes"] == 1, summary["symbolizer"]
    # nobody's module was blamed: every frame of both is still named
    assert summary["symbolizer"]["modules_failed"] == 0, summary["symbolizer"]
    assert {"leak_malloc", "leak_calloc"} <= named(summary, second.pid)
    assert {"make_record", "leak_plain"} <= named(summary, first.pid)
    calloc_site = site(summary, "leak_calloc", second.pid)
    assert calloc_site["bytes"] == 14000
    assert calloc_site["stacks"][0]["frames"][0]["line"] is not None
