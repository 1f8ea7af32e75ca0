"""Python stacks: which Python line holds the memory, seen from outside.

tests/targets/python/leaks.py is a small Python service whose leaks are known
to the byte and to the line: a module-level list of bytes objects that keeps
growing (bytes(n) is one calloc of n + 33 bytes: large objects bypass
pymalloc), a cache that fills and stops, a C buffer kept from a thread that
calls into C through ctypes with the GIL released, and the same run by a
worker made with os.fork(). leakwatch walks the interpreter's frames in BPF
at each allocation and must name each leak's Python function, file and line,
with exact bytes and the right verdict, on Debian's python3.11 and on each
pyenv interpreter present; an unsupported version keeps native stacks and
says why.
"""
import os
import subprocess
from pathlib import Path

import pytest

from conftest import (INTERVAL, TARGET_SOURCES, TARGETS, TARGET_TIMEOUT_S, EXIT_OK, Lines,
                      Target, process)

SCRIPT = TARGET_SOURCES / "python" / "leaks.py"
LIBBLOCK = TARGETS / "python" / "libblock.so"
DEBIAN = "/usr/bin/python3.11"
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
BYTES_HEADER = 33  # bytes(n) asks for n + sizeof(PyBytesObject) bytes

# (id, interpreter, version it must report)
VERSIONS = [
    ("debian-3.11", DEBIAN, "3.11"),
    ("pyenv-3.10", str(PYENV / "3.10.13/bin/python3"), "3.10"),
    ("pyenv-3.11", str(PYENV / "3.11.7/bin/python3"), "3.11"),
    ("pyenv-3.12", str(PYENV / "3.12.1/bin/python3"), "3.12"),
    ("pyenv-3.13", str(PYENV / "3.13.0/bin/python3"), "3.13"),
]
UNSUPPORTED = str(PYENV / "3.9.18/bin/python3")


def marker(text, script=SCRIPT):
    """The line of script (leaks.py) that ends with the comment `# text`."""
    for n, line in enumerate(script.read_text().splitlines(), 1):
        if line.rstrip().endswith("# " + text):
            return n
    raise LookupError(text)


class Script(Target):
    """A Python script under an interpreter, driven like the other targets:
    leaks.py in MODE by default, or script with args."""

    def __init__(self, run, python, mode, rounds=40, period=0.1, extra_env=None, script=SCRIPT,
                 args=None):
        self.name = script.name
        self.path = script
        argv = [python, str(script), *([mode, str(LIBBLOCK)] if args is None else args)]
        tag = "target-%s-%d" % (script.stem, len(run.targets))
        (run.artdir / (tag + ".cmd")).write_text(" ".join(argv) + "\n")
        self._stderr = open(run.artdir / (tag + ".stderr"), "wb")
        # the interpreter's own libpython, whatever the caller's environment
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LD_"))}
        env.update(LW_ROUNDS=str(rounds), LW_PERIOD=str(period), **(extra_env or {}))
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env)
        self.pid = self.proc.pid
        self.out = Lines(self.proc.stdout, run.artdir / (tag + ".stdout"))
        self._next = 0
        run.targets.append(self)
        self.expect("ready", TARGET_TIMEOUT_S)


def interpreter(path):
    if not os.path.exists(path):
        pytest.skip("%s is not installed" % path)
    if not LIBBLOCK.exists():
        pytest.fail("not built: run `make targets`", pytrace=False)
    return path


def python_frames(stack):
    return [(f["function"], f["file"], f["line"]) for f in stack["frames"]
            if f.get("kind") == "python"]


def stacks_at(report, qualname, line, pid=None):
    """Stacks whose innermost Python frame is qualname at line of leaks.py."""
    found = []
    for s in report["stacks"]:
        py = python_frames(s)
        if py and py[0] == (qualname, str(SCRIPT), line) and (pid is None or s["pid"] == pid):
            found.append(s)
    return found


