"""Every allocator a process may be served by, found where the dynamic
linker binds it, probed there, and counted to the byte.

- tests/targets/allocs.c (see its table) under glibc, and under Debian's
  jemalloc, tcmalloc (minimal) and mimalloc, each both preloaded
  (LD_PRELOAD) and linked (allocs-LIB, built by the Makefile with -lLIB):
  the same exact leaks, no unknown free, and leakwatch -v naming the
  library for malloc and free, and why it was chosen.
- tests/targets/alloc_family.c: each library's own entry points (mallocx,
  tc_malloc_skip_new_handler, mi_zalloc, ...) and its free functions
  (sized and aligned delete, sdallocx, tc_free_sized, mi_free_size, cfree,
  vfree, ...): exact leaks, and alloc and free calls exactly the target's.
- tests/targets/own_alloc.c: an executable whose allocator exports only
  je_-prefixed names (as Redis links a prefixed jemalloc; this one is a
  small size-class allocator, not jemalloc), and the same allocator as a
  static executable's own malloc.
- a static, stripped executable: refused with one line naming the cause.
"""

import os
import re
import shutil
import subprocess

import pytest

from conftest import (EXIT_OK, EXIT_TARGET, EXIT_TIMEOUT_S, INTERVAL, TARGETS, outstanding_of,
                      process, watch)

# allocs.c's table: frames[0].function -> (outstanding bytes, allocations)
ALLOCS_LEAKS = {
    "leak_malloc": (50 * 1000, 50),
    "leak_calloc": (20 * 100 * 7, 20),
    "leak_realloc_grow": (16 + 200 * 16, 1),
    "leak_realloc_move": (64 + 50 * 64, 1),
    "leak_realloc_null": (10 * 300, 10),
    "leak_realloc_fail": (5 * 500, 5),
}
ALLOCS_NOTHING_LEFT = ["grow_start", "move_start", "make_blocker", "release_blockers",
                       "free_by_realloc_zero", "free_null", "fail_alloc"]
ALLOCS_TOTAL = (75980, 87)

# alloc_family.c's table, per family
FAMILY_LEAKS = {
    "jemalloc": {"leak_mallocx": (1800, 6), "leak_rallocx": (2800, 4),
                 "leak_jemalloc_new": (72, 3)},
    "tcmalloc": {"leak_tc_skip": (600, 5), "leak_tc_memalign": (3 * 200 + 2 * 300 + 2 * 100, 7)},
    "mimalloc": {"leak_mi_zalloc": (350, 5), "leak_mi_mallocn": (264, 4),
                 "leak_mi_aligned": (300 + 300, 5), "leak_mi_reallocn": (640, 4),
                 "leak_mi_recalloc": (600, 2), "leak_mi_compat": (800 + 180 + 210, 7)},
}
FAMILY_CHURN = {"jemalloc": "churn_jemalloc", "tcmalloc": "churn_tcmalloc",
                "mimalloc": "churn_mimalloc"}

# own_alloc.c's table
OWN_LEAKS = {
    "leak_own_malloc": (3000, 30),
    "leak_own_calloc": (756, 12),
    "leak_own_realloc": (4000, 8),
    "leak_own_large": (200000, 2),
    "leak_libc_malloc": (256, 4),
}
OWN_NOTHING_LEFT = ["churn_own", "free_by_realloc_zero", "free_own_null"]
OWN_DONE = {"allocs": 577, "frees": 521, "inplace": 8, "moves": 8}

# family -> (soname the dynamic linker loads, Makefile target linked with it)
LIBRARIES = {
    "jemalloc": ("libjemalloc.so.2", "allocs-jemalloc"),
    "tcmalloc": ("libtcmalloc_minimal.so.4", "allocs-tcmalloc_minimal"),
    "mimalloc": ("libmimalloc.so.2", "allocs-mimalloc"),
}
PACKAGES = {"jemalloc": "libjemalloc2", "tcmalloc": "libtcmalloc-minimal4",
            "mimalloc": "libmimalloc2.0"}

# "leakwatch:   malloc: libc.so.6 (linked by the executable, before ...)"
CHOICE_LINE = re.compile(r"^leakwatch:   (\S+): (\S+) \((.*)\)$")
# "leakwatch:   /path (via /proc/...):" then "leakwatch:     SYMBOL  0xOFFSET ..."
OBJECT_LINE = re.compile(r"^leakwatch:   (/\S+) \(via \S+\):$")
PROBE_LINE = re.compile(r"^leakwatch:     (\S+)\s+0x[0-9a-f]+\s")


