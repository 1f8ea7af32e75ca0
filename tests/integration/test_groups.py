"""--group-by: bytes per Python line, whatever the call path.

tests/targets/python/group_lines.py has two leaking lines, each reached by two
call paths (path_one and path_two), under Debian's python3.11. With
--group-by line each line is one group whose bytes are exact (bytes(n) is one
calloc of n + 33 bytes), summing its two stacks, and each line appears once;
with --group-by function the keys are the functions' module-qualified names;
and the groups are growing. A native target (steps.c) groups by the frame
that called malloc, never malloc or libc.
"""
import os
import time

import pytest

from conftest import EXIT_OK, EXIT_USAGE, INTERVAL, TARGET_SOURCES, one_line
from test_python import Script, marker

SCRIPT = TARGET_SOURCES / "python" / "group_lines.py"
DEBIAN = "/usr/bin/python3.11"
BYTES_HEADER = 33  # bytes(n) asks for n + sizeof(PyBytesObject) bytes


def group_lines(run, rounds=30, period=0.05):
    """group_lines.py under Debian's python3.11."""
    if not os.path.exists(DEBIAN):
        pytest.skip("%s is not installed" % DEBIAN)
    return Script(run, DEBIAN, None, rounds, period, script=SCRIPT, args=[])


def watched(run, target, *options):
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "100", *options, INTERVAL)
    lw.wait_ready()
    done = target.go()
    lw.wait_intervals(2)
    assert lw.stop() == EXIT_OK, lw.describe()
    return lw, lw.summary(), done


def innermost_python(stack):
    py = [f for f in stack["frames"] if f.get("kind") == "python"]
    return (py[0]["file"], py[0]["line"]) if py else None


def test_python_lines(run):
    s = group_lines(run)
    lw, summary, done = watched(run, s, "--group-by", "line")
    big, small = marker("leak: big", SCRIPT), marker("leak: small", SCRIPT)
    want = {
        "%s:%d" % (SCRIPT, big): done["rounds"] * done["per_round"] * (done["big"] + BYTES_HEADER),
        "%s:%d" % (SCRIPT, small): done["rounds"] * done["per_round"] *
        (done["small"] + BYTES_HEADER),
    }
    assert summary["group_by"] == "line", summary.keys()
    keys = [g["key"] for g in summary["groups"]]
    assert len(keys) == len(set(keys)), keys  # each key once
    groups = {g["key"]: g for g in summary["groups"]}
    for key, nbytes in want.items():
        assert key in groups, (key, keys)
        g = groups[key]
        assert g["outstanding_bytes"] == nbytes, g
        assert g["outstanding_allocs"] == done["rounds"] * done["per_round"], g
        # two call paths: two stacks summed into the one line
        assert g["stacks"] == 2, g
        line = int(key.rsplit(":", 1)[1])
        stacks = [st for st in summary["stacks"] if innermost_python(st) == (str(SCRIPT), line)]
        assert len(stacks) == 2, [(st["id"], innermost_python(st)) for st in summary["stacks"]]
        assert sum(st["outstanding_bytes"] for st in stacks) == nbytes, stacks
        assert g["verdict"] == "growing", g
        assert g["growth_bytes_per_s"] > 0, g
    # the bigger leak grows faster and comes first (the summary ranks growth)
    big_key = "%s:%d" % (SCRIPT, big)
    small_key = "%s:%d" % (SCRIPT, small)
    assert groups[big_key]["growth_bytes_per_s"] > groups[small_key]["growth_bytes_per_s"]
    assert keys.index(big_key) < keys.index(small_key), keys
    # every interval record has them too
    for r in lw.intervals():
        assert r["group_by"] == "line" and isinstance(r["groups"], list), r.keys()


def test_python_functions(run):
    s = group_lines(run, rounds=15)
    lw, summary, done = watched(run, s, "--group-by", "function")
    groups = {g["key"]: g for g in summary["groups"]}
    n = done["rounds"] * done["per_round"]
    assert groups["group_lines.keep_big"]["outstanding_bytes"] == n * (done["big"] +
                                                                        BYTES_HEADER), groups
    assert groups["group_lines.keep_small"]["outstanding_bytes"] == n * (done["small"] +
                                                                          BYTES_HEADER), groups


def test_native_key_is_the_caller_of_malloc(run):
    """steps.c: step_leak calls malloc; by function the group is step_leak,
    by module the program, never malloc or libc."""
    t = run.target("steps")
    lw = run.leakwatch("-p", t.pid, "--json", "-", "--group-by", "function", INTERVAL)
    lw.wait_ready()
    t.go()
    for _ in range(4):
        t.send("step")
        said = t.expect("stepped", 10)
    lw.wait_intervals(2)
    assert lw.stop() == EXIT_OK, lw.describe()
    summary = lw.summary()
    total = int(said.split("bytes=")[1].split()[0])
    assert summary["groups"][0]["key"] == "step_leak", summary["groups"]
    assert summary["groups"][0]["outstanding_bytes"] == total, summary["groups"]
    assert all(g["key"] not in ("malloc", "__libc_malloc") for g in summary["groups"])


def test_text_table(run):
    """The GROUP table in place of the stacks: 3 x 4096 B at step_leak's line."""
    t = run.target("steps")
    lw = run.leakwatch("-p", t.pid, "--group-by", "line", "-T", "3", INTERVAL)
    lw.wait_ready()
    t.go()
    t.send("step")
    t.expect("stepped", 10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("steps.c:" in l for l in lw.out.snapshot()):
        time.sleep(0.05)
    assert lw.stop() == EXIT_OK, lw.describe()
    out = lw.out.snapshot()
    header = [l for l in out if l.split()[:2] == ["OUTSTANDING", "ALLOCS"] and
              l.rstrip().endswith("LINE")]
    assert header, out
    rows = [l for l in out if "steps.c:" in l]
    assert rows and rows[0].split()[:3] == ["12.0", "KiB", "3"], rows


def test_bad_value(run):
    rc, out, err = run.leakwatch_fails("-p", os.getpid(), "--group-by", "lines")
    assert rc == EXIT_USAGE, (rc, err)
    assert "bad --group-by value 'lines': expected stack, line, function, file or module" in \
        one_line(err), err
