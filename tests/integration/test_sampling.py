"""Sampling: --sample-every N and --sample-bytes B, against
tests/targets/sampling.c, whose call order is fixed (see its header).

--sample-every N is deterministic: each thread counts its outermost heap
allocation calls (malloc, calloc, realloc, ...; not free, not mmap) and
records every N-th, which then stands for N allocations and N times its
bytes. A model of that countdown over the target's calls (below) gives the
exact number of recorded blocks per site, so those numbers are checked
exactly; where a site's calls come N at a time, the estimate also equals
the truth.

--sample-bytes B draws: a block of s < B bytes is recorded with probability
p = min(1, s/B) (exactly s/B here: B is a power of two, and leakwatch draws
a 32-bit random number r and records when r * B >> 32 < s), standing for
B bytes (and 1/p allocations); s >= B is always recorded, as itself. So
from n blocks of size s, k ~ Binomial(n, p) are recorded and the estimate
is k * B: mean n * s (the truth), variance n * p * (1 - p) * B^2. The
checks allow Z = 5 standard deviations (by the normal approximation, a
false failure about once in 1.7 million runs per check).

Frees subtract what their block added, so balanced churn comes out at
exactly 0 in both modes, and frees of unrecorded blocks are not "unknown
frees" while sampling. Anonymous mmap regions are always recorded.
"""

import math
import re
import signal
from pathlib import Path

import pytest

from conftest import (one_line, unused_pid, EXIT_OK, EXIT_TARGET, EXIT_USAGE, INTERVAL, by_function, process,
                      site, watch)

Z = 5.0

# tests/targets/sampling.c, mode "once"
SMALL = (4000, 100)            # leak_small: count, size (main thread, alone in its phase)
ROUNDS = 40
LARGE = (ROUNDS, 1 << 20)      # leak_large: one per round
CHURN_PER_ROUND = 100
MMAP = (3, 10000)              # leak_mmap: anonymous mmaps, kept, between the two
THREAD = (1000, 200)           # thread_leak, on the helper thread
MALLOCS = SMALL[0] + LARGE[0] + ROUNDS * CHURN_PER_ROUND + THREAD[0]
FREES = ROUNDS * CHURN_PER_ROUND
assert (MALLOCS, FREES) == (9040, 4000)  # the target's header


def churn_size(r, j):
    return 16 + (r * 37 + j * 53) % 2000


def main_thread_calls(with_mmaps=False):
    """The main thread's heap allocation calls after "go", in order, by site
    (mmap is not one: it does not move the countdown, unless with_mmaps)."""
    calls = ["leak_small"] * SMALL[0]
    if with_mmaps:
        calls += ["leak_mmap"] * MMAP[0]
    for r in range(ROUNDS):
        calls.append("leak_large")
        calls += ["churn"] * CHURN_PER_ROUND
    return calls


def every_n_recorded(calls, n):
    """{site: blocks recorded} for one thread under --sample-every n: a
    countdown that starts afresh on the thread's first call seen, and
    records the call that brings it to n."""
    countdown, recorded = 0, {}
    for where in calls:
        countdown += 1
        if countdown >= n:
            countdown = 0
            recorded[where] = recorded.get(where, 0) + 1
    return recorded


def binomial_sd(n, p):
    return math.sqrt(n * p * (1 - p))


def only_stack(summary, function, pid):
    stacks = [s for s in site(summary, function, pid)["stacks"] if s["outstanding_bytes"]]
    assert len(stacks) == 1, "%s: %d stacks hold bytes" % (function, len(stacks))
    return stacks[0]


def check_not_lost(summary, pid):
    for where, totals in (("totals", summary["totals"]),
                          ("processes[].totals", process(summary, pid)["totals"])):
        assert set(totals["lost"].values()) == {0}, \
            "%s.lost %r: frees of unsampled blocks are not lost" % (where, totals["lost"])
        assert totals["lost_events"] == 0


# --------------------------------------------------------------------------
# --sample-every


EVERY = 16