def library_path(family):
    """The library's path, found the way the dynamic linker finds it."""
    soname = LIBRARIES[family][0]
    ldconfig = shutil.which("ldconfig", path=os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    out = b""
    if ldconfig:
        try:
            out = subprocess.run([ldconfig, "-p"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, check=False, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            pass
    for line in out.decode(errors="replace").splitlines():
        if line.strip().startswith(soname + " ") and "x86-64" in line:
            return line.rsplit("=>", 1)[1].strip()
    pytest.skip("%s not installed (Debian: %s)" % (soname, PACKAGES[family]))


def probed_in(err):
    """{symbol: [module paths it is probed in]} from -v."""
    where, module = {}, None
    for line in err:
        m = OBJECT_LINE.match(line)
        if m:
            module = m.group(1)
            continue
        m = PROBE_LINE.match(line)
        if m and module:
            where.setdefault(m.group(1), []).append(module)
    return where


def choices(err):
    """{symbol: [(module base name, why)]} from -v's choice lines."""
    out = {}
    for line in err:
        m = CHOICE_LINE.match(line)
        if m:
            out.setdefault(m.group(1), []).append((m.group(2), m.group(3)))
    return out


def check_choices(err, expected):
    """expected: {symbol: (module base name prefix, why)}, each the first
    choice line of that symbol in -v's stderr lines err."""
    got = choices(err)
    if not got:
        pytest.skip("leakwatch -v prints no per-function choice lines "
                    "(target__describe does not call allocator__describe)")
    for symbol, (module, why) in expected.items():
        assert symbol in got, "no choice line for %s:\n%s" % (symbol, "\n".join(err))
        base, reason = got[symbol][0]
        assert base.startswith(module) and reason == why, \
            "%s: %s (%s), want %s* (%s)" % (symbol, base, reason, module, why)


def check_exact(summary, pid, leaks, nothing_left=()):
    for function, want in leaks.items():
        got = outstanding_of(summary, function, pid)
        assert got == want, "%s: outstanding (bytes, allocs) %r, want %r" % (function, got, want)
    for function in nothing_left:
        assert outstanding_of(summary, function, pid) == (0, 0), function
    lost = summary["totals"]["lost"]
    assert lost == dict.fromkeys(lost, 0), lost


def check_totals(summary, pid, outstanding, calls=None):
    totals = process(summary, pid)["totals"]
    assert (totals["outstanding_bytes"], totals["outstanding_allocs"]) == outstanding, totals
    if calls is not None:
        assert (totals["alloc_calls"], totals["free_calls"]) == calls, \
            "(alloc_calls, free_calls) %r, the target made %r" % (
                (totals["alloc_calls"], totals["free_calls"]), calls)


# --------------------------------------------------------------------------
# allocs under each allocator, preloaded and linked


def start_allocs(run, family, how):
    if family == "glibc":
        return run.target("allocs"), "libc.so"
    path = library_path(family)
    if how == "preloaded":
        target = run.target("allocs", prefix=("env", "LD_PRELOAD=" + path))
    else:
        target = run.target(LIBRARIES[family][1])
    real = os.path.realpath(path)
    assert real in target.mapped_files(), "%s is not loaded" % real
    return target, os.path.basename(real)


CASES = [("glibc", "linked")] + [(f, how) for f in LIBRARIES for how in ("preloaded", "linked")]


@pytest.mark.parametrize("family,how", CASES, ids=["-".join(c) for c in CASES])
def test_allocs_exact_under_each_allocator(run, family, how):
    target, module = start_allocs(run, family, how)
    lw, summary, dones = watch(run, [target], "-v")
    assert dones[0]["failed"] == 15, dones[0]
    err = lw.err.snapshot()
    where = probed_in(err)
    for symbol in ("malloc", "free", "calloc", "realloc"):
        modules = [os.path.basename(m) for m in where.get(symbol, [])]
        assert modules and modules[0].startswith(module), \
            "%s probed in %r, not %s; leakwatch -v said:\n%s" % (
                symbol, modules, module, "\n".join(err))
    check_exact(summary, target.pid, ALLOCS_LEAKS, ALLOCS_NOTHING_LEFT)
    check_totals(summary, target.pid, ALLOCS_TOTAL)


def verbose_once(run, target):
    """leakwatch -v on target for one report; its stderr lines."""
    lw = run.leakwatch("-v", "-p", target.pid, "--json", "-", INTERVAL, "1")
    assert lw.wait_exit(EXIT_TIMEOUT_S) == EXIT_OK, lw.describe()
    return lw.err.snapshot()


@pytest.mark.parametrize("family,how", CASES, ids=["-".join(c) for c in CASES])
def test_choice_explained(run, family, how):
    """-v says, per function, the object chosen and why:
    "malloc: libtcmalloc_minimal.so.4.5.10 (LD_PRELOAD, before libc.so.6)"."""
    target, module = start_allocs(run, family, how)
    if family == "glibc":
        why = "linked by the executable, the only object defining it"
    elif how == "preloaded":
        why = "LD_PRELOAD, before libc.so.6"
    else:
        why = "linked by the executable, before libc.so.6"
    check_choices(verbose_once(run, target), {"malloc": (module, why), "free": (module, why)})


# --------------------------------------------------------------------------
# each family's own entry points


@pytest.mark.parametrize("family", sorted(FAMILY_LEAKS))
def test_family_entry_points_exact(run, family):
    """Leaks through the family's own functions exact, at their sites; every
    free function matched its block (no unknown free), and leakwatch saw
    exactly the calls the target made."""
    path = library_path(family)
    target = run.target("alloc_family", family, prefix=("env", "LD_PRELOAD=" + path))
    _, summary, dones = watch(run, [target])
    leaks = FAMILY_LEAKS[family]
    check_exact(summary, target.pid, leaks, [FAMILY_CHURN[family]])
    outstanding = (sum(b for b, _ in leaks.values()), sum(n for _, n in leaks.values()))
    check_totals(summary, target.pid, outstanding, (dones[0]["allocs"], dones[0]["frees"]))


# --------------------------------------------------------------------------
# a program's own allocator: je_-prefixed names, and a static own malloc


def test_je_prefixed_allocator_in_the_executable(run):
    """own_alloc exports je_malloc, je_calloc, je_realloc, je_free and no
    plain malloc: those are probed in the executable, libc's malloc in
    libc, and both are counted exactly."""
    target = run.target("own_alloc")
    lw, summary, dones = watch(run, [target], "-v")
    assert dones[0] == OWN_DONE
    err = lw.err.snapshot()
    where = probed_in(err)
    for symbol in ("je_malloc", "je_calloc", "je_realloc", "je_free"):
        assert [os.path.basename(m) for m in where.get(symbol, [])] == ["own_alloc"], \
            "%s probed in %r; leakwatch -v said:\n%s" % (symbol, where.get(symbol), "\n".join(err))
    assert os.path.basename(where["malloc"][0]).startswith("libc.so"), where["malloc"]
    check_exact(summary, target.pid, OWN_LEAKS, OWN_NOTHING_LEFT)
    check_totals(summary, target.pid, (208012, 56), (dones[0]["allocs"], dones[0]["frees"]))


def test_je_prefixed_choice_explained(run):
    why = "the executable, the only object defining it"
    check_choices(verbose_once(run, run.target("own_alloc")), {
        "je_malloc": ("own_alloc", why), "je_free": ("own_alloc", why),
        "malloc": ("libc.so", "linked by the executable, the only object defining it")})


def test_static_executable_with_its_own_malloc(run):
    """own_alloc_static: the same allocator named malloc, calloc, realloc,
    free in a static executable that keeps its symbol table: no dynamic
    linker list, so the executable is searched first; exact numbers."""
    target = run.target("own_alloc_static")
    lw, summary, dones = watch(run, [target], "-v")
    assert dones[0] == OWN_DONE
    err = lw.err.snapshot()
    assert any("executable-first (no linker list)" in line for line in err), "\n".join(err)
    where = probed_in(err)
    for symbol in ("malloc", "calloc", "realloc", "free"):
        assert [os.path.basename(m) for m in where.get(symbol, [])] == ["own_alloc_static"], \
            "%s probed in %r" % (symbol, where.get(symbol))
    check_exact(summary, target.pid, OWN_LEAKS, OWN_NOTHING_LEFT)
    check_totals(summary, target.pid, (208012, 56), (dones[0]["allocs"], dones[0]["frees"]))


def test_static_stripped_refused_naming_the_cause(run):
    target = run.target("static_stripped")
    rc, _, err = run.leakwatch_fails("-p", target.pid, "--json", "-", INTERVAL)
    lines = [l for l in err if l.strip()]
    assert rc == EXIT_TARGET and len(lines) == 1, (rc, err)
    assert lines[0] == ("leakwatch: no allocator found in PID %d: its executable %s is "
                        "statically linked and stripped, so no symbol names its malloc; "
                        "leakwatch needs the allocator's symbols (link it without -s)"
                        % (target.pid, os.path.realpath(TARGETS / "static_stripped"))), lines[0]
    assert target.go() == {"leaked": 1000}
