"""--growth: resident memory growth by the stack that first touched it, from
page faults, with no allocator probe in the target.

tests/targets/grower.c grows its memory in known ways (see the table at its
top): a heap leak, mmap'd growth, a cache that plateaus, churn through blocks
glibc maps and unmaps, transparent huge pages, a process that exits. Its
bytes are known to the page, so each is checked to within one granule (64
KiB, the default), and each at the function that grew it: the innermost
frame is where the fault was taken (inside malloc or memset), so a site is
found anywhere in the stack. tests/targets/python/leaks.py's small mode
keeps small objects in pymalloc's arenas: the faults there are named by the
Python line that made the objects.
"""
import time

import pytest

from conftest import EXIT_OK, INTERVAL, function_names, process
from test_cgroup import cgroups, slice_name  # noqa: F401 (fixtures)
from test_python import DEBIAN, Script, interpreter, marker, python_frames

GRANULE = 64 << 10
TICK_S = 0.02


def stacks_through(report, function, pid):
    """Stacks of pid with `function` among their frames."""
    return [s for s in report["stacks"] if s["pid"] == pid and function in function_names(s)]


def bytes_through(report, function, pid):
    return sum(s["outstanding_bytes"] for s in stacks_through(report, function, pid))


def start(run, mode, grow, *options):
    """grower MODE GROW under --growth, "go" sent: (target, leakwatch, done)."""
    target = run.target("grower", mode, str(grow))
    lw = run.leakwatch("--growth", "-p", str(target.pid), "--json", "-", "-T", "100", *options,
                       INTERVAL)
    lw.wait_ready()
    return target, lw, target.go()


def wait_ticks(target, n, timeout=30.0):
    """Until the target has run n ticks."""
    deadline = time.monotonic() + timeout
    while target.ping()["ticks"] < n:
        assert time.monotonic() < deadline, "target did not reach %d ticks" % n
        time.sleep(0.1)


def finish(lw, after=2):
    lw.wait_intervals(after)
    assert lw.stop() == EXIT_OK, lw.describe()
    return lw.summary()


def test_heap_leak_grows_at_its_stack(run):
    """malloc(60000) and every byte written, 60000 B a tick: growing while
    it grows, and in the end every byte, at leak_heap, within a granule."""
    grow = 150
    target, lw, done = start(run, "leak", grow)
    growing = lw.wait_report(
        lambda r: any(s["verdict"] == "growing" for s in stacks_through(r, "leak_heap", target.pid)),
        grow * TICK_S * 3, "leak_heap growing")
    assert target.ping()["ticks"] <= grow + 5, "growing only seen once growth was over"
    assert growing["mode"] == "growth"
    wait_ticks(target, grow)
    summary = finish(lw)
    got = bytes_through(summary, "leak_heap", target.pid)
    want = grow * done["per_tick"]
    assert abs(got - want) <= GRANULE, (got, want, summary["stacks"])
    # the pages were touched inside the allocator, on behalf of leak_heap
    for s in stacks_through(summary, "leak_heap", target.pid):
        names = function_names(s)
        assert names[names.index("leak_heap"):][:2] == ["leak_heap", "tick"], names
        assert s["category"] == "resident" and s["outstanding_allocs"] is None, s
    assert summary["totals"]["granules_touched"] >= want // GRANULE
    assert summary["totals"]["lost_events"] == 0, summary["totals"]
    # nothing was attached to the process: no allocator call was seen
    assert process(summary, target.pid)["totals"]["alloc_calls"] is None


def test_mmap_growth(run):
    """256 KiB mapped and written a tick, 100 ticks, at leak_map itself."""
    grow = 100
    target, lw, done = start(run, "mmap", grow)
    wait_ticks(target, grow)
    summary = finish(lw)
    stacks = stacks_through(summary, "leak_map", target.pid)
    assert [function_names(s)[:2] for s in stacks] == [["leak_map", "tick"]], stacks
    want = grow * done["per_tick"]
    assert abs(stacks[0]["outstanding_bytes"] - want) <= GRANULE, (stacks[0], want)


