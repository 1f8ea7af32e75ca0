"""Anonymous mappings a program makes itself, as allocations of category mmap.

One run of tests/targets/mmaps.c (see the table at its top): leaks, file
mappings (not counted), full and partial munmap (prefix, suffix, holes that
split one region into several), mremap (grow in place, grow and move,
shrink: the bytes follow to the caller of mremap), MAP_FIXED over tracked
regions, and a munmap spanning two regions. The bytes of a region are the
bytes asked that are still mapped, not page-rounded.
"""

import pytest

from conftest import by_function, function_names, outstanding_of, process, site, watch

P = 4096
MiB = 1 << 20

# frames[0].function -> (outstanding bytes, outstanding allocations)
LEAKS = {
    "leak_mmap": (3 * 10000, 3),
    "leak_mmap_large": (MiB + 1, 1),
    "map_prefix": (10000 - P, 1),             # first page unmapped
    "map_suffix": (3 * P, 1),                 # pages 3..5 of 5 P + 100 unmapped
    "map_hole": (10000 - P, 2),               # page 1 unmapped: two pieces
    "map_holes": (2 * P, 2),                  # pages 0 and 4 of five left
    "fixed_base": (5 * P + 100 - 2 * P, 2),   # pages 1, 2 mapped over (MAP_FIXED)
    "fixed_over": (2 * P, 1),                 # the anonymous mapping put there
    "under_file": (3 * P, 1),                 # last page mapped over by a file
    "replace_whole": (3 * P, 1),              # replaced replace_start's region
    "remap_guard": (P, 1),
    "remap_move": (65536, 1),                 # mremap moved it: bytes follow
    "remap_inplace": (40960, 1),              # grown in place: bytes follow
    "remap_shrink": (10000, 1),
}
# Sites whose regions are gone (unmapped, mapped over, moved by mremap) or
# were never counted (file mappings).
NOTHING_LEFT = ["map_file", "map_then_unmap", "fixed_file", "replace_start", "span_base",
                "span_fixed", "unmap_span", "move_start", "inplace_start", "shrink_start"]
TOTAL = (sum(b for b, _ in LEAKS.values()), sum(n for _, n in LEAKS.values()))
assert TOTAL == (1276613, 19)  # the table in mmaps.c

# Where glibc's mmap wrappers would show if a frame were taken inside them.
SYSCALL_WRAPPERS = {"mmap", "mmap64", "__mmap", "munmap", "__munmap", "mremap", "__mremap"}


@pytest.fixture(scope="module")
def mmaps(module_run):
    target = module_run.target("mmaps")
    _, summary, dones = watch(module_run, [target])
    return target, summary, dones[0]


def test_target_behaved_as_designed(mmaps):
    _, _, done = mmaps
    assert done == {"moved": 1, "inplace": 1, "shrunk": 1}


@pytest.mark.parametrize("function", sorted(LEAKS))
def test_region_exact(mmaps, function):
    target, summary, _ = mmaps
    got = outstanding_of(summary, function, target.pid)
    assert got == LEAKS[function], "%s: outstanding (bytes, allocs) %r, want %r; sites %r" % (
        function, got, LEAKS[function],
        {k: (v["bytes"], v["allocs"]) for k, v in by_function(summary, target.pid).items()})


@pytest.mark.parametrize("function", NOTHING_LEFT)
def test_nothing_outstanding(mmaps, function):
    target, summary, _ = mmaps
    assert outstanding_of(summary, function, target.pid) == (0, 0)


@pytest.mark.parametrize("function", sorted(LEAKS))
def test_category_and_caller_chain(mmaps, function):
    target, summary, _ = mmaps
    for stack in site(summary, function, target.pid)["stacks"]:
        assert stack["category"] == "mmap", (function, stack["category"])
        assert function_names(stack)[:3] == [function, "run_mmaps", "main"], \
            "frames of %s: %r" % (function, function_names(stack))