def the_stack(report, qualname, line, pid=None):
    found = stacks_at(report, qualname, line, pid)
    assert len(found) == 1, "want one stack at %s line %d (pid %s), got %d; python stacks: %s" % (
        qualname, line, pid, len(found),
        [(s["pid"], s["outstanding_bytes"], python_frames(s)[:2]) for s in report["stacks"]
         if python_frames(s)])
    return found[0]


def watch_scripts(run, scripts, *options):
    lw = run.leakwatch("-p", ",".join(str(s.pid) for s in scripts), "--json", "-", "-T", "100",
                       *options, INTERVAL)
    lw.wait_ready()
    dones = [s.go() for s in scripts]
    return lw, dones


def finish(lw, after=2):
    lw.wait_intervals(after)
    assert lw.stop() == EXIT_OK, lw.describe()
    return lw.summary()


def test_debian_names_the_leaking_lines(run):
    """The required case: Debian's python3.11 (no frame pointers, stripped),
    under the frame-pointer unwinder (the CFI one is tested below)."""
    s = Script(run, interpreter(DEBIAN), "plain")
    lw, (done,) = watch_scripts(run, [s], "--unwind", "fp")
    summary = finish(lw)
    rounds, record = done["rounds"], done["record"]

    leak = the_stack(summary, "make_record", marker("leak: record"), s.pid)
    assert leak["outstanding_bytes"] == rounds * (record + BYTES_HEADER), leak
    assert leak["outstanding_allocs"] == rounds, leak
    assert leak["verdict"] == "growing", leak
    assert leak["growth_bytes_per_s"] > 0, leak
    # the whole Python stack, innermost first, up to the module
    assert [f[0] for f in python_frames(leak)] == [
        "make_record", "handle_request", "serve", "run", "main", "<module>"], leak
    assert python_frames(leak)[1][2] == marker("leak: request"), leak
    # the native frames this unwinder could take come first; python3.11
    # has no frame pointers, so the native part is short and says so
    kinds = [f.get("kind", "native") for f in leak["frames"]]
    assert kinds[0] == "native" and kinds[-1] == "python", kinds
    assert kinds == sorted(kinds), kinds  # native ones, then the Python ones
    assert leak["truncated"] is True, leak
    py = leak["frames"][kinds.index("python")]
    assert py["module"] is None and py["offset"] is None and py["inlined"] is False, py

    cache = the_stack(summary, "remember", marker("cache: fill"), s.pid)
    assert cache["outstanding_bytes"] == done["slots"] * (done["cached"] + BYTES_HEADER), cache
    assert cache["verdict"] == "steady", cache

    p = process(summary, s.pid)
    assert p["python"]["version"].startswith("3.11."), p
    assert p["python"]["module"] == DEBIAN, p
    assert p["python"]["walked"] >= rounds + done["slots"], p
    assert p["python"]["unreadable"] == 0 and p["python"]["too_deep"] == 0, p


def test_merged_at_the_eval_loop_with_cfi(run):
    """With CFI the native stack is whole: each Python call takes the place
    of one _PyEval_EvalFrameDefault frame, and the stack reaches main."""
    s = Script(run, interpreter(DEBIAN), "plain", rounds=10, period=0.05)
    lw, (done,) = watch_scripts(run, [s], "--unwind", "cfi")
    summary = finish(lw)
    leak = the_stack(summary, "make_record", marker("leak: record"), s.pid)
    assert leak["outstanding_bytes"] == done["rounds"] * (done["record"] + BYTES_HEADER), leak
    names = [f["function"] for f in leak["frames"]]
    kinds = [f.get("kind", "native") for f in leak["frames"]]
    first, last = kinds.index("python"), len(kinds) - 1 - kinds[::-1].index("python")
    # one eval-loop call here runs every function of the script: the Python
    # frames sit together between native ones, and no eval frame is left
    assert kinds[first:last + 1] == ["python"] * (last - first + 1), names
    assert "_PyEval_EvalFrameDefault" not in names, names
    assert "PyEval_EvalCode" in names[last + 1:], names
    assert "Py_BytesMain" in names[last + 1:] and names[-1] == "_start", names
    assert leak["truncated"] is False, leak


