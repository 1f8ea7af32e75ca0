"""Full maps: --max-allocs and --max-stacks (at their minimum, 1024) against
targets that need more, tests/targets/manylive.c and manystacks.c.

What leakwatch does when a map is full, and so what is expected here:
- the per-allocation map (--max-allocs entries): an allocation that does not
  fit is not tracked (lost.allocs_map_full) and its free is then a free of an
  unknown block (lost.unknown_frees); the calls are still counted;
- the stack map (--max-stacks entries): an allocation whose stack does not
  fit is counted under stack 0, listed with no frames (lost.stack_missing);
- the per-stack map (2 x --max-stacks entries, one per process, category and
  stack): an allocation whose entry does not fit is not tracked at all
  (lost.stats_map_full).
leakwatch keeps running through all of it, and the target is unharmed.
"""

import signal

import pytest

from conftest import one_line, EXIT_OK, EXIT_USAGE, INTERVAL, by_function, process, site

MIN_ENTRIES = 1024


def check_totals(report, pid, want):
    """want: the fields of totals to check, lost as a whole dict; the
    process's own totals are the same (one target)."""
    for where, totals in (("totals", report["totals"]),
                          ("processes[].totals", process(report, pid)["totals"])):
        got = {k: totals[k] for k in want}
        assert got == want, "%s line %s: %r, want %r" % (report["type"], where, got, want)
        assert totals["lost_events"] == sum(totals["lost"].values())


def lost(**counts):
    names = ("allocs_map_full", "stack_missing", "stack_collision", "unknown_frees",
             "unattached_window", "stats_map_full", "unwind_pending", "thread_state_unavailable")
    return {name: counts.get(name, 0) for name in names}


# --------------------------------------------------------------------------
# --max-allocs


LIVE = 3000
BLOCK = 64


def test_allocs_map_full(run):
    """3000 blocks live against --max-allocs 1024: the first 1024 are tracked,
    exactly; 1976 are lost to the full map. Their frees are then unknown
    frees (1976) while the 1024 tracked ones come off to 0, and the emptied
    map takes exactly 1024 again when 3000 more are allocated."""
    tracked, untracked = MIN_ENTRIES, LIVE - MIN_ENTRIES
    target = run.target("manylive", LIVE)
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "100",
                       "--max-allocs", MIN_ENTRIES, INTERVAL)
    lw.wait_ready()
    assert target.go() == {"held": LIVE, "size": BLOCK}

    full = lw.wait_intervals(2)
    assert lw.proc.poll() is None, "leakwatch exited with its map full: %s" % lw.describe()
    check_totals(full, target.pid, {
        "outstanding_bytes": tracked * BLOCK, "outstanding_allocs": tracked,
        "alloc_calls": LIVE, "free_calls": 0, "lost": lost(allocs_map_full=untracked)})
    hold = site(full, "hold_blocks", target.pid)
    assert (hold["bytes"], hold["allocs"]) == (tracked * BLOCK, tracked)
    assert [s["total_allocs"] for s in hold["stacks"]] == [tracked]
    assert target.ping() == {"held": LIVE}

    target.send("free")
    assert target.expect("freed", 10) == "freed n=%d" % LIVE
    freed = lw.wait_intervals(2)
    check_totals(freed, target.pid, {
        "outstanding_bytes": 0, "outstanding_allocs": 0,
        "alloc_calls": LIVE, "free_calls": LIVE,
        "lost": lost(allocs_map_full=untracked, unknown_frees=untracked)})
    assert "hold_blocks" not in by_function(freed, target.pid)

    target.send("alloc")
    assert target.expect("held", 10) == "held n=%d" % LIVE
    again = lw.wait_intervals(2)
    want = {"outstanding_bytes": tracked * BLOCK, "outstanding_allocs": tracked,
            "alloc_calls": 2 * LIVE, "free_calls": LIVE,
            "lost": lost(allocs_map_full=2 * untracked, unknown_frees=untracked)}
    check_totals(again, target.pid, want)
    hold = site(again, "hold_blocks", target.pid)
    assert (hold["bytes"], hold["allocs"]) == (tracked * BLOCK, tracked)

    assert lw.stop(signal.SIGINT) == EXIT_OK, lw.describe()
    summary = lw.summary()
    check_totals(summary, target.pid, want)
    assert process(summary, target.pid)["alive"] is True
    assert target.ping() == {"held": LIVE}
    assert target.close() == 0


# --------------------------------------------------------------------------
# --max-stacks