def test_plateaued_cache_is_steady(run):
    """A 4 MiB buffer filled over 50 ticks, then only rewritten: 4 MiB,
    steady."""
    grow = 50
    target, lw, done = start(run, "cache", grow)
    wait_ticks(target, grow)
    summary = finish(lw, after=12)
    stacks = stacks_through(summary, "fill_cache", target.pid)
    got = sum(s["outstanding_bytes"] for s in stacks)
    assert abs(got - done["per_tick"]) <= GRANULE, (got, stacks)
    assert stacks and all(s["verdict"] == "steady" for s in stacks), stacks


def test_churn_nets_to_zero(run):
    """malloc(1 MiB), written, free: glibc maps and unmaps each block, and
    each munmap gives its granules back. What is left at any report is at
    most the block in use."""
    target, lw, _ = start(run, "churn", 1)
    wait_ticks(target, 100)
    summary = finish(lw, after=4)
    for r in lw.reports():
        held = bytes_through(r, "churn_block", target.pid)
        assert held <= (1 << 20) + GRANULE, (r["type"], held)
    assert not [s for s in stacks_through(summary, "churn_block", target.pid)
                if s["verdict"] == "growing"], summary["stacks"]
    totals = summary["totals"]
    # each block spans 17 granules; nearly all were given back
    assert totals["granules_given_back"] >= 100 * 16, totals
    assert totals["granules_touched"] - totals["granules_given_back"] <= 20, totals


def test_huge_pages_count_whole(run):
    """One byte written in a 2 MiB-aligned MADV_HUGEPAGE block: a whole
    huge page made resident, counted whole, where the kernel gives one."""
    grow = 40
    target, lw, done = start(run, "huge", grow)
    wait_ticks(target, grow - 1)
    summary = finish(lw)
    got = bytes_through(summary, "leak_huge", target.pid)
    want = grow * done["per_tick"]
    assert abs(got - want) <= GRANULE, (got, want, done, summary["totals"]["lost"], [
        (s["outstanding_bytes"], function_names(s)[:4]) for s in summary["stacks"]])
    if not done["thp"]:
        pytest.skip("no transparent huge page given here: counted by page (checked)")


def test_a_process_that_exits_keeps_its_last_figures(run):
    """It leaks for 60 ticks and exits: leakwatch ends with it, and the
    summary keeps what was resident at the last reading, marked gone."""
    grow = 60
    target, lw, done = start(run, "exit", grow)
    rc = lw.wait_exit(30)
    assert rc == EXIT_OK, lw.describe()
    reports = lw.reports()
    summary = lw.summary()
    proc = process(summary, target.pid)
    assert proc["alive"] is False, proc
    seen = [bytes_through(r, "leak_heap", target.pid) for r in reports
            if any(p["pid"] == target.pid and p["alive"] for p in r["processes"])]
    last = bytes_through(summary, "leak_heap", target.pid)
    assert seen and last >= max(seen) > 0, (seen, last)
    assert last <= grow * done["per_tick"] + GRANULE, last


