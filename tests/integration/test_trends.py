"""Verdicts over time: a leak told apart from a cache that warmed up and
stopped, from balanced churn and from a sawtooth, and the leak's rate.

One run of tests/targets/trends.c (see the table at its top): every 20 ms,
on a fixed schedule, leak_tick leaks 2000 B (100000 B/s), cache_put fills a
50-slot cache of 16000 B entries over the first 0.5 s and then replaces
entries in place (800000 B held), churn_tick allocates and frees, and
saw_tick fills a batch of 4000 B blocks for 24 ticks and frees it on the
25th (a 0.5 s sawtooth). leakwatch reports every 0.2 s for 4.4 s after
"go": by then the window's recent half lies well past the cache's warm-up.

The verdict (docs/output.md), per stack over its last 64 samples, one
per report: the growth rate is the Theil-Sen slope (the median of the
slopes between every pair of samples); "growing" needs a Mann-Kendall z
>= 2.326 over the window, a positive slope, and a positive slope over the
window's recent half; "new" below 6 samples, the fewest on which it can
be growing.
Interval reports rank stacks by outstanding bytes; the summary ranks the
growing stacks first, fastest first, then the rest by outstanding bytes.
The cache holds more than the leak at the end (800000 B against about
450000 B), so the two rankings differ and each is seen.
"""

import pytest

from conftest import EXIT_OK, by_function, check_report, site

TICK_S = 0.02
LEAK_PER_TICK = 2000
LEAK_RATE = LEAK_PER_TICK / TICK_S   # 100000 B/s
CACHE = (50 * 16000, 50)
SAW_PEAK = 24 * 4000
REPORTS_AFTER_GO = 22                # 4.4 s at 0.2 s
RATE_TOLERANCE = 0.10
INTERVAL = "0.2"                     # trends.c's sawtooth period is chosen against it


def read_reports(lw):
    """(interval reports, summary), after leakwatch exited, each checked
    against the contract (conftest's check_report knows both rankings)."""
    assert lw.proc.poll() is not None
    reports = lw.reports()
    kinds = [r.get("type") for r in reports]
    assert kinds.count("summary") == 1 and kinds[-1] == "summary", kinds
    intervals, summary = reports[:-1], reports[-1]
    for r in reports:
        check_report(r)
    return intervals, summary


@pytest.fixture(scope="module")
def trends(module_run):
    target = module_run.target("trends")
    lw = module_run.leakwatch("-p", target.pid, "--json", "-", "-T", "100", INTERVAL)
    lw.wait_ready()
    done = target.go()
    lw.wait_intervals(REPORTS_AFTER_GO, timeout=30.0)
    before = target.ping()
    assert lw.stop() == EXIT_OK, lw.describe()
    after = target.ping()
    intervals, summary = read_reports(lw)
    lw.assert_no_probes_left()
    return target, intervals, summary, done, before, after


def only_stack(report, function, pid):
    stacks = site(report, function, pid)["stacks"]
    assert len(stacks) == 1, "%s: %d stacks" % (function, len(stacks))
    return stacks[0]


def appearances(intervals, function, pid):
    """The stack of `function` in each interval report that lists it."""
    out = []
    for r in intervals:
        s = by_function(r, pid).get(function)
        if s:
            assert len(s["stacks"]) == 1, "%s: %d stacks" % (function, len(s["stacks"]))
            out.append(s["stacks"][0])
    return out


def test_target_kept_its_schedule(trends):
    """The premise of the rates below: ticks ran every 20 ms, on time."""
    _, _, _, done, before, after = trends
    assert done == {"tick_ms": 20, "leak_per_tick": LEAK_PER_TICK, "cache_slots": 50,
                    "cache_entry": 16000, "saw_period": 25, "saw_block": 4000}
    for pong in (before, after):
        due = pong["ms"] // 20 + 1   # tick 0 runs at "go"
        assert due - 5 <= pong["ticks"] <= due, "ticks fell behind: %r" % pong


def test_only_the_leak_is_growing(trends):
    target, _, summary, _, _, _ = trends
    growing = sorted({s["frames"][0]["function"] for s in summary["stacks"]
                      if s["verdict"] == "growing"})
    assert growing == ["leak_tick"], "growing in the summary: %s; stacks %s" % (
        growing, [(s["frames"][0]["function"], s["outstanding_bytes"], s["verdict"])
                  for s in summary["stacks"]])


def test_leak_rate(trends):
    """The samples lie on a line of 100000 B/s: each is 2000 B times the
    ticks run when it was read, off the line by less than a tick or two
    (a tick is due every 20 ms; the read comes a little after `elapsed_s`
    is taken). A pair of samples dt apart has a slope within about
    4000 B / dt of the rate, and the median over all ~250 pairs, most of
    them over a second apart, lands within a few percent (under 1% in
    practice); 10% leaves room for a target slowed by a loaded machine,
    whose late ticks are caught up."""
    target, intervals, summary, _, _, _ = trends
    leak = only_stack(summary, "leak_tick", target.pid)
    assert abs(leak["growth_bytes_per_s"] - LEAK_RATE) <= RATE_TOLERANCE * LEAK_RATE, \
        "growth %r B/s, the target leaks %.0f B/s" % (leak["growth_bytes_per_s"], LEAK_RATE)
    last = only_stack(intervals[-1], "leak_tick", target.pid)
    assert last["verdict"] == "growing", last
    assert abs(last["growth_bytes_per_s"] - LEAK_RATE) <= RATE_TOLERANCE * LEAK_RATE, last