@pytest.fixture(scope="module")
def every(module_run):
    target = module_run.target("sampling", "once")
    _, summary, (done,) = watch(module_run, [target], "--sample-every", EVERY)
    assert done == {"mallocs": MALLOCS, "frees": FREES, "mmaps": MMAP[0]}
    return target, summary


def every_expected():
    """{site: (bytes, allocs, recorded)} under --sample-every EVERY."""
    main = every_n_recorded(main_thread_calls(), EVERY)
    helper = every_n_recorded(["thread_leak"] * THREAD[0], EVERY)
    want = {}
    for function, (_, size), rec in (("leak_small", SMALL, main.get("leak_small", 0)),
                                     ("leak_large", LARGE, main.get("leak_large", 0)),
                                     ("thread_leak", THREAD, helper.get("thread_leak", 0))):
        want[function] = (rec * EVERY * size, rec * EVERY, rec)
    # mmaps are exact, whatever the sampling
    want["leak_mmap"] = (MMAP[0] * MMAP[1], MMAP[0], MMAP[0])
    return want


def test_every_model_sanity():
    """The model's numbers, worked out by hand for N = 16: leak_small's 4000
    calls come alone, so exactly every 16th of them is recorded (250, the
    estimate equals the truth); leak_large is call 4001 + 101 r, recorded
    when that is a multiple of 16: r = 3, 19, 35; the helper thread counts
    on its own: 1000 // 16 = 62. Were the 3 mmaps between leak_small and
    the rounds counted too, leak_large would be call 4004 + 101 r: r = 12
    and 28 only, so the test tells the two apart."""
    want = every_expected()
    assert want["leak_small"] == (250 * 16 * 100, 4000, 250)
    assert want["leak_large"] == (3 * 16 << 20, 48, 3)
    assert want["thread_leak"] == (62 * 16 * 200, 992, 62)
    assert every_n_recorded(main_thread_calls(with_mmaps=True), EVERY)["leak_large"] == 2


@pytest.mark.parametrize("function", ["leak_small", "leak_large", "thread_leak", "leak_mmap"])
def test_every_site_exact(every, function):
    target, summary = every
    stack = only_stack(summary, function, target.pid)
    got = (stack["outstanding_bytes"], stack["outstanding_allocs"], stack["total_allocs"])
    assert got == every_expected()[function], \
        "%s: (bytes, allocs, recorded) %r, want %r" % (function, got,
                                                      every_expected()[function])
    assert stack["total_frees"] == 0
    assert stack["category"] == ("mmap" if function == "leak_mmap" else "malloc")


def test_every_estimates_near_truth(every):
    """The estimate of a site is k * N blocks for k recorded; with the
    countdown deterministic, k is within 1 of calls / N, so the estimate is
    within N blocks of the truth (exact for leak_small)."""
    target, summary = every
    for function, (count, size) in (("leak_small", SMALL), ("leak_large", LARGE),
                                    ("thread_leak", THREAD)):
        got = site(summary, function, target.pid)["bytes"]
        assert abs(got - count * size) <= EVERY * size, \
            "%s: %d B estimated, %d B leaked" % (function, got, count * size)
    assert site(summary, "leak_small", target.pid)["bytes"] == SMALL[0] * SMALL[1]


def test_every_churn_is_zero(every):
    target, summary = every
    assert "churn" not in by_function(summary, target.pid), \
        [(s["outstanding_bytes"], s["outstanding_allocs"])
         for s in by_function(summary, target.pid)["churn"]["stacks"]]


def test_every_totals(every):
    target, summary = every
    want = every_expected()
    for where, totals in (("totals", summary["totals"]),
                          ("processes[].totals", process(summary, target.pid)["totals"])):
        got = {k: totals.get(k) for k in ("outstanding_bytes", "outstanding_allocs",
                                          "alloc_calls", "free_calls", "sample_rate",
                                          "sampling")}
        assert got == {
            "outstanding_bytes": sum(b for b, _, _ in want.values()),
            "outstanding_allocs": sum(a for _, a, _ in want.values()),
            # the calls themselves are all counted, sampled or not
            "alloc_calls": MALLOCS + MMAP[0],
            "free_calls": FREES,
            "sample_rate": EVERY,
            "sampling": {"mode": "every", "value": EVERY},
        }, where
    check_not_lost(summary, target.pid)


