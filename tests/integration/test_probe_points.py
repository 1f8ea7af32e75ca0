"""Probe points moved off instructions the kernel would single-step.

`leakwatch -v` prints, per object probed, one line per function:
    leakwatch:     SYMBOL  0xOFFSET  INSN  PLACEMENT
OFFSET is where the probe sits in the file, INSN the instruction there, and
PLACEMENT "entry ...", "moved to +K (INSN): the entry's X is not emulated",
or "not probed: jumps on to free". The first tests hold those lines against
the ELF files themselves (dynamic symbols and the bytes of the prologues,
read here independently); where a test needs a specific prologue (Debian
12's glibc and libstdc++), it checks the bytes first and skips elsewhere.

The last tests run tests/targets/freestress.c, whose four threads hammer the
free paths at those moved probe points (free(NULL), realloc(p, 0),
realloc(NULL, n), growing realloc, frees of posix_memalign/valloc/pvalloc/
aligned_alloc blocks and of other threads' blocks), and check every count
exactly.
"""

import os
import re
import struct

import pytest

from conftest import EXIT_OK, Elf, by_function, function_names, process, site, watch

PROBE_LINE = re.compile(r"^leakwatch:     (\S+)\s+0x([0-9a-f]+)\s+(.*?)\s+"
                        r"(entry.*|moved to .*|not probed.*)$")
OBJECT_LINE = re.compile(r"^leakwatch:   (/\S+) \(via (\S+)\):$")


def probe_lines(err):
    """{module path: {symbol: (offset, insn, placement)}} from -v's stderr."""
    objects, current = {}, None
    for line in err:
        m = OBJECT_LINE.match(line)
        if m:
            current = objects.setdefault(m.group(1), {})
            continue
        m = PROBE_LINE.match(line)
        if m and current is not None:
            current[m.group(1)] = (int(m.group(2), 16), m.group(3), m.group(4))
    return objects


def module_named(objects, prefix):
    found = [path for path in objects if os.path.basename(path).startswith(prefix)]
    assert len(found) == 1, "want one probed object named %s*, got %r" % (prefix, list(objects))
    return found[0]


def is_push(code):
    """push of a register: 50+r, or 41 50+r."""
    return (code[0] & 0xF8) == 0x50 or (code[0] == 0x41 and (code[1] & 0xF8) == 0x50)


def check_lines_against_file(probes, path):
    """Every probe line of one object: the offset is the symbol's own, or
    K bytes into it when moved to +K, and a moved probe's INSN is the one
    its placement names."""
    syms = Elf(path, dynamic=True)
    for symbol, (offset, insn, placement) in probes.items():
        assert symbol in syms.offsets, "%s: %s is not a function in .dynsym" % (path, symbol)
        entry = syms.offsets[symbol]
        m = re.match(r"moved to \+(\d+) \((.*?)\): the entry's (\S+) is not emulated", placement)
        if m:
            assert offset == entry + int(m.group(1)), \
                "%s: probe at %#x, symbol at %#x, placement %r" % (symbol, offset, entry, placement)
            assert m.group(2) == insn, "%s: %r vs instruction %r" % (symbol, placement, insn)
        else:
            assert offset == entry, "%s: probe at %#x, symbol at %#x, placement %r" % (
                symbol, offset, entry, placement)


# --------------------------------------------------------------------------
# One watched run of freestress, with -v


THREADS = 4
ROUNDS = 1500
KEEP_EVERY = 50
KEPT = THREADS * ROUNDS // KEEP_EVERY
KEPT_BYTES = sum(1024 + (13 * t + r) % 200 for t in range(THREADS) for r in range(ROUNDS)
                 if r % KEEP_EVERY == KEEP_EVERY - 1)