def test_totals_exact(mmaps):
    target, summary, _ = mmaps
    for where, totals in (("totals", summary["totals"]),
                          ("processes[].totals", process(summary, target.pid)["totals"])):
        got = (totals["outstanding_bytes"], totals["outstanding_allocs"])
        assert got == TOTAL, "%s: %r, want %r" % (where, got, TOTAL)


def test_every_stack_is_mmap_at_a_site(mmaps):
    """The target never calls malloc after "go": no malloc stack, and no
    stack starts inside glibc's syscall wrappers."""
    target, summary, _ = mmaps
    assert {s.get("category") for s in summary["stacks"]} == {"mmap"}
    wrappers = [function_names(s)[:2] for s in summary["stacks"]
                if s["frames"] and s["frames"][0]["function"] in SYSCALL_WRAPPERS]
    assert not wrappers, wrappers


def test_nothing_lost(mmaps):
    _, summary, _ = mmaps
    lost = summary["totals"]["lost"]
    assert lost == dict.fromkeys(lost, 0), lost


def test_threads_nest_on_their_own(run):
    """One thread's malloc/free map and unmap inside glibc while another
    thread maps and unmaps itself, at once (mmaps.c, mode "threads"): the
    first thread's blocks are malloc allocations, the second's regions mmap
    ones, to the byte; no stack of either kind from the other's calls."""
    target = run.target("mmaps", "threads")
    _, summary, (done,) = watch(run, [target])
    assert done == {"rounds": 600}
    want = {"large_leak": (10 * 150000, 10, "malloc"), "map_leak": (10 * 5000, 10, "mmap"),
            "large_churn": (0, 0, None), "map_churn": (0, 0, None)}
    for function, (nbytes, allocs, category) in want.items():
        assert outstanding_of(summary, function, target.pid) == (nbytes, allocs), \
            "%s: %r, want %r; sites %r" % (
                function, outstanding_of(summary, function, target.pid), (nbytes, allocs),
                {k: (v["bytes"], v["allocs"]) for k, v in by_function(summary).items()})
        if category:
            for stack in site(summary, function, target.pid)["stacks"]:
                assert stack["category"] == category, (function, stack["category"])
    held = {s["frames"][0]["function"] if s["frames"] else None
            for s in summary["stacks"] if s["outstanding_bytes"]}
    assert held == {"large_leak", "map_leak"}, held
    totals = process(summary, target.pid)["totals"]
    assert (totals["outstanding_bytes"], totals["outstanding_allocs"]) == (1550000, 20), totals
    lost = summary["totals"]["lost"]
    assert lost == dict.fromkeys(lost, 0), lost


def test_arena_made_inside_free_is_not_the_programs(run):
    """Threads whose first allocator call is free() (handoff.c): glibc makes
    each one's arena there, a heap of 64 MiB mapped from inside free, which
    has no return probe to say it is in flight. Those mappings are not
    counted as the program's; the threads' stacks (pthread_create's mmap)
    are, and the leak is exact."""
    target = run.target("handoff")
    _, summary, (done,) = watch(run, [target])
    assert done == {"threads": 4, "leak": 3000}
    assert outstanding_of(summary, "thread_leak", target.pid) == (4 * 3000, 4)
    assert outstanding_of(summary, "handoff_block", target.pid) == (0, 0)
    # the program's own mapping, made below where an earlier free's return
    # address still lies: counted
    assert outstanding_of(summary, "map_after_free", target.pid) == (MiB, 1)
    mapped = [(s["outstanding_bytes"], function_names(s)[:4]) for s in summary["stacks"]
              if s["pid"] == target.pid and s["category"] == "mmap" and s["outstanding_bytes"]]
    # only thread stacks, made by pthread_create for main
    assert mapped and all("pthread_create" in "".join(f or "" for f in names) or
                          "main" in names for _, names in mapped), mapped
    assert all(nbytes < 64 * MiB for nbytes, _ in mapped), mapped
    assert not [names for _, names in mapped if "thread_main" in names or "free" in names], \
        mapped
    lost = summary["totals"]["lost"]
    assert lost["unattached_window"] == 0, lost