def test_every_only_the_leaks_are_listed(every):
    target, summary = every
    assert set(by_function(summary, target.pid)) == set(every_expected())


@pytest.fixture(scope="module")
def every_realloc0(module_run):
    """sampling.c "realloc0" under --sample-every 2: 1000 leaking mallocs,
    each followed by realloc(p, 0) of a block allocated before attach."""
    target = module_run.target("sampling", "realloc0")
    _, summary, (done,) = watch(module_run, [target], "--sample-every", 2)
    assert done == {"mallocs": 1000, "zero_reallocs": 1000}
    return target, summary


def test_every_realloc0_totals(every_realloc0):
    """realloc(p, 0) is one free (of a block from before attach: not lost
    while sampling), and no allocation."""
    target, summary = every_realloc0
    totals = summary["totals"]
    assert (totals["alloc_calls"], totals["free_calls"]) == (1000, 1000)
    check_not_lost(summary, target.pid)


def test_every_counts_allocations_not_frees(every_realloc0):
    """Only allocation calls move the countdown: the 1000 mallocs, every
    second of them recorded, standing for 2: exactly 1000 x 100 B."""
    target, summary = every_realloc0
    got = (site(summary, "leak_between_frees", target.pid)["bytes"]
           if "leak_between_frees" in by_function(summary, target.pid) else 0)
    assert got == 1000 * 100, "leak_between_frees: %d B estimated, 100000 B leaked" % got


# --------------------------------------------------------------------------
# --sample-bytes


BYTES = 1024
BYTES_ARG = "1K"


@pytest.fixture(scope="module")
def sampled_bytes(module_run):
    target = module_run.target("sampling", "once")
    _, summary, (done,) = watch(module_run, [target], "--sample-bytes", BYTES_ARG)
    assert done == {"mallocs": MALLOCS, "frees": FREES, "mmaps": MMAP[0]}
    return target, summary