def test_python_objects_at_their_line(run):
    """Small objects kept in a list: pymalloc's arenas fill, page by page,
    and each page's first toucher is the line making the objects."""
    s = Script(run, interpreter(DEBIAN), "small", rounds=40, period=0.08)
    lw = run.leakwatch("--growth", "-p", str(s.pid), "--json", "-", "-T", "100", INTERVAL)
    lw.wait_ready()
    done = s.go()
    summary = finish(lw)
    line = marker("leak: small")
    at_line = [st for st in summary["stacks"] if st["pid"] == s.pid and python_frames(st) and
               python_frames(st)[0][2] == line]
    assert at_line, [(st["outstanding_bytes"], python_frames(st)[:1]) for st in summary["stacks"]]
    got = sum(st["outstanding_bytes"] for st in at_line)
    objects = done["rounds"] * done["per_round"]
    payload = objects * 104  # pymalloc's 104-byte blocks
    # at most: the objects' 16 KiB pools (157 blocks each), the list's array
    # of pointers to them (grown by realloc, twice its size at most), the
    # arena being filled, and a huge page where the kernel gives them always
    pools = -(-objects // 157) * 16384
    assert payload <= got <= pools + 2 * objects * 8 + (1 << 20) + (2 << 20), (got, payload)
    assert any(st["verdict"] == "growing" for st in at_line), at_line


def test_the_growing_process_of_a_cgroup_ranks_first(run, cgroups, slice_name):
    """Three processes of one cgroup: a cache that plateaus, churn, and a
    leak. Filtered by the watch list in BPF, nothing attached to any: the
    leak ranks first while it grows, the cache is not growing, and the churn
    never holds more than its block. (A report lands anywhere in the churn's
    memset, so over the six samples that judge the leak the churn's bytes
    can rise by chance: a 6.12 guest saw it called growing.)"""
    app = cgroups.make(slice_name + "/app.scope")
    cache, churn, leak = (run.target("grower", mode, str(grow))
                          for mode, grow in (("cache", 10), ("churn", 1), ("leak", 400)))
    for t in (cache, churn, leak):
        cgroups.move(t.pid, app)
    lw = run.leakwatch("--growth", "-C", slice_name + "/app.scope", "--json", "-", "-T", "100",
                       INTERVAL, pids=[cache.pid, churn.pid, leak.pid])
    lw.wait_ready()
    for t in (cache, churn, leak):
        t.go()

    def leak_first(r):
        ranked = sorted(r["processes"], key=lambda p: p["rank"])
        return len(ranked) == 3 and ranked[0]["pid"] == leak.pid and \
            ranked[0]["verdict"] == "growing"
    report = lw.wait_report(leak_first, 30, "the leaking process ranked first")
    assert sorted(p["rank"] for p in report["processes"]) == [1, 2, 3]
    assert leak.ping()["ticks"] < 400, "ranked first only once its growth was over"
    assert process(report, cache.pid)["verdict"] != "growing", report["processes"]
    for r in lw.reports():
        held = bytes_through(r, "churn_block", churn.pid)
        assert held <= (1 << 20) + GRANULE, (r["elapsed_s"], held)
    assert bytes_through(report, "leak_heap", leak.pid) > 0
    assert lw.stop() == EXIT_OK, lw.describe()


def zoom_of(report, pid):
    return process(report, pid).get("zoom")


def test_zoom_counts_every_call_for_a_window(run):
    """--zoom 1: once the leak is judged growing, its allocator is probed
    for a second: the window's stack is the one the per-call mode gives
    (the same id), with exact bytes, 60000 a call; then the probes are out
    and the window's figures stay."""
    target, lw, done = start(run, "leak", 100000, "--zoom", "1")
    report = lw.wait_report(lambda r: (zoom_of(r, target.pid) or {}).get("state") == "done",
                            30, "a finished zoom window")
    window = zoom_of(report, target.pid)
    assert window["end_s"] >= window["start_s"] + 1, window
    assert not lw.probes_now(), "probes left in once the window closed"
    zoomed = [s for s in report["stacks"] if s["zoom"]]
    assert [function_names(s)[:2] for s in zoomed] == [["leak_heap", "tick"]], zoomed
    stack = zoomed[0]
    assert stack["category"] == "malloc" and stack["pid"] == target.pid, stack
    assert stack["outstanding_bytes"] == stack["outstanding_allocs"] * done["per_tick"], stack
    # a call a tick, ticks 20 ms apart (late ones caught up)
    ticks = (window["end_s"] - window["start_s"]) / TICK_S
    assert 0.5 * ticks <= stack["outstanding_allocs"] <= 1.5 * ticks + 5, (stack, window)
    # the resident pages are counted apart, as before
    resident = [s for s in report["stacks"] if not s["zoom"] and s["pid"] == target.pid]
    assert process(report, target.pid)["totals"]["outstanding_bytes"] == \
        sum(s["outstanding_bytes"] for s in resident)
    assert lw.stop() == EXIT_OK, lw.describe()

    # the per-call mode on the same program: the same stack
    other = run.target("grower", "leak", "20")
    calls = run.leakwatch("-p", str(other.pid), "--json", "-", "-T", "100", INTERVAL)
    calls.wait_ready()
    other.go()
    wait_ticks(other, 20)
    summary = finish(calls)
    by_calls = [s for s in summary["stacks"] if function_names(s)[:1] == ["leak_heap"]]
    assert [s["id"] for s in by_calls] == [stack["id"]], (by_calls, stack)
    assert by_calls[0]["outstanding_bytes"] == 20 * done["per_tick"]


def test_zoom_one_window_at_a_time(run):
    """Two leaking processes, --zoom-per 50: one window at a time, the
    second once the first closed."""
    a, b = (run.target("grower", "leak", "100000") for _ in range(2))
    lw = run.leakwatch("--growth", "--zoom", "1", "-p", "%d,%d" % (a.pid, b.pid), "--json", "-",
                       "-T", "100", INTERVAL)
    lw.wait_ready()
    a.go()
    b.go()
    lw.wait_report(lambda r: all((zoom_of(r, t.pid) or {}).get("state") == "done"
                                 for t in (a, b)), 40, "both windows over")
    assert lw.stop() == EXIT_OK, lw.describe()
    reports = lw.reports()
    for r in reports:
        active = [t.pid for t in (a, b) if (zoom_of(r, t.pid) or {}).get("state") == "active"]
        assert len(active) <= 1, (r["elapsed_s"], active)
    windows = sorted((zoom_of(reports[-1], t.pid) for t in (a, b)), key=lambda w: w["start_s"])
    assert windows[1]["start_s"] >= windows[0]["end_s"], windows


def test_a_program_without_a_known_allocator(run):
    """A static, stripped program: the per-call mode cannot find its malloc
    (exit 2, test_errors.py); --growth needs none and watches it."""
    target = run.target("static_stripped")
    lw = run.leakwatch("--growth", "-p", str(target.pid), "--json", "-", INTERVAL)
    lw.wait_ready()
    assert target.go() == {"leaked": 1000}
    summary = finish(lw)
    assert process(summary, target.pid)["alive"] is True


def test_forked_workers_watched_from_their_fork(run):
    """A server forking workers: nothing is attached to a child, and none is
    held at its fork; the BPF side watches it from the fork on. Each worker's
    growth is its own, at its stack."""
    target = run.target("forker", "grow", "2")
    lw = run.leakwatch("--growth", "-p", str(target.pid), "--json", "-", "-T", "100", "-v",
                       INTERVAL)
    lw.wait_ready()
    done = target.go()
    workers = [int(p) for p in str(done["workers"]).split(",")]

    def grown(r):
        return all(bytes_through(r, "leak_in_worker_tick", w) > 0 for w in workers)
    report = lw.wait_report(grown, 30, "both workers' growth at their stack")
    pids = {p["pid"] for p in report["processes"]}
    assert set(workers) | {target.pid, int(done["grandchild"])} <= pids, report["processes"]
    assert report["totals"]["lost"]["unattached_window"] == 0, report["totals"]
    assert not [l for l in lw.err.snapshot() if "not held at fork" in l], lw.err.snapshot()
    assert lw.stop() == EXIT_OK, lw.describe()


def test_all_watches_every_process(run):
    """--all: the whole cgroup2 hierarchy, so a process started anywhere."""
    target = run.target("grower", "leak", "100000")
    lw = run.leakwatch("--growth", "--all", "--json", "-", "-T", "100", INTERVAL,
                       pids=[target.pid])
    lw.wait_ready()
    target.go()
    report = lw.wait_report(lambda r: bytes_through(r, "leak_heap", target.pid) > 0, 30,
                            "the leak, among every process")
    assert len(report["processes"]) > 1
    assert lw.stop() == EXIT_OK, lw.describe()


def test_exporters_in_growth_mode(run):
    """The HTML page renders in chromium with no console message, the pprof
    profile decodes with the summary's bytes, and the folded stacks hold the
    leak: every output serves growth mode."""
    from test_export_files import Profile
    from test_html import open_in_chromium
    html, pprof, folded = (run.artdir / n for n in ("growth.html", "growth.pb.gz",
                                                    "growth.folded"))
    target, lw, done = start(run, "leak", 60, "--html", str(html), "--pprof", str(pprof),
                             "--folded", str(folded))
    wait_ticks(target, 60)
    summary = finish(lw)
    prof = Profile(pprof)
    assert sum(s["values"][0] for s in prof.samples) == summary["totals"]["outstanding_bytes"]
    assert "leak_heap" in folded.read_text()
    dom, console = open_in_chromium(html, run.artdir, "growth")
    assert not console, "console messages: %s" % console
    assert (dom.root or {}).get("data-rendered") == "ok", dom.root