LEAVES = 1100                  # manystacks.c: distinct stacks, each used twice
HEAP = 64                      # pass 0: malloc(64) at each leaf
MAPPED = 4096                  # pass 1: mmap(4096) at each leaf, same stacks


def leaf_index(stack):
    """The leaf a manystacks.c stack reaches: its frames are leaf, step, then
    DEPTH x (go_left or go_right, step), walk_all, run_passes, main; the
    decision next to walk_all is bit 0."""
    names = [f["function"] for f in stack["frames"]]
    depth = 11
    assert names[:2] == ["leaf", "step"], names
    assert names[2 + 2 * depth:2 + 2 * depth + 3] == ["walk_all", "run_passes", "main"], names
    turns = names[2:2 + 2 * depth:2]
    assert set(turns) <= {"go_left", "go_right"} and names[3:3 + 2 * depth:2] == ["step"] * depth, \
        names
    return sum(1 << bit for bit, turn in enumerate(reversed(turns)) if turn == "go_right")


def max_stacks_expected(max_stacks=MIN_ENTRIES):
    """Worked through in the target's order (one thread, no frees):
    pass 0 (malloc): the first max_stacks leaves get their stacks kept and
      one per-stack entry each; the other LEAVES - max_stacks find the stack
      map full: stack_missing, counted under stack 0, one more entry
      (malloc, stack 0). Entries: max_stacks + 1.
    pass 1 (mmap), same stacks: the per-stack map (2 x max_stacks) has
      max_stacks - 1 entries left, taken by the first max_stacks - 1 leaves
      (mmap, their stack); leaf max_stacks - 1 (stack kept) finds it full:
      stats_map_full; the rest miss their stack again (stack_missing) and
      find it full for (mmap, stack 0) too (stats_map_full).
    Returns (totals, the unrecorded stack's (bytes, allocs))."""
    missing = LEAVES - max_stacks
    mapped = max_stacks - 1
    totals = {
        "outstanding_bytes": LEAVES * HEAP + mapped * MAPPED,
        "outstanding_allocs": LEAVES + mapped,
        "alloc_calls": 2 * LEAVES,
        "free_calls": 0,
        "lost": lost(stack_missing=2 * missing, stats_map_full=1 + missing),
    }
    return totals, (missing * HEAP, missing)


def test_max_stacks_expected_numbers():
    totals, unrecorded = max_stacks_expected()
    assert totals["lost"] == lost(stack_missing=152, stats_map_full=77)
    assert (totals["outstanding_bytes"], totals["outstanding_allocs"]) == (4260608, 2123)
    assert unrecorded == (4864, 76)  # more than one page: it sorts first


def test_stacks_map_full(run):
    totals, (bytes_, allocs) = max_stacks_expected()
    target = run.target("manystacks")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "3",
                       "--max-stacks", MIN_ENTRIES, INTERVAL)
    lw.wait_ready()
    assert target.go() == {"leaves": LEAVES, "mallocs": LEAVES, "mmaps": LEAVES}
    lw.wait_intervals(2)
    assert lw.proc.poll() is None, lw.describe()
    assert lw.stop(signal.SIGINT) == EXIT_OK, lw.describe()
    summary = lw.summary()
    check_totals(summary, target.pid, totals)

    first, second, third = summary["stacks"]
    assert first["frames"] == [], "the unrecorded stack should come first: %r" % first
    assert (first["category"], first["outstanding_bytes"], first["outstanding_allocs"],
            first["total_allocs"]) == ("malloc", bytes_, allocs, allocs), first
    assert first["truncated"] is True
    for stack in (second, third):
        assert (stack["category"], stack["outstanding_bytes"], stack["outstanding_allocs"]) == \
            ("mmap", MAPPED, 1), stack
        assert leaf_index(stack) < MIN_ENTRIES - 1, "leaf %d's mmap was tracked" % (
            leaf_index(stack))
    assert leaf_index(second) != leaf_index(third)
    assert target.alive()
    assert target.close() == 0


# --------------------------------------------------------------------------
# Options



@pytest.mark.parametrize("option", ["--max-allocs", "--max-stacks"])
@pytest.mark.parametrize("value", ["1023", "0", "67108865", "1k", "-1024", ""])
def test_bad_limit(run, option, value):
    target = run.target("manylive", 10)
    rc, out, err = run.leakwatch_fails("-p", target.pid, "--json", "-", option, value, INTERVAL)
    line = one_line(err)
    assert rc == EXIT_USAGE, "%s %r: exit %r: %s" % (option, value, rc, line)
    assert option in line, line
    assert out == []
    assert target.alive()