def test_threads_with_and_without_the_gil(run):
    """A thread leaking through a C call made with the GIL released (ctypes.
    CDLL) while the main thread runs Python: both named, both exact."""
    s = Script(run, interpreter(DEBIAN), "threads", rounds=20, period=0.05)
    lw, (done,) = watch_scripts(run, [s])
    summary = finish(lw)
    native = the_stack(summary, "native_worker.<locals>.call_into_c", marker("leak: native"),
                       s.pid)
    assert native["outstanding_bytes"] == done["rounds"] * done["native"], native
    assert [f[0] for f in python_frames(native)][:3] == [
        "native_worker.<locals>.call_into_c", "native_worker", "Thread.run"], native
    leak = the_stack(summary, "make_record", marker("leak: record"), s.pid)
    assert leak["outstanding_bytes"] == done["rounds"] * (done["record"] + BYTES_HEADER), leak


def test_forked_workers(run):
    """Workers made with os.fork() leak from Python from their first request:
    every byte is under each worker's PID with its Python stack, and the
    stack has the same id in both (it hashes names and lines, not the
    addresses of code objects)."""
    parent = Script(run, interpreter(DEBIAN), "fork", rounds=20, period=0.05)
    lw, (done,) = watch_scripts(run, [parent])
    parent.expect("child-done", 30)
    parent.expect("child-done", 30)
    children = [int(c) for c in str(done["children"]).split(",")]
    summary = finish(lw)
    ids = set()
    for child in children:
        assert process(summary, child)["parent_pid"] == parent.pid
        leak = the_stack(summary, "make_record", marker("leak: record"), child)
        assert leak["outstanding_bytes"] == done["rounds"] * (done["record"] + BYTES_HEADER), \
            leak
        assert [f[0] for f in python_frames(leak)][:3] == [
            "make_record", "handle_request", "serve"], leak
        ids.add(leak["id"])
    assert len(ids) == 1, ids
    assert not stacks_at(summary, "make_record", marker("leak: record"), parent.pid)


def test_arena_growth_in_the_python_category(run):
    """Small objects live in pymalloc's 1 MiB arenas, which Debian's
    python3.11 allocates without calling any exported function: each arena
    mmap is counted in the python category, under the Python stack that
    needed it."""
    s = Script(run, interpreter(DEBIAN), "small", rounds=40, period=0.08)
    lw, (done,) = watch_scripts(run, [s])
    summary = finish(lw)
    line = marker("leak: small")
    arenas = [st for st in summary["stacks"] if st["category"] == "python" and st["pid"] == s.pid]
    assert arenas, summary["stacks"]
    at_line = [st for st in arenas if python_frames(st) and python_frames(st)[0][2] == line]
    assert len(at_line) == 1, [(st["outstanding_bytes"], python_frames(st)) for st in arenas]
    leak = at_line[0]
    assert [f[0] for f in python_frames(leak)][:2] == [
        "keep_small.<locals>.<listcomp>", "keep_small"], leak
    # whole arenas, enough for the objects kept (104-byte blocks in 16 KiB
    # pools), and not many more
    mib = 1 << 20
    payload = done["rounds"] * done["per_round"] * 104
    assert leak["outstanding_bytes"] % mib == 0, leak
    assert leak["outstanding_allocs"] == leak["outstanding_bytes"] // mib, leak
    assert payload <= leak["outstanding_bytes"] <= payload + 2 * mib, (payload, leak)
    assert leak["verdict"] == "growing", leak
    # arenas are not the program's own mappings
    assert not [st for st in summary["stacks"] if st["category"] == "mmap" and
                st["pid"] == s.pid and st["outstanding_bytes"] == mib], summary["stacks"]


