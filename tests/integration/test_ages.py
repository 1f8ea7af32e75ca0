"""Ages of outstanding bytes: oldest_age_s per stack and --min-age.

tests/targets/ages.c leaks 10 x 1000 B in leak_early, sleeps 1.5 s, then
10 x 2000 B in leak_late. leakwatch keeps, per stack, its outstanding bytes
by allocation epoch (one epoch per report interval, 16 kept, the rest
"older"). At the summary, taken at least 0.3 s after leak_late, with
--min-age 1: every epoch of leak_early ended more than 1 s before (1.5 s
apart, less one epoch of 0.25 s), none of leak_late's did, so the bytes
older than 1 s are exactly leak_early's 10000."""

import time

from conftest import EXIT_OK

GAP_S = 1.5


def run_ages(run, interval, *options, mode=None):
    target = run.target("ages", str(int(GAP_S * 1000)), *([mode] if mode else []))
    lw = run.leakwatch("-p", str(target.pid), "--json", "-", "-T", "100", *options, interval)
    lw.wait_ready()
    started = time.monotonic()
    target.go(timeout=10)
    # reports keep coming for at least 0.3 s after "done"
    time.sleep(0.3)
    before = time.monotonic() - started
    rc = lw.stop()
    assert rc == EXIT_OK, lw.describe()
    # the summary was read between these two times after "go"
    return lw.summary(), (before, time.monotonic() - started)


def site(summary, function):
    found = [s for s in summary["stacks"] if s["frames"] and s["frames"][0]["function"] == function]
    assert len(found) <= 1, found
    return found[0] if found else None




def _check_min_age(summary, window, interval):
    before, after = window
    early, late = site(summary, "leak_early"), site(summary, "leak_late")
    assert early is not None, summary["stacks"]
    assert early["bytes_older_than_min_age"] == 10000
    assert summary["totals"]["bytes_older_than_min_age"] == 10000
    # --min-age shows only stacks holding old bytes
    assert late is None, late
    # the oldest block of leak_early is as old as the run since "go", within
    # an epoch (and the 0.1 s a target may take to act on "go")
    assert before - interval - 0.1 <= early["oldest_age_s"] <= after + interval, (
        early["oldest_age_s"], window)


def test_min_age_with_epochs_in_slots(run):
    """0.25 s epochs: 16 slots cover 4 s, both leaks sit in slots."""
    summary, window = run_ages(run, "0.25", "--min-age", "1")
    _check_min_age(summary, window, 0.25)


def test_min_age_with_older_bytes(run):
    """0.05 s epochs: 16 slots cover only 0.8 s. leak_early's slots are not
    reused (nothing else allocates on that stack), so its epochs stay in
    place and its age is exact to an epoch beyond the slots' span."""
    summary, window = run_ages(run, "0.05", "--min-age", "1")
    _check_min_age(summary, window, 0.05)


def test_oldest_age_without_min_age(run):
    """Without --min-age every stack shows, each with its oldest age:
    leak_late's blocks are young, leak_early's old."""
    summary, (_, elapsed) = run_ages(run, "0.25")
    early, late = site(summary, "leak_early"), site(summary, "leak_late")
    assert early["outstanding_bytes"] == 10000 and late["outstanding_bytes"] == 20000
    assert "bytes_older_than_min_age" not in early
    assert "bytes_older_than_min_age" not in summary["totals"]
    assert late["oldest_age_s"] <= elapsed - GAP_S + 0.25, (late["oldest_age_s"], elapsed)
    assert early["oldest_age_s"] >= GAP_S, early["oldest_age_s"]


def test_older_than_the_slots(run):
    """leak_drip allocates 100 B every 0.1 s for 2 s from one stack. With
    0.05 s epochs the 16 slots span 0.8 s, so the stack's early epochs are
    pushed out by later ones into its 'older' total: their age from then on
    is a lower bound counted from when they moved (about 0.8 s after they
    were made, within a report). The oldest block's age is therefore the
    time since the first drip, within two epochs; and with --min-age 1 the
    old bytes are the drips made more than 1 s before the summary, within
    the two drips whose epochs straddle the limit."""
    summary, (before, after) = run_ages(run, "0.05", "--min-age", "1", mode="drip")
    drip = site(summary, "leak_drip")
    assert drip is not None, summary["stacks"]
    assert drip["outstanding_bytes"] == 2000
    assert before - 0.1 - 0.1 <= drip["oldest_age_s"] <= after + 0.05, (
        drip["oldest_age_s"], before, after)
    # drips at 0, 0.1, ... 1.9 s after "go"; the summary at [before, after]
    lo = sum(1 for k in range(20) if before - 0.1 * k >= 1.0 + 0.1) - 2
    hi = sum(1 for k in range(20) if after - 0.1 * k >= 1.0 - 0.1) + 2
    old = drip["bytes_older_than_min_age"]
    assert 100 * max(lo, 0) <= old <= 100 * hi, (old, lo, hi, before, after)
