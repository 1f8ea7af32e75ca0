"""The whole C allocator API, counted once at the outermost call.

One run of tests/targets/api.c (see the table at its top): a leak site per
entry point (malloc, calloc, realloc, reallocarray, posix_memalign,
aligned_alloc, memalign, valloc, pvalloc), large blocks glibc maps itself
(mmap inside malloc, mremap inside realloc: one malloc allocation of the
size asked, never an mmap stack), and a realloc/reallocarray stress mixing
small and large sizes. A second run (mode "nulls") shows that free(NULL),
munmap of memory leakwatch does not track, file mappings and failing calls
change no count.
"""

import pytest

from conftest import by_function, function_names, outstanding_of, process, site, watch

# The stress table of api.c and its two walks (block j, round i).
SIZES = [24, 600, 5000, 150000, 40, 300000, 1000, 140000, 200,
         163840, 17, 250000, 3000, 131072, 88]
BLOCKS, ROUNDS, ELEM = 6, 30, 3
STRESS_REALLOC = sum(SIZES[(ROUNDS - 1 + 2 * j) % 15] for j in range(BLOCKS))
STRESS_ARRAY = sum(ELEM * SIZES[(2 * (ROUNDS - 1) + 4 * j) % 15] for j in range(BLOCKS))
assert (STRESS_REALLOC, STRESS_ARRAY) == (754528, 861531)  # the table in api.c

MiB = 1 << 20

# frames[0].function -> (outstanding bytes, outstanding allocations)
LEAKS = {
    "leak_malloc": (3 * 777, 3),
    "leak_calloc": (6 * 13 * 17, 6),
    "leak_realloc": (4 * 250, 4),
    "leak_reallocarray": (5 * 30 * 12, 5),
    "leak_reallocarray_fail": (2 * 444, 2),    # failed calls free nothing
    "leak_posix_memalign": (10 * 1000, 10),    # asked, not aligned-up; failures count 0
    "leak_aligned_alloc": (7 * 384, 7),
    "leak_memalign": (9 * 333, 9),
    "leak_valloc": (5 * 100, 5),               # not the page valloc hands out
    "leak_pvalloc": (4 * 100, 4),              # not the page pvalloc rounds up to
    "leak_large_malloc": (200000 + MiB, 2),    # mmapped by glibc: still one malloc each
    "leak_large_calloc": (1000 * 300, 1),
    "leak_large_memalign": (400000 + 200000, 2),
    "leak_large_realloc": (3 * MiB, 1),        # mremap inside realloc: still one block
    "stress_realloc": (STRESS_REALLOC, BLOCKS),
    "stress_reallocarray": (STRESS_ARRAY, BLOCKS),
}
# Sites whose blocks were all freed or handed to realloc.
NOTHING_LEFT = ["large_start", "free_large", "stress_start", "arr_start", "stress_blocker",
                "release_blockers"]
# Large blocks, one call (so one stack) each: site -> sorted stack sizes.
LARGE = {
    "leak_large_malloc": [200000, MiB],
    "leak_large_calloc": [300000],
    "leak_large_memalign": [200000, 400000],
    "leak_large_realloc": [3 * MiB],
}
TOTAL = (sum(b for b, _ in LEAKS.values()), sum(n for _, n in LEAKS.values()))
assert TOTAL == (6934293, 73)  # the table in api.c

# glibc functions that call mmap/mremap/munmap for malloc: never a site.
GLIBC_INTERNALS = {"sysmalloc", "mremap_chunk", "munmap_chunk", "_int_malloc", "_int_realloc",
                   "_int_memalign", "_mid_memalign", "__libc_malloc", "__libc_realloc",
                   "__libc_calloc", "malloc", "realloc", "calloc", "mmap", "__mmap",
                   "mremap", "__mremap", "munmap", "__munmap", "new_heap", "alloc_new_heap"}


@pytest.fixture(scope="module")
def api(module_run):
    target = module_run.target("api")
    _, summary, dones = watch(module_run, [target])
    return target, summary, dones[0]


def test_target_behaved_as_designed(api):
    _, _, done = api
    assert done["large_mmapped"] == 6, "glibc did not mmap every large block: %r" % done
    assert done["failed"] == 6, "calls meant to fail did not all fail: %r" % done
    assert (done["realloc_bytes"], done["array_bytes"]) == (STRESS_REALLOC, STRESS_ARRAY)
    # The stress means what it says: growth in place, moves, heap -> mapping.
    assert done["inplace"] > 0 and done["moves"] > 0 and done["heap_to_map"] > 0, done


