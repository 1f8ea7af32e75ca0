"""Exact accounting per allocator API, and frames checked against the binary.

One run of tests/targets/allocs.c (see the table at its top) under
leakwatch; each test below checks one thing in the summary, so a failure
names what is wrong. Expected numbers are the target's, to the byte.
"""

import os

import pytest

from conftest import (REPO, TARGETS, Elf, by_function, function_names, outstanding_of,
                      process, runtime_to_file_offset, site, source_lines_of, watch)

EXE = TARGETS / "allocs"
SOURCE = REPO / "tests" / "targets" / "allocs.c"

# frames[0].function -> (outstanding bytes, outstanding allocations)
LEAKS = {
    "leak_malloc": (50 * 1000, 50),
    "leak_calloc": (20 * 100 * 7, 20),            # calloc counts n * size
    "leak_realloc_grow": (16 + 200 * 16, 1),      # bytes follow realloc to its caller
    "leak_realloc_move": (64 + 50 * 64, 1),
    "leak_realloc_null": (10 * 300, 10),          # realloc(NULL, n): once, not twice
    "leak_realloc_fail": (5 * 500, 5),            # a failed realloc frees nothing
}
# Sites whose blocks are all gone: handed to realloc, freed, freed by
# realloc(p, 0), or never allocated (NULL returns, free(NULL)).
NOTHING_LEFT = ["grow_start", "move_start", "make_blocker", "release_blockers",
                "free_by_realloc_zero", "free_null", "fail_alloc"]
TOTAL = (sum(b for b, _ in LEAKS.values()), sum(n for _, n in LEAKS.values()))
assert TOTAL == (75980, 87)  # the table in allocs.c


@pytest.fixture(scope="module")
def allocs(module_run):
    """(target, summary, done) after one watched run; the target stays alive
    until the module is done, so its /proc/PID/maps can still be read."""
    target = module_run.target("allocs")
    _, summary, dones = watch(module_run, [target])
    return target, summary, dones[0]


def test_target_behaved_as_designed(allocs):
    _, _, done = allocs
    # Preconditions for the realloc tests below to mean what they say.
    assert done["failed"] == 15, "calls meant to fail did not all fail: %r" % done
    assert done["grow_inplace"] > 0, "no realloc grew in place: %r" % done
    assert done["move_moves"] == 50, "not every realloc in leak_realloc_move moved: %r" % done


@pytest.mark.parametrize("function", sorted(LEAKS))
def test_leak_exact(allocs, function):
    target, summary, _ = allocs
    want = LEAKS[function]
    got = outstanding_of(summary, function, target.pid)
    assert got == want, "%s: outstanding (bytes, allocs) %r, want %r; stacks %r" % (
        function, got, want, by_function(summary).get(function))


@pytest.mark.parametrize("function", NOTHING_LEFT)
def test_nothing_outstanding(allocs, function):
    target, summary, _ = allocs
    assert outstanding_of(summary, function, target.pid) == (0, 0)


def test_totals_exact(allocs):
    target, summary, _ = allocs
    for where, totals in (("totals", summary["totals"]),
                          ("processes[].totals", process(summary, target.pid)["totals"])):
        got = (totals["outstanding_bytes"], totals["outstanding_allocs"])
        assert got == TOTAL, "%s: %r, want %r (nothing else allocates after go)" % (
            where, got, TOTAL)
    totals = summary["totals"]
    assert totals["sample_rate"] == 1
    # 137 mallocs and callocs that succeeded (realloc's counting left open).
    assert totals["alloc_calls"] >= 137, totals
    # The 50 blockers at least.
    assert totals["free_calls"] >= 50, totals


def test_nothing_lost(allocs):
    """No frees of unknown blocks: realloc(p, 0) frees once, free(NULL) is not
    a free of anything, a failed realloc frees nothing."""
    _, summary, _ = allocs
    assert summary["totals"]["lost"] == dict.fromkeys(summary["totals"]["lost"], 0)
    assert summary["totals"]["lost_events"] == 0


def test_every_stack_is_the_targets(allocs):
    target, summary, _ = allocs
    assert {s["pid"] for s in summary["stacks"]} == {target.pid}
    p = process(summary, target.pid)
    assert p["alive"] is True
    assert p["comm"] == "allocs"
    assert p["rss_bytes"] > 0


def test_stacks_of_leaks_are_one_per_site(allocs):
    """Each leaking function reaches the allocator from one call site, so its
    outstanding bytes sit in exactly one stack."""
    target, summary, _ = allocs
    for function in LEAKS:
        stacks = [s for s in site(summary, function, target.pid)["stacks"]
                  if s["outstanding_bytes"]]
        assert len(stacks) == 1, "%s: %d stacks hold bytes" % (function, len(stacks))


@pytest.mark.parametrize("function", sorted(LEAKS))
def test_caller_chain(allocs, function):
    target, summary, _ = allocs
    stack = site(summary, function, target.pid)["stacks"][0]
    assert function_names(stack)[:3] == [function, "run_leaks", "main"], \
        "frames of %s: %r" % (function, function_names(stack))


def test_frames_match_the_binary(allocs):
    """The frames of each leak site, down to main, checked against the ELF
    file (build-id, file offset -> function and offset), against the live
    process's maps (addr -> file offset) and against the source (line)."""
    target, summary, _ = allocs
    elf = Elf(EXE)
    exe_real = os.path.realpath(EXE)
    for function in LEAKS:
        stack = site(summary, function, target.pid)["stacks"][0]
        names = function_names(stack)
        for frame in stack["frames"][:names.index("main") + 1]:
            where = "%s stack, frame %s" % (function, frame["function"])
            assert os.path.basename(frame["module"]) == "allocs", \
                "%s: module %r" % (where, frame["module"])
            assert frame["build_id"] == elf.build_id, \
                "%s: build_id %r, file's %r" % (where, frame["build_id"], elf.build_id)
            offset = frame["module_offset"]
            assert isinstance(offset, int) and not isinstance(offset, bool), where
            vaddr = elf.vaddr_of_offset(offset)
            assert vaddr is not None, "%s: module_offset %#x outside any segment" % (
                where, offset)
            assert elf.function_at(vaddr) == (frame["function"], frame["offset"]), \
                "%s: module_offset %#x is %r in the ELF, the frame says (%r, %r)" % (
                    where, offset, elf.function_at(vaddr), frame["function"], frame["offset"])
            assert runtime_to_file_offset(target.pid, int(frame["addr"], 16)) == \
                (exe_real, offset), "%s: addr %s does not map to module_offset %#x" % (
                    where, frame["addr"], offset)
            assert frame["inlined"] is False, where
            assert os.path.basename(frame["file"] or "") == "allocs.c", \
                "%s: file %r" % (where, frame["file"])
            first, last = source_lines_of(SOURCE, frame["function"])
            assert isinstance(frame["line"], int) and first <= frame["line"] <= last, \
                "%s: line %r outside %s's lines %d-%d" % (where, frame["line"],
                                                        frame["function"], first, last)


def test_stack_ids_are_distinct_per_site(allocs):
    target, summary, _ = allocs
    ids = [s["id"] for s in summary["stacks"]]
    assert len(ids) == len(set(ids)), "duplicate stack ids: %r" % ids


def test_stacks_not_truncated(allocs):
    target, summary, _ = allocs
    for function in LEAKS:
        for stack in site(summary, function, target.pid)["stacks"]:
            assert stack["truncated"] is False, function
