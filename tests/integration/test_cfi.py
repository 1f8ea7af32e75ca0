"""Stacks without frame pointers: the CFI unwinder in BPF (--unwind cfi and
auto) against the targets built -O2 -fomit-frame-pointer (tests/targets/
nofp.c, nofp_cxx.cc): every frame from the leak site to _start, the bytes
exact."""

from conftest import watch

START = ["main", "__libc_start_call_main", "__libc_start_main", "_start"]

NOFP = {
    ("leak_deep", "chain_a3", "chain_a2", "chain_a1"): (5555, 5),
    ("leak_vla", "chain_b1"): (6666, 3),
    ("leak_shallow",): (1554, 2),
}

NOFP_CXX = {
    ("make_big(int)", "level4(int)", "level3(int, bool)", "Level2::run(int, bool)",
     "Level1::run(int, bool)"): (13332, 4),
    ("make_array(int)", "level3(int, bool)"): (800, 2),
}


def functions(stack):
    return tuple(f["function"] for f in stack["frames"])


def mine(summary, pid):
    return [s for s in summary["stacks"] if s["pid"] == pid]


def check_full_stacks(summary, pid, expected):
    got = {functions(s): (s["outstanding_bytes"], s["outstanding_allocs"], s.get("truncated"))
           for s in mine(summary, pid)}
    want = {chain + tuple(START): (b, n, False) for chain, (b, n) in expected.items()}
    assert got == want, got
    assert summary["totals"]["lost"]["unwind_pending"] == 0, summary["totals"]


def check_verified(summary, at_least):
    """--verify-stacks 1: every allocation's stack unwound again by libdw
    from a copy of its stack, and all of them agree."""
    v = summary["totals"]["stack_verify"]
    allocs = summary["totals"]["alloc_calls"]
    assert allocs >= at_least, summary["totals"]
    # every stack taken is compared (operator new's own call included)
    assert v["compared"] >= allocs and v["agreed"] == v["compared"], v
    assert v["unverifiable"] == 0, v
    assert summary["totals"]["stack_quality"] == 1, summary["totals"]


def test_c_chains_cfi(run):
    target = run.target("nofp")
    _, summary, _ = watch(run, [target], "--unwind", "cfi", "--verify-stacks", "1")
    check_full_stacks(summary, target.pid, NOFP)
    check_verified(summary, 10)
    modules = {m["module"].rsplit("/", 1)[-1]: m for m in summary["unwind"]["modules"]}
    assert modules["nofp"]["unwinder"] == "cfi" and modules["nofp"]["frame_pointers"] is False
    assert modules["libc.so.6"]["unwinder"] == "cfi"


def test_cxx_chains_auto(run):
    """Through libstdc++'s operator new, which has no frame pointers
    either; auto picks CFI for every module here."""
    target = run.target("nofp_cxx")
    lw, summary, _ = watch(run, [target], "--unwind", "auto", "--verify-stacks", "1", "-v")
    check_full_stacks(summary, target.pid, NOFP_CXX)
    check_verified(summary, 6)
    err = "\n".join(lw.err.snapshot())
    assert "nofp_cxx: no frame pointers, CFI; unwound by CFI" in err, err


def test_frame_pointers_say_truncated(run):
    """The frame-pointer walk on the same code: no stack passed off as
    complete, and the deep chain's callers are lost (leak_vla's VLA gives
    it a frame pointer, so its caller may be found)."""
    target = run.target("nofp")
    _, summary, _ = watch(run, [target], "--unwind", "fp", "--verify-stacks", "1")
    stacks = mine(summary, target.pid)
    # the oracle is independent of the unwinder: it disagrees with these
    v = summary["totals"]["stack_verify"]
    assert v["compared"] == 10 and v["agreed"] < 10, v
    assert summary["totals"]["stack_quality"] == 0, summary["totals"]
    assert sum(s["outstanding_bytes"] for s in stacks) == 5555 + 6666 + 1554
    for s in stacks:
        assert s.get("truncated") is True, s
        assert "chain_a1" not in functions(s) and "main" not in functions(s), s