@pytest.mark.parametrize("function", sorted(LEAKS))
def test_leak_exact(api, function):
    target, summary, _ = api
    got = outstanding_of(summary, function, target.pid)
    assert got == LEAKS[function], "%s: outstanding (bytes, allocs) %r, want %r; sites %r" % (
        function, got, LEAKS[function],
        {k: (v["bytes"], v["allocs"]) for k, v in by_function(summary, target.pid).items()})


@pytest.mark.parametrize("function", NOTHING_LEFT)
def test_nothing_outstanding(api, function):
    target, summary, _ = api
    assert outstanding_of(summary, function, target.pid) == (0, 0)


@pytest.mark.parametrize("function", sorted(LEAKS))
def test_caller_chain(api, function):
    target, summary, _ = api
    for stack in site(summary, function, target.pid)["stacks"]:
        assert function_names(stack)[:3] == [function, "run_api", "main"], \
            "frames of %s: %r" % (function, function_names(stack))
        assert stack["category"] == "malloc", (function, stack["category"])


def test_totals_exact(api):
    target, summary, _ = api
    for where, totals in (("totals", summary["totals"]),
                          ("processes[].totals", process(summary, target.pid)["totals"])):
        got = (totals["outstanding_bytes"], totals["outstanding_allocs"])
        assert got == TOTAL, "%s: %r, want %r" % (where, got, TOTAL)
    # 360 blockers and one large block freed by free(), at the least.
    assert summary["totals"]["free_calls"] >= 361, summary["totals"]


def test_no_mmap_stack(api):
    """glibc's own mmap/mremap/munmap (large blocks, realloc of them) are
    inside malloc: no stack is of category mmap, none starts in glibc."""
    target, summary, _ = api
    mmap_stacks = [(s["outstanding_bytes"], function_names(s)[:3])
                   for s in summary["stacks"] if s.get("category") != "malloc"]
    assert not mmap_stacks, "stacks not of category malloc: %r" % mmap_stacks
    inner = [function_names(s)[:3] for s in summary["stacks"]
             if s["frames"] and s["frames"][0]["function"] in GLIBC_INTERNALS]
    assert not inner, "stacks starting inside the allocator: %r" % inner


@pytest.mark.parametrize("function", sorted(LARGE))
def test_large_block_is_one_allocation(api, function):
    """Each large block is one allocation of the size asked (not the
    mapping's page-rounded size) in the stack of its own call, counted once
    (total_allocs 1 where the stack has it)."""
    target, summary, _ = api
    stacks = site(summary, function, target.pid)["stacks"]
    got = sorted((s["outstanding_bytes"], s["outstanding_allocs"]) for s in stacks)
    assert got == [(size, 1) for size in LARGE[function]], \
        "%s: (bytes, allocs) per stack %r" % (function, got)
    if function != "leak_large_realloc":
        assert [s.get("total_allocs", 1) for s in stacks] == [1] * len(stacks), \
            [(s["outstanding_bytes"], s.get("total_allocs")) for s in stacks]


def test_nothing_lost(api):
    _, summary, _ = api
    lost = summary["totals"]["lost"]
    assert lost == dict.fromkeys(lost, 0), lost
    assert summary["totals"]["lost_events"] == 0


def test_null_and_untracked_frees_count_nothing(run):
    """free(NULL), munmap of a mapping made before leakwatch attached (twice),
    a file mapping and its munmap, a failing mmap: no allocation, no free, no
    lost event; only the 8 mallocs and 5 frees beside them count."""
    target = run.target("api", "nulls")
    _, summary, (done,) = watch(run, [target])
    assert done == {"unmapped": 3, "failed": 1}
    assert outstanding_of(summary, "nulls_leak", target.pid) == (333, 3)
    for where, totals in (("totals", summary["totals"]),
                          ("processes[].totals", process(summary, target.pid)["totals"])):
        got = {k: totals[k] for k in ("outstanding_bytes", "outstanding_allocs",
                                      "alloc_calls", "free_calls", "lost_events")}
        want = {"outstanding_bytes": 333, "outstanding_allocs": 3, "alloc_calls": 8,
                "free_calls": 5, "lost_events": 0}
        assert got == want, "%s: %r, want %r; lost %r" % (where, got, want, totals["lost"])
    assert [function_names(s)[:1] for s in summary["stacks"] if s["outstanding_bytes"]] == \
        [["nulls_leak"]]