def test_leak_bytes_exact(trends):
    """Read between the two pings, the leak holds 2000 B per tick run."""
    target, _, summary, _, before, after = trends
    leak = only_stack(summary, "leak_tick", target.pid)
    ticks = leak["outstanding_allocs"]
    assert before["ticks"] <= ticks <= after["ticks"], (leak["outstanding_allocs"], before, after)
    assert leak["outstanding_bytes"] == LEAK_PER_TICK * ticks, leak
    assert leak["total_frees"] == 0, leak


def test_verdict_needs_samples(trends):
    """The leak's k-th report is its k-th sample: "new" while k < 6 (the
    test cannot reach z >= 2.326 on five, so they are not judged), and
    "growing" from the sixth on, its samples rising every time: never
    "steady" on the way."""
    target, intervals, _, _, _, _ = trends
    seen = appearances(intervals, "leak_tick", target.pid)
    assert len(seen) >= 12, "leak_tick in only %d reports" % len(seen)
    values = [s["outstanding_bytes"] for s in seen]
    assert all(a < b for a, b in zip(values, values[1:])), \
        "the leak did not rise between every two reports: %s" % values
    verdicts = [s["verdict"] for s in seen]
    assert verdicts[:5] == ["new"] * 5, verdicts
    assert verdicts[5:] == ["growing"] * (len(verdicts) - 5), verdicts


def test_cache_plateau_is_steady(trends):
    """The cache rose for its first 0.5 s (2-3 samples) and then held its 50
    entries: steady. More than half of all pairs of samples lie on the
    plateau, so the median slope is exactly 0."""
    target, intervals, summary, _, _, _ = trends
    cache = only_stack(summary, "cache_put", target.pid)
    # 50 entries; 49 when read between a put's free and its malloc.
    assert (cache["outstanding_bytes"], cache["outstanding_allocs"]) in (
        CACHE, (CACHE[0] - 16000, CACHE[1] - 1)), cache
    assert cache["verdict"] == "steady", cache
    seen = appearances(intervals, "cache_put", target.pid)
    plateau = sum(1 for s in seen if s["outstanding_bytes"] == CACHE[0])
    n = len(seen) + 1
    assert plateau * (plateau - 1) > n * (n - 1) / 2, \
        "only %d of %d samples on the plateau" % (plateau, n)
    assert cache["growth_bytes_per_s"] == 0, cache
    # Once the recent half of the window is past the warm-up, no report
    # calls it growing.
    for k, s in enumerate(seen[10:], 11):
        assert s["verdict"] == "steady", "report %d of the cache: %r" % (k, s)


@pytest.mark.parametrize("function,peak", [("churn_tick", 1015), ("saw_tick", SAW_PEAK)])
def test_churn_and_sawtooth_are_steady(trends, function, peak):
    """Balanced churn and the sawtooth are steady, or absent when nothing of
    theirs is outstanding; never growing in any report."""
    target, intervals, summary, _, _, _ = trends
    s = by_function(summary, target.pid).get(function)
    if s:
        assert [x["verdict"] for x in s["stacks"]] == ["steady"], s["stacks"]
    for n, r in enumerate(intervals):
        for x in by_function(r, target.pid).get(function, {"stacks": []})["stacks"]:
            assert x["verdict"] in ("new", "steady"), "report %d: %r" % (n, x)
            assert x["outstanding_bytes"] <= peak, "report %d: %r" % (n, x)


def test_sawtooth_was_sampled_at_many_phases(trends):
    """The premise of the sawtooth check: the reports caught it low and
    high, not at one phase over and over."""
    target, intervals, _, _, _, _ = trends
    values = {s["outstanding_bytes"] for s in appearances(intervals, "saw_tick", target.pid)}
    assert len(values) >= 4 and max(values) >= SAW_PEAK / 2, sorted(values)


def test_summary_ranks_growing_first(trends):
    """The leak leads the summary though the cache holds more bytes; the
    rest follow by outstanding bytes."""
    target, _, summary, _, _, _ = trends
    stacks = summary["stacks"]
    assert stacks[0]["frames"][0]["function"] == "leak_tick", \
        [s["frames"][0]["function"] for s in stacks]
    leak = only_stack(summary, "leak_tick", target.pid)
    cache = only_stack(summary, "cache_put", target.pid)
    assert cache["outstanding_bytes"] > leak["outstanding_bytes"], \
        "the cache should hold more than the leak, or the ranking proves nothing"
    growing = [s for s in stacks if s["verdict"] == "growing"]
    assert stacks[:len(growing)] == growing, "growing stacks are not all first"
    rates = [s["growth_bytes_per_s"] for s in growing]
    assert rates == sorted(rates, reverse=True), rates
    rest = [s["outstanding_bytes"] for s in stacks[len(growing):]]
    assert rest == sorted(rest, reverse=True), rest


def test_interval_ranks_by_outstanding(trends):
    """Interval reports keep byte order: the cache above the leak, the
    growing one, in the last report."""
    target, intervals, _, _, _, _ = trends
    last = intervals[-1]
    sizes = [s["outstanding_bytes"] for s in last["stacks"]]
    assert sizes == sorted(sizes, reverse=True), sizes
    names = [s["frames"][0]["function"] for s in last["stacks"]]
    assert names.index("cache_put") < names.index("leak_tick"), names
    assert only_stack(last, "leak_tick", target.pid)["verdict"] == "growing"
