"""The CFI unwinder where mappings change under it: Debian's python3.11
started by leakwatch (its index must be ready before its first
allocation), a library dlopen'ed after attach, a program exec'ed by a
watched process, and children leaking right after their fork. Every
stack is checked against libdw (--verify-stacks 1)."""

import os

import pytest

from conftest import (EXIT_OK, EXIT_TIMEOUT_S, INTERVAL, REPO, TARGETS, function_names,
                      process, site, watch)
from test_cfi import NOFP, START, check_full_stacks

PYTHON = "/usr/bin/python3.11"
NESTED = REPO / "tests" / "targets" / "python" / "nested_leaks.py"


def check_oracle(summary):
    """Every stack libdw could unwind agrees. Records the full ring buffer
    dropped and stacks deeper than the copy are counted, not compared."""
    v = summary["totals"]["stack_verify"]
    assert v["compared"] > 0 and v["agreed"] == v["compared"], v
    return v


def mine(summary, pid):
    return [s for s in summary["stacks"] if s["pid"] == pid]


def test_python_started_by_leakwatch(run):
    """python3.11 runs from its first instruction under the CFI unwinder:
    no allocation waits for an index, and the leak from nested Python
    functions has its native stack through PyObject_Malloc and the
    interpreter up to _start (native frames only: with the Python walker,
    which walks this script from its first line, its frames would take the
    eval loop's place; test_python.py checks that merge)."""
    if not os.access(PYTHON, os.X_OK):
        pytest.skip("no " + PYTHON)
    lw = run.leakwatch("--json", "-", "-T", "100", "--unwind", "cfi", "--verify-stacks", "1",
                       "--no-python", INTERVAL, "--", PYTHON, NESTED, "5", "123457", "1")
    rc = lw.wait_exit(EXIT_TIMEOUT_S + 10)
    assert rc == EXIT_OK, lw.describe()
    summary = lw.summary()
    (p,) = summary["processes"]
    totals = summary["totals"]
    # startup's 1,200 allocations included: none without its index
    assert totals["lost"]["unwind_pending"] == 0, totals
    assert totals["alloc_calls"] > 1000, totals
    assert totals["stack_quality"] == 1, totals
    v = check_oracle(summary)
    assert v["compared"] >= 100, v
    assert v["compared"] + v["unverifiable"] + v["dropped"] >= totals["alloc_calls"], v
    # 5 x (123457 bytes + 33 of header), one stack
    (leak,) = [s for s in mine(summary, p["pid"]) if s["outstanding_bytes"] == 5 * 123490]
    names = function_names(leak)
    assert leak["outstanding_allocs"] == 5 and not leak.get("truncated"), leak
    assert names[0] == "PyObject_Malloc", names
    assert "_PyEval_EvalFrameDefault" in names and "PyEval_EvalCode" in names, names
    assert names[-5:] == ["Py_RunMain", "Py_BytesMain", *START[1:]], names


def test_library_dlopened_after_attach(run):
    """nofp_dlopen loads libnofp_plugin.so (no frame pointers) after
    attach. The first call through it meets code without a table: counted
    as unwind_pending, kept under no stack, and the loader reads the maps.
    From then on its leaks have full stacks, exact."""
    target = run.target("nofp_dlopen")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "100", "--unwind", "cfi",
                       "--verify-stacks", "1", INTERVAL)
    lw.wait_ready()
    target.go()
    # the loader served the request before these reports
    lw.wait_intervals(2)
    target.send("leak")
    assert target.expect("leaked", 10)
    lw.wait_intervals(2)
    assert lw.stop() == EXIT_OK, lw.describe()
    summary = lw.summary()
    stacks = mine(summary, target.pid)
    (leak,) = [s for s in stacks if s["frames"] and s["frames"][0]["function"] == "plugin_leak"]
    assert function_names(leak) == ["plugin_leak", "plugin_mid", "plugin_run", "call_plugin",
                                    *START], leak
    assert (leak["outstanding_bytes"], leak["outstanding_allocs"]) == (4 * 4321, 4), leak
    assert not leak.get("truncated"), leak
    assert leak["frames"][0]["module"].endswith("/libnofp_plugin.so"), leak
    # the first call, before the table: one allocation, never a wrong stack
    assert summary["totals"]["lost"]["unwind_pending"] == 1, summary["totals"]
    check_oracle(summary)
    modules = {m["module"].rsplit("/", 1)[-1]: m for m in summary["unwind"]["modules"]}
    assert modules["libnofp_plugin.so"]["unwinder"] == "cfi", modules


def test_exec_while_traced(run):
    """forker's child execs nofp: the new image's index is built while the
    child is held at its exec, before its libraries run."""
    parent = run.target("forker", "exec", TARGETS / "nofp")
    lw, summary, (done,) = watch(run, [parent], "--unwind", "cfi", "--verify-stacks", "1")
    child = int(done["child"])
    assert process(summary, child)["comm"] == "nofp"
    check_full_stacks(summary, child, NOFP)
    check_oracle(summary)
    assert summary["totals"]["stack_quality"] == 1, summary["totals"]


def test_children_unwound_from_their_fork(run):
    """Workers leak right after fork(): they start with their parent's
    index, so no allocation waits for one."""
    parent = run.target("forker", "fork", 2)
    lw, summary, (done,) = watch(run, [parent], "--unwind", "cfi", "--verify-stacks", "1")
    workers = [int(p) for p in str(done["workers"]).split(",")]
    for i, pid in enumerate(workers):
        leak = site(summary, "leak_in_worker", pid)
        assert (leak["bytes"], leak["allocs"]) == ((i + 1) * 20000, (i + 1) * 10), leak
        (stack,) = [s for s in mine(summary, pid)
                    if s["frames"][0]["function"] == "leak_in_worker"]
        names = function_names(stack)
        # main tail-calls run_fork: its frame is gone, libdw agrees
        assert names == ["leak_in_worker", "run_fork", *START[1:]], names
        assert not stack.get("truncated"), stack
        assert process(summary, pid)["totals"]["lost"]["unwind_pending"] == 0
    assert summary["totals"]["lost"]["unwind_pending"] == 0, summary["totals"]
    assert summary["totals"]["stack_quality"] == 1, summary["totals"]
    check_oracle(summary)
