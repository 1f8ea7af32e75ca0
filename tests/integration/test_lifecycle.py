"""Targets that exit, several targets at once, COUNT, SIGKILL, and the trend
judgement on a leak of known rate."""

import time
from pathlib import Path

from conftest import (EXIT_OK, EXIT_TIMEOUT_S, INTERVAL, by_function, check_spacing,
                      function_names, outstanding_of, process, site, watch)

ALLOCS_TOTAL = (75980, 87)       # tests/targets/allocs.c, scale 1
ALLOCS_PER_SCALE = (50000, 50)   # what each further unit of scale adds
EXITER_LEAK = (30 * 512, 30)     # tests/targets/exiter.c


def test_exiting_target_ends_the_run(run):
    """The last target exits: leakwatch prints the summary, with that
    process's stacks kept and symbolized, and exits 0 by itself."""
    target = run.target("exiter", 600)
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "100", INTERVAL)
    lw.wait_ready()
    target.go()
    assert target.wait(10) == 0, "exiter did not exit by itself"
    rc = lw.wait_exit(EXIT_TIMEOUT_S)
    assert rc is not None, "leakwatch still running %.0f s after its only target exited" % (
        EXIT_TIMEOUT_S)
    assert rc == EXIT_OK, lw.describe()
    summary = lw.summary()
    assert process(summary, target.pid)["alive"] is False
    leak = site(summary, "exiter_leak", target.pid)
    assert (leak["bytes"], leak["allocs"]) == EXITER_LEAK
    assert function_names(leak["stacks"][0])[:2] == ["exiter_leak", "main"]
    lw.assert_no_probes_left()


def test_exited_unreaped_target_counts_as_exited(run):
    """A target that has exited but is not reaped yet (a zombie: its parent,
    this test, waits for it only afterwards) has exited: leakwatch ends."""
    target = run.target("exiter", 300)
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "100", INTERVAL)
    lw.wait_ready()
    target.go()
    rc = lw.wait_exit(EXIT_TIMEOUT_S)
    state = Path("/proc/%d/stat" % target.pid).read_text().rsplit(")", 1)[1].split()[0]
    assert rc is not None, "leakwatch still running %.0f s after its only target exited " \
        "(state %s, not reaped)" % (EXIT_TIMEOUT_S, state)
    assert state == "Z", "the target was reaped early; the test proves nothing"
    assert rc == EXIT_OK, lw.describe()
    summary = lw.summary()
    assert process(summary, target.pid)["alive"] is False
    assert outstanding_of(summary, "exiter_leak", target.pid) == EXITER_LEAK
    assert target.wait(5) == 0


def test_intervals_are_spaced(run):
    """Reports come every INTERVAL seconds while the target works, by the
    clock and by elapsed_s."""
    target = run.target("steady")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "100", INTERVAL)
    lw.wait_ready()
    target.go()
    t0 = time.monotonic()
    lw.wait_intervals(6)
    took = time.monotonic() - t0
    assert took >= 5 * float(INTERVAL) * 0.8, \
        "6 reports %s s apart arrived in %.3f s" % (INTERVAL, took)
    assert lw.stop() == EXIT_OK, lw.describe()
    check_spacing(lw.reports()[:-1], float(INTERVAL))


def test_two_pids_repeated_option(run):
    """-p A -p B, two instances of one program leaking different amounts from
    the same code: each pid's numbers are its own, and a stack's id is the
    same in both processes (build-id + file offsets, not addresses)."""
    a = run.target("allocs")
    b = run.target("allocs", 2)
    _, summary, dones = watch(run, [a, b], pid_args=["-p", a.pid, "-p", b.pid])
    assert [d["scale"] for d in dones] == [1, 2]
    assert {s["pid"] for s in summary["stacks"]} == {a.pid, b.pid}
    for t, scale in ((a, 1), (b, 2)):
        assert outstanding_of(summary, "leak_malloc", t.pid) == (50000 * scale, 50 * scale)
        assert outstanding_of(summary, "leak_calloc", t.pid) == (14000, 20)
        want = tuple(x + y * (scale - 1) for x, y in zip(ALLOCS_TOTAL, ALLOCS_PER_SCALE))
        totals = process(summary, t.pid)["totals"]
        assert (totals["outstanding_bytes"], totals["outstanding_allocs"]) == want, t.pid
        assert process(summary, t.pid)["alive"] is True
    totals = summary["totals"]
    assert (totals["outstanding_bytes"], totals["outstanding_allocs"]) == (
        2 * ALLOCS_TOTAL[0] + ALLOCS_PER_SCALE[0], 2 * ALLOCS_TOTAL[1] + ALLOCS_PER_SCALE[1])
    for function in ("leak_malloc", "leak_calloc", "leak_realloc_grow"):
        ids = [{s["id"] for s in site(summary, function, t.pid)["stacks"]
                if s["outstanding_bytes"]} for t in (a, b)]
        assert ids[0] == ids[1], "%s: stack ids differ between the two processes: %r" % (
            function, ids)