ALLOCS = THREADS * (6 * ROUNDS + 100)
FREES = THREADS * (6 * ROUNDS - ROUNDS // KEEP_EVERY + 100)
assert (KEPT, KEPT_BYTES, ALLOCS, FREES) == (120, 135500, 36400, 36280)  # freestress.c


@pytest.fixture(scope="module")
def stress(module_run):
    target = module_run.target("freestress")
    lw, summary, (done,) = watch(module_run, [target], "-v")
    return target, summary, done, probe_lines(lw.err.snapshot())


def test_verbose_lists_libc(stress):
    _, _, _, objects = stress
    libc = module_named(objects, "libc.so")
    for symbol in ("malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
                   "valloc", "pvalloc", "free", "mmap", "munmap", "mremap"):
        assert symbol in objects[libc], "no -v line for %s: %r" % (symbol, objects[libc])
    # memalign and aligned_alloc are one function in glibc: one probe
    assert ("memalign" in objects[libc]) != ("aligned_alloc" in objects[libc]), objects[libc]


def test_verbose_offsets_match_the_file(stress):
    _, _, _, objects = stress
    libc = module_named(objects, "libc.so")
    check_lines_against_file(objects[libc], libc)


def test_free_moved_past_its_null_check(stress):
    """Debian 12's free starts test rdi,rdi; je <ret>; push rbp: the probe
    sits on the push, 9 bytes in, which the kernel emulates, and says why."""
    _, _, _, objects = stress
    libc = module_named(objects, "libc.so")
    syms = Elf(libc, dynamic=True)
    code = syms.code("free", 10)
    if code[:5] != b"\x48\x85\xff\x0f\x84" or code[9] != 0x55:
        pytest.skip("free here does not start test rdi,rdi; je rel32; push rbp: %s" % code.hex())
    je_target = syms.offsets["free"] + 9 + struct.unpack_from("<i", code, 5)[0]
    if syms.data[je_target] != 0xC3:
        pytest.skip("free's NULL check here does not jump to a plain ret")
    offset, insn, placement = objects[libc]["free"]
    assert offset == syms.offsets["free"] + 9
    assert insn == "push rbp"
    assert placement == "moved to +9 (push rbp): the entry's test is not emulated", placement
    assert "single-stepped" not in placement


@pytest.mark.parametrize("symbol", ["posix_memalign", "valloc", "pvalloc"])
def test_memalign_family_moved_past_their_compare(stress, symbol):
    """Debian 12's posix_memalign, valloc and pvalloc start with a 7-byte
    cmp byte [rip + x], 0 (malloc initialized?) and then push a register."""
    _, _, _, objects = stress
    libc = module_named(objects, "libc.so")
    syms = Elf(libc, dynamic=True)
    code = syms.code(symbol, 9)
    if code[:2] != b"\x80\x3d" or code[6] != 0 or not is_push(code[7:]):
        pytest.skip("%s here does not start cmp byte [rip + x], 0; push: %s" % (
            symbol, code.hex()))
    offset, insn, placement = objects[libc][symbol]
    assert offset == syms.offsets[symbol] + 7
    assert insn.startswith("push "), insn
    assert placement == "moved to +7 (%s): the entry's cmp is not emulated" % insn, placement


def test_cxx_probe_points(run):
    """libstdc++ (Debian 12): operator new (_Znwm) starts endbr64; test
    rdi,rdi; mov eax,1; push rbx: probed on the push, 12 bytes in; the
    operator deletes that are endbr64; jmp (on to free, or to a delete that
    goes there) are not probed at all."""
    target = run.target("cxx")
    lw = run.leakwatch("-v", "-p", target.pid, "--json", "-", "1")
    lw.wait_ready()
    assert lw.stop() == EXIT_OK, lw.describe()
    objects = probe_lines(lw.err.snapshot())
    cxx = module_named(objects, "libstdc++.so")
    probes = objects[cxx]
    check_lines_against_file(probes, cxx)
    syms = Elf(cxx, dynamic=True)

    deletes = [s for s in syms.offsets if re.fullmatch(r"_Zd[la]Pv\w*", s)]
    assert deletes, "no operator delete in %s" % cxx
    for symbol in deletes:
        code = syms.code(symbol, 9)
        thunk = code[:5] == b"\xf3\x0f\x1e\xfa\xe9" or code[:1] == b"\xe9"
        offset, insn, placement = probes[symbol]
        if thunk:
            assert (insn, placement) == ("-", "not probed: jumps on to free"), \
                "%s (%s): %r %r" % (symbol, code.hex(), insn, placement)
        else:
            assert not placement.startswith("not probed"), "%s (%s): %r" % (
                symbol, code.hex(), placement)

    code = syms.code("_Znwm", 13)
    if code != bytes.fromhex("f30f1efa4885ffb80100000053"):
        pytest.skip("_Znwm here does not start endbr64; test; mov eax,1; push rbx: %s"
                    % code.hex())
    offset, insn, placement = probes["_Znwm"]
    assert (offset, insn) == (syms.offsets["_Znwm"] + 12, "push rbx")
    assert placement == "moved to +12 (push rbx): the entry's endbr64 is not emulated", placement
    assert target.alive()


# --------------------------------------------------------------------------
# The counts, exact


def test_stress_target_behaved(stress):
    _, _, done, _ = stress
    assert done == {"threads": THREADS, "allocs": ALLOCS, "frees": FREES,
                    "free_nulls": 3 * THREADS * ROUNDS, "kept": KEPT,
                    "kept_bytes": KEPT_BYTES, "zero_nulls": THREADS * ROUNDS}


def test_stress_totals_exact(stress):
    """alloc_calls: every allocation that returned memory (the growing
    realloc is one); free_calls: every free of a non-NULL pointer, realloc's
    included (realloc(p, 0) once, not again for the free it runs); free(NULL)
    is not seen at all."""
    target, summary, _, _ = stress
    for where, totals in (("totals", summary["totals"]),
                          ("processes[].totals", process(summary, target.pid)["totals"])):
        got = {k: totals[k] for k in ("outstanding_bytes", "outstanding_allocs", "alloc_calls",
                                      "free_calls", "sample_rate", "lost_events")}
        assert got == {"outstanding_bytes": KEPT_BYTES, "outstanding_allocs": KEPT,
                       "alloc_calls": ALLOCS, "free_calls": FREES, "sample_rate": 1,
                       "lost_events": 0}, where
        assert set(totals["lost"].values()) == {0}, "%s.lost: %r" % (where, totals["lost"])


def test_stress_only_the_kept_blocks_remain(stress):
    target, summary, _, _ = stress
    sites = by_function(summary, target.pid)
    assert set(sites) == {"grow_block"}, {k: (v["bytes"], v["allocs"]) for k, v in sites.items()}
    grow = site(summary, "grow_block", target.pid)
    assert (grow["bytes"], grow["allocs"]) == (KEPT_BYTES, KEPT)
    # all four threads reach it by the same path: one stack
    (stack,) = grow["stacks"]
    assert function_names(stack)[:3] == ["grow_block", "round_of_frees", "thread_main"]
    # every growing realloc recorded its block there, and all but the kept
    # ones were freed from there
    assert (stack["total_allocs"], stack["total_frees"]) == (THREADS * ROUNDS,
                                                             THREADS * ROUNDS - KEPT)
    assert stack["truncated"] is False