def allocs_estimate(recorded, size, b):
    """outstanding_allocs for `recorded` blocks of `size` < b: each stands
    for b / size allocations, kept in 1/1024 units (floor), summed, then
    rounded to the nearest whole allocation."""
    units = recorded * (1024 * b // size)
    return (units + 512) // 1024


@pytest.mark.parametrize("function,count,size", [("leak_small", *SMALL),
                                                 ("thread_leak", *THREAD)])
def test_bytes_small_site_estimate(sampled_bytes, function, count, size):
    """k ~ Binomial(count, size/B) recorded, each standing for B bytes: the
    estimate k * B is within Z * B * sqrt(count * p * (1 - p)) of count * size."""
    target, summary = sampled_bytes
    stack = only_stack(summary, function, target.pid)
    p = size / BYTES
    k = stack["total_allocs"]
    assert stack["outstanding_bytes"] == k * BYTES, \
        "%s: %d B for %d recorded blocks of weight %d" % (function, stack["outstanding_bytes"],
                                                          k, BYTES)
    assert stack["outstanding_allocs"] == allocs_estimate(k, size, BYTES), stack
    truth = count * size
    tolerance = Z * BYTES * binomial_sd(count, p)
    assert abs(stack["outstanding_bytes"] - truth) <= tolerance, \
        "%s: %d B estimated, %d B leaked, %d recorded (expected %.1f +- %.1f)" % (
            function, stack["outstanding_bytes"], truth, k, count * p,
            Z * binomial_sd(count, p))


def test_bytes_large_site_exact(sampled_bytes):
    """1 MiB >= B: every block recorded, as itself."""
    target, summary = sampled_bytes
    stack = only_stack(summary, "leak_large", target.pid)
    assert (stack["outstanding_bytes"], stack["outstanding_allocs"], stack["total_allocs"]) == \
        (LARGE[0] * LARGE[1], LARGE[0], LARGE[0])


def test_bytes_mmap_exact(sampled_bytes):
    target, summary = sampled_bytes
    stack = only_stack(summary, "leak_mmap", target.pid)
    assert stack["category"] == "mmap"
    assert (stack["outstanding_bytes"], stack["outstanding_allocs"], stack["total_allocs"]) == \
        (MMAP[0] * MMAP[1], MMAP[0], MMAP[0])


def test_bytes_churn_is_zero(sampled_bytes):
    target, summary = sampled_bytes
    assert "churn" not in by_function(summary, target.pid)


def test_bytes_totals(sampled_bytes):
    """alloc_calls and free_calls are exact; outstanding is the sum of the
    sites; sample_rate = alloc_calls / recorded, where recorded (every block
    recorded, freed or not) is the listed sites' total_allocs plus the churn's
    recorded blocks, a sum of independent draws of known probabilities."""
    target, summary = sampled_bytes
    totals = summary["totals"]
    assert totals["sampling"] == {"mode": "bytes", "value": BYTES}
    assert (totals["alloc_calls"], totals["free_calls"]) == (MALLOCS + MMAP[0], FREES)
    stacks = [s for s in summary["stacks"] if s["pid"] == target.pid]
    assert totals["outstanding_bytes"] == sum(s["outstanding_bytes"] for s in stacks)
    assert totals["outstanding_allocs"] == sum(s["outstanding_allocs"] for s in stacks)
    # stack quality is the run's, in the run's totals only
    run_only = ("stack_quality", "stack_verify")
    assert process(summary, target.pid)["totals"] == {k: v for k, v in totals.items()
                                                      if k not in run_only}

    rate = totals["sample_rate"]
    recorded = round(totals["alloc_calls"] / rate)
    assert round(totals["alloc_calls"] / recorded, 3) == rate, \
        "sample_rate %r is not alloc_calls %d over a whole number" % (rate, totals["alloc_calls"])
    churn_recorded = recorded - sum(s["total_allocs"] for s in stacks)
    ps = [min(1.0, churn_size(r, j) / BYTES) for r in range(ROUNDS)
          for j in range(CHURN_PER_ROUND)]
    mean = sum(ps)
    sd = math.sqrt(sum(p * (1 - p) for p in ps))
    assert abs(churn_recorded - mean) <= Z * sd, \
        "churn blocks recorded: %d (sample_rate %r), expected %.1f +- %.1f" % (
            churn_recorded, rate, mean, Z * sd)
    check_not_lost(summary, target.pid)


# --------------------------------------------------------------------------
# A leak that keeps growing, sampled


GROW_TICK_B = 16 * 1000        # grow_leak: 16 x malloc(1000) a tick
GROW_BYTES = 4096


@pytest.mark.parametrize("mode", ["every", "bytes"])
def test_growing_leak_sampled(run, mode):
    """sampling.c "grow" leaks 16 x 1000 B every 20 ms beside churn; after
    ten 0.2 s reports the summary judges grow_leak "growing", its estimate
    never went down from one report to the next, and the estimate matches
    the ticks run while it was read: under --sample-every 16 each tick's 16
    leak calls hold exactly one recorded call (each tick makes 48 calls, so
    the countdown is back at 0 at every tick's start): exactly 16000 B per
    tick. Under --sample-bytes 4K, k ~ Binomial(16 t, 1000/4096) for t ticks,
    each standing for 4096 B."""
    option = ["--sample-every", "16"] if mode == "every" else ["--sample-bytes", "4K"]
    target = run.target("sampling", "grow")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "100", *option, INTERVAL)
    lw.wait_ready()
    assert target.go() == {"tick_ms": 20, "leak_per_tick": GROW_TICK_B}
    lw.wait_intervals(10)
    before = target.ping()["ticks"]
    assert lw.stop(signal.SIGINT) == EXIT_OK, lw.describe()
    after = target.ping()["ticks"]
    summary = lw.summary()

    leak = only_stack(summary, "grow_leak", target.pid)
    assert leak["verdict"] == "growing", leak
    series = [s["outstanding_bytes"] for r in lw.reports()
              for s in r["stacks"] if s["id"] == leak["id"]]
    assert len(series) >= 10, series
    assert series == sorted(series), "a leak with no frees went down: %r" % series
    assert series[-1] > series[0], series

    got = leak["outstanding_bytes"]
    if mode == "every":
        assert got % GROW_TICK_B == 0 and before <= got // GROW_TICK_B <= after, \
            "%d B estimated: not 16000 B for each of %d..%d ticks" % (got, before, after)
        assert leak["outstanding_allocs"] == got // 1000
        assert leak["total_allocs"] == got // GROW_TICK_B
        assert summary["totals"]["sampling"] == {"mode": "every", "value": 16}
    else:
        p = 1000 / GROW_BYTES
        assert got == leak["total_allocs"] * GROW_BYTES
        low = GROW_TICK_B * before - Z * GROW_BYTES * binomial_sd(16 * before, p)
        high = GROW_TICK_B * after + Z * GROW_BYTES * binomial_sd(16 * after, p)
        assert low <= got <= high, "%d B estimated after %d..%d ticks (%d..%d B leaked)" % (
            got, before, after, GROW_TICK_B * before, GROW_TICK_B * after)
        assert summary["totals"]["sampling"] == {"mode": "bytes", "value": GROW_BYTES}
    check_not_lost(summary, target.pid)
    assert target.alive()
    assert target.close() == 0


