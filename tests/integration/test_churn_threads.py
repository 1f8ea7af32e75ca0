"""Churn and threads: a small leak found to the byte among heavy balanced
traffic, and one leak site hit by four threads at once.

tests/targets/churn.c and threads.c allocate nothing between "ready" and
"go", so every heap call leakwatch counts is one of theirs: the call
counters are exact too.
"""

import signal

from conftest import function_names, outstanding_of, process, site, watch


def check_exact_totals(summary, pid, outstanding, alloc_calls, free_calls):
    for where, totals in (("totals", summary["totals"]),
                          ("processes[].totals", process(summary, pid)["totals"])):
        got = {k: totals[k] for k in ("outstanding_bytes", "outstanding_allocs",
                                      "alloc_calls", "free_calls")}
        want = {"outstanding_bytes": outstanding[0], "outstanding_allocs": outstanding[1],
                "alloc_calls": alloc_calls, "free_calls": free_calls}
        assert got == want, "%s: %r, want %r" % (where, got, want)
    assert summary["totals"]["lost_events"] == 0, summary["totals"]["lost"]


def test_churn_leak_exact(run):
    target = run.target("churn")
    _, summary, (done,) = watch(run, [target], sig=signal.SIGTERM)
    assert done == {"allocs": 200007, "frees": 200000}

    leak = site(summary, "leak_small", target.pid)
    assert (leak["bytes"], leak["allocs"]) == (861, 7)
    assert function_names(leak["stacks"][0])[:4] == ["leak_small", "churn", "run_churn", "main"]
    assert outstanding_of(summary, "churn", target.pid) == (0, 0)
    assert outstanding_of(summary, "churn_ring", target.pid) == (0, 0)
    check_exact_totals(summary, target.pid, (861, 7), 200007, 200000)
    # Nothing else holds bytes: the leak is the first stack.
    assert summary["stacks"][0]["frames"][0]["function"] == "leak_small"


def test_threads_leak_exact(run):
    target = run.target("threads")
    _, summary, (done,) = watch(run, [target])
    assert done == {"threads": 4, "allocs": 25100, "frees": 25000}

    leak = site(summary, "thread_leak", target.pid)
    want = sum(10 * (i + 1) * (1000 * (i + 1) + i) for i in range(4))
    assert want == 300200
    assert (leak["bytes"], leak["allocs"]) == (want, 100), \
        "thread_leak: %r" % [(s["outstanding_bytes"], s["outstanding_allocs"])
                             for s in leak["stacks"]]
    for stack in leak["stacks"]:
        assert function_names(stack)[:2] == ["thread_leak", "thread_main"]
    assert outstanding_of(summary, "thread_churn", target.pid) == (0, 0)
    check_exact_totals(summary, target.pid, (want, 100), 25100, 25000)