def test_two_pids_comma_list(run):
    """-p A,B with two different programs: each site under its own pid only."""
    a = run.target("allocs")
    b = run.target("churn")
    _, summary, _ = watch(run, [a, b], pid_args=["-p", "%d,%d" % (a.pid, b.pid)])
    assert {p["pid"] for p in summary["processes"]} == {a.pid, b.pid}
    assert outstanding_of(summary, "leak_malloc", a.pid) == (50000, 50)
    assert outstanding_of(summary, "leak_small", b.pid) == (861, 7)
    assert "leak_small" not in by_function(summary, a.pid)
    assert "leak_malloc" not in by_function(summary, b.pid)
    assert process(summary, a.pid)["comm"] == "allocs"
    assert process(summary, b.pid)["comm"] == "churn"
    totals = summary["totals"]
    assert (totals["outstanding_bytes"], totals["outstanding_allocs"]) == (
        ALLOCS_TOTAL[0] + 861, ALLOCS_TOTAL[1] + 7)


def test_one_of_two_exits(run):
    """One target exits, the other lives: leakwatch goes on watching and the
    gone process's stacks stay in the reports and in the summary."""
    gone = run.target("exiter", 200)
    stays = run.target("allocs")
    lw = run.leakwatch("-p", "%d,%d" % (gone.pid, stays.pid), "--json", "-", "-T", "100",
                       INTERVAL)
    lw.wait_ready()
    gone.go()
    stays.go()
    assert gone.wait(10) == 0, "exiter did not exit by itself"
    lw.wait_report(lambda r: any(p["pid"] == gone.pid and not p["alive"]
                                 for p in r["processes"]),
                   10.0, "the exited target marked alive false")
    lw.wait_intervals(2)
    assert lw.proc.poll() is None, "leakwatch stopped though a target lives: %s" % (
        lw.describe())
    assert lw.stop() == EXIT_OK, lw.describe()
    summary = lw.summary()
    assert process(summary, gone.pid)["alive"] is False
    assert process(summary, stays.pid)["alive"] is True
    leak = site(summary, "exiter_leak", gone.pid)
    assert (leak["bytes"], leak["allocs"]) == EXITER_LEAK
    assert outstanding_of(summary, "leak_malloc", stays.pid) == (50000, 50)


def test_count_honored(run):
    """INTERVAL 0.2, COUNT 3: three interval lines, the summary, exit 0."""
    target = run.target("allocs")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "0.2", "3")
    lw.wait_ready()
    rc = lw.wait_exit(EXIT_TIMEOUT_S)
    assert rc is not None, "leakwatch still running %.0f s after COUNT 3 x 0.2 s" % (
        EXIT_TIMEOUT_S)
    assert rc == EXIT_OK, lw.describe()
    lw.summary()  # checks every line against the schema
    reports = lw.reports()
    assert [r["type"] for r in reports] == ["interval"] * 3 + ["summary"]
    elapsed = [r["elapsed_s"] for r in reports]
    assert elapsed == sorted(elapsed) and len(set(elapsed[:3])) == 3, elapsed
    check_spacing(reports, 0.2)
    assert target.alive()
    lw.assert_no_probes_left()


def test_sigkill_leaves_target_running_and_no_probe(run):
    """SIGKILL leakwatch mid-run: every probe goes with it, and the target
    (allocating all the while) goes on unharmed."""
    target = run.target("steady")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "100", INTERVAL)
    lw.wait_ready()
    target.go()
    lw.wait_report(lambda r: outstanding_of(r, "leak_tick", target.pid)[0] > 0, 10.0,
                   "steady's leak_tick")
    assert lw.probes_now(), ("no uprobe of leakwatch's found while it runs; "
                             "the check after the kill would prove nothing")
    before = target.ping()
    lw.proc.kill()
    assert lw.wait_exit(5.0) == -9
    lw.assert_no_probes_left()
    deadline = time.monotonic() + 5.0
    while True:
        after = target.ping()
        if after["ticks"] > before["ticks"] + 5 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert after["ticks"] > before["ticks"] + 5, "target stopped ticking: %r -> %r" % (
        before, after)
    assert target.alive()
    assert target.close() == 0


def test_growing_leak_is_judged_growing(run):
    """steady leaks 1 KiB every 20 ms (51200 B/s) from leak_tick: after four
    seconds of 0.25 s samples it is growing, at about that rate; the
    balanced churn beside it is not."""
    target = run.target("steady")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "100", "0.25")
    lw.wait_ready()
    target.go()
    last = lw.wait_intervals(16, timeout=30.0)
    pong = target.ping()
    rate = pong["ticks"] * 1024 / (pong["ms"] / 1000.0)
    leak = site(last, "leak_tick", target.pid)["stacks"][0]
    assert leak["verdict"] == "growing", leak
    assert 0.6 * rate <= leak["growth_bytes_per_s"] <= 1.5 * rate, \
        "growth %r B/s, the target leaks %.0f B/s" % (leak["growth_bytes_per_s"], rate)
    assert leak["delta_bytes"] > 0, leak
    churn = by_function(last, target.pid).get("churn_tick")
    for stack in churn["stacks"] if churn else []:
        assert stack["verdict"] != "growing", stack
    assert lw.stop() == EXIT_OK, lw.describe()
    summary = lw.summary()
    assert site(summary, "leak_tick", target.pid)["stacks"][0]["verdict"] == "growing"