# --------------------------------------------------------------------------
# Options




BAD_SAMPLING = {
    "both": ["--sample-every", "10", "--sample-bytes", "4K"],
    "both_reversed": ["--sample-bytes", "512", "--sample-every", "2"],
    "every_zero": ["--sample-every", "0"],
    "every_negative": ["--sample-every", "-5"],
    "every_too_big": ["--sample-every", "1000001"],
    "every_word": ["--sample-every", "ten"],
    "bytes_zero": ["--sample-bytes", "0"],
    "bytes_fraction": ["--sample-bytes", "1.5K"],
    "bytes_suffix_only": ["--sample-bytes", "K"],
    "bytes_giga": ["--sample-bytes", "2G"],
    "bytes_over_1g_m": ["--sample-bytes", "1025M"],  # 1025 * 2^20 > 2^30 (1025 * 10^6 is not)
    "bytes_over_1g_k": ["--sample-bytes", "1048577K"],
    "bytes_over_1g": ["--sample-bytes", "1073741825"],
    "bytes_blank": ["--sample-bytes", " 4K"],
}


@pytest.mark.parametrize("case", sorted(BAD_SAMPLING))
def test_bad_sampling_option(run, case):
    rc, out, err = run.leakwatch_fails("-p", unused_pid(), "--json", "-", *BAD_SAMPLING[case],
                                       INTERVAL)
    line = one_line(err)
    assert rc == EXIT_USAGE, "%s: exit %r: %s" % (BAD_SAMPLING[case], rc, line)
    assert out == []
    if case.startswith("both"):
        assert "--sample-every" in line and "--sample-bytes" in line, line
    else:
        assert re.search(r"--sample-(every|bytes)", line), line


@pytest.mark.parametrize("args", [["--sample-every", "1", "--sample-bytes", "4K"],
                                  ["--sample-bytes", "1", "--sample-every", "2"]])
def test_both_options_even_when_one_is_trivial(run, args):
    """Giving both options is a usage error whatever their values: N = 1 or
    B = 1 (record everything) still contradicts the other option."""
    rc, _, err = run.leakwatch_fails("-p", unused_pid(), "--json", "-", *args, INTERVAL)
    assert rc == EXIT_USAGE, "%s: exit %r: %s" % (args, rc, err)


@pytest.mark.parametrize("value", ["1024M", "1048576K", "1073741824", "1k", "1m"])
def test_sampling_bytes_limits_accepted(run, value):
    """The largest values (1 GiB, by each suffix) and lower-case suffixes
    parse: leakwatch gets as far as the PID (no such process: exit 2, not
    64)."""
    pid = unused_pid()
    rc, _, err = run.leakwatch_fails("-p", pid, "--json", "-", "--sample-bytes", value,
                                     INTERVAL)
    line = one_line(err)
    assert rc == EXIT_TARGET, "--sample-bytes %s: exit %r: %s" % (value, rc, line)
    assert str(pid) in line, line