@pytest.mark.parametrize("name,python,version", VERSIONS, ids=[v[0] for v in VERSIONS])
def test_each_version(run, name, python, version):
    s = Script(run, interpreter(python), "plain", rounds=10, period=0.05)
    lw, (done,) = watch_scripts(run, [s])
    summary = finish(lw)
    leak = the_stack(summary, "make_record", marker("leak: record"), s.pid)
    assert leak["outstanding_bytes"] == done["rounds"] * (done["record"] + BYTES_HEADER), leak
    assert [f[0] for f in python_frames(leak)] == [
        "make_record", "handle_request", "serve", "run", "main", "<module>"], leak
    assert python_frames(leak)[1][2] == marker("leak: request"), leak
    cache = the_stack(summary, "remember", marker("cache: fill"), s.pid)
    assert cache["outstanding_bytes"] == done["slots"] * (done["cached"] + BYTES_HEADER), cache
    assert process(summary, s.pid)["python"]["version"].startswith(version + "."), summary


def test_unsupported_version_keeps_native_stacks(run):
    s = Script(run, interpreter(UNSUPPORTED), "plain", rounds=10, period=0.05)
    lw, (done,) = watch_scripts(run, [s])
    summary = finish(lw)
    said = [l for l in lw.err.snapshot() if "unsupported Python 3.9" in l]
    assert len(said) == 1 and "native only" in said[0], lw.err.snapshot()
    p = process(summary, s.pid)
    assert "unsupported Python 3.9" in p["python"]["unsupported"], p
    assert not [s for s in summary["stacks"] if python_frames(s)], summary["stacks"]
    # the memory is still seen, under native stacks
    held = sum(st["outstanding_bytes"] for st in summary["stacks"] if st["pid"] == s.pid)
    assert held >= done["rounds"] * (done["record"] + BYTES_HEADER), summary["stacks"]


def test_no_python_keeps_native_stacks(run):
    """--no-python: the walker is off, the memory is still seen, natively."""
    s = Script(run, interpreter(DEBIAN), "plain", rounds=10, period=0.05)
    lw, (done,) = watch_scripts(run, [s], "--no-python")
    summary = finish(lw)
    assert "python" not in process(summary, s.pid), process(summary, s.pid)
    assert not [st for st in summary["stacks"] if python_frames(st)], summary["stacks"]
    held = sum(st["outstanding_bytes"] for st in summary["stacks"] if st["pid"] == s.pid)
    assert held >= done["rounds"] * (done["record"] + BYTES_HEADER), summary["stacks"]


ENDS = TARGET_SOURCES / "python" / "ends.py"


def test_a_script_that_ends_keeps_its_leaks(run):
    """A script leakwatch starts (--) leaks and ends normally. Its
    interpreter's teardown frees everything the script held; the summary
    must still show what was outstanding when the script was done, to the
    byte, at its line: leakwatch takes the process's probes out when the
    interpreter begins finalizing, and says so."""
    python = interpreter(DEBIAN)
    lw = run.leakwatch("--json", "-", "-T", "100", INTERVAL, "--", python, str(ENDS))
    assert lw.wait_exit(60) == EXIT_OK, lw.describe()
    summary = lw.summary()
    (p,) = summary["processes"]
    assert p["alive"] is False and p["python"]["finalized"] is True, p
    line = marker("leak: kept", ENDS)
    # the records (the list's own array grows at that line too)
    record = 20000 + BYTES_HEADER
    kept = [s for s in summary["stacks"]
            if python_frames(s) and python_frames(s)[0][1:] == (str(ENDS), line) and
            s["outstanding_bytes"] == s["outstanding_allocs"] * record]
    assert kept, [python_frames(s)[:1] for s in summary["stacks"]]
    assert sum(s["outstanding_allocs"] for s in kept) == 5 * 40, kept
    assert sum(s["outstanding_bytes"] for s in kept) == 5 * 40 * record, kept
