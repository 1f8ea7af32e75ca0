"""--python-objects: each Python object counted at the interpreter's
allocator, where its build lets the allocator be probed.

pyenv's interpreters (built with --enable-shared, without profile-guided
optimization) and Debian's libpython3.11.so reach pymalloc only through its
functions: there every object is counted, with exact bytes, in the python
category, under the Python line that made it, and pymalloc's arenas (mapped
inside those calls) are not counted again. Debian's python3.11 executable
has copies of pymalloc inlined at its call sites: leakwatch says so once and
counts arenas instead. leaks.py "small" keeps 100-byte bytes objects
(SMALL + 33 bytes asked for); "fork" leaks from workers made with os.fork().
"""
import pytest

from conftest import EXIT_OK, INTERVAL, process
from test_python import (BYTES_HEADER, DEBIAN, PYENV, Script, interpreter, marker,
                         python_frames, the_stack)
from test_python_places import EMBED

OBJECTS_READY_S = 20
# (id, interpreter): shared-libpython builds whose allocator is probed
PROBED = [
    ("pyenv-3.10", str(PYENV / "3.10.13/bin/python3")),
    ("pyenv-3.11", str(PYENV / "3.11.7/bin/python3")),
    ("pyenv-3.12", str(PYENV / "3.12.1/bin/python3")),
    ("pyenv-3.13", str(PYENV / "3.13.0/bin/python3")),
    ("debian-libpython3.11", str(EMBED)),
]


def watch_objects(run, script, *options):
    """leakwatch -v --python-objects on script, once the allocator's probes
    are in (or refused), then "go"."""
    lw = run.leakwatch("-p", str(script.pid), "--json", "-", "-T", "200", "-v",
                       "--python-objects", *options, INTERVAL)
    lw.wait_ready()
    said = lw.err.wait_for(lambda l: "objects counted at" in l or
                           "Python objects not counted" in l, OBJECTS_READY_S)
    assert said is not None, lw.describe()
    return lw, script.go()


def finish(lw, after=1):
    lw.wait_intervals(after)
    assert lw.stop() == EXIT_OK, lw.describe()
    return lw.summary()


def python_at(summary, pid, line):
    """python-category stacks whose innermost Python frame is at line."""
    return [s for s in summary["stacks"] if s["pid"] == pid and s["category"] == "python" and
            python_frames(s) and python_frames(s)[0][2] == line]


@pytest.mark.parametrize("name,python", PROBED, ids=[p[0] for p in PROBED])
def test_small_objects_counted_exactly(run, name, python):
    """Every small object kept is counted, to the byte, at its line; the
    arenas that hold them are not counted on top."""
    if python == str(EMBED):
        interpreter(DEBIAN)
        if not EMBED.exists():
            pytest.fail("not built: run `make targets`", pytrace=False)
    s = Script(run, interpreter(python), "small", rounds=30, period=0.05)
    lw, done = watch_objects(run, s)
    summary = finish(lw)
    kept = done["rounds"] * done["per_round"]
    at_line = python_at(summary, s.pid, marker("leak: small"))
    # the objects, one stack (the list's own array grows under another)
    objects = [st for st in at_line if st["outstanding_allocs"] == kept]
    assert len(objects) == 1, [(st["outstanding_bytes"], st["outstanding_allocs"],
                                python_frames(st)[:2]) for st in at_line]
    leak = objects[0]
    assert leak["outstanding_bytes"] == kept * (done["small"] + BYTES_HEADER), leak
    assert leak["verdict"] == "growing", leak
    assert "keep_small" in [f[0] for f in python_frames(leak)][:2], leak
    # no arena (1 MiB mmap) counted: they are made inside the probed calls
    mib = 1 << 20
    arenas = [st for st in summary["stacks"] if st["pid"] == s.pid and
              st["category"] in ("python", "mmap") and st["outstanding_bytes"] == mib and
              st["outstanding_allocs"] == 1 and
              any(f.get("function") == "_PyObject_ArenaMmap" for f in st["frames"])]
    assert not arenas, [python_frames(st)[:2] for st in arenas]
    p = process(summary, s.pid)["python"]
    assert p["pymalloc"] == "objects", p
    assert "objects counted at its allocator's" in p["pymalloc_why"], p


def test_large_objects_in_the_python_category(run):
    """A large object (over 512 bytes) goes from pymalloc's functions on to
    malloc: counted once, in the python category, with exact bytes."""
    s = Script(run, interpreter(str(PYENV / "3.11.7/bin/python3")), "plain", rounds=10,
               period=0.05)
    lw, done = watch_objects(run, s)
    # the cache's verdict needs 4 reports of it
    summary = finish(lw, after=4)
    leak = the_stack(summary, "make_record", marker("leak: record"), s.pid)
    assert leak["category"] == "python", leak
    assert leak["outstanding_bytes"] == done["rounds"] * (done["record"] + BYTES_HEADER), leak
    assert leak["outstanding_allocs"] == done["rounds"], leak
    # the cached objects (the dict's own table is another python stack there)
    cache = [st for st in python_at(summary, s.pid, marker("cache: fill"))
             if st["outstanding_allocs"] == done["slots"]]
    assert len(cache) == 1, python_at(summary, s.pid, marker("cache: fill"))
    assert cache[0]["outstanding_bytes"] == done["slots"] * (done["cached"] + BYTES_HEADER)
    assert cache[0]["verdict"] == "steady", cache


def test_forked_workers_counted_from_their_first_object(run):
    """Children made with os.fork() get the allocator's probes before they
    run: their records are counted in full, in the python category."""
    parent = Script(run, interpreter(str(PYENV / "3.11.7/bin/python3")), "fork", rounds=10,
                    period=0.05)
    lw, done = watch_objects(run, parent)
    parent.expect("child-done", 30)
    parent.expect("child-done", 30)
    summary = finish(lw)
    for child in [int(c) for c in str(done["children"]).split(",")]:
        leak = the_stack(summary, "make_record", marker("leak: record"), child)
        assert leak["category"] == "python", leak
        assert leak["outstanding_bytes"] == done["rounds"] * (done["record"] + BYTES_HEADER), \
            leak
        assert process(summary, child)["python"]["pymalloc"] == "objects", summary["processes"]


def test_inlined_allocator_counts_arenas(run):
    """Debian's python3.11 inlines pymalloc where it is called: objects are
    not counted one by one; stderr says why, once, and its arenas are
    counted as without the option."""
    s = Script(run, interpreter(DEBIAN), "small", rounds=20, period=0.05)
    lw, done = watch_objects(run, s)
    summary = finish(lw)
    said = [l for l in lw.err.snapshot() if "Python objects not counted" in l]
    assert len(said) == 1 and "inlined at" in said[0], lw.err.snapshot()
    p = process(summary, s.pid)["python"]
    assert p["pymalloc"] == "arenas" and "inlined at" in p["pymalloc_why"], p
    at_line = python_at(summary, s.pid, marker("leak: small"))
    assert at_line and all(st["outstanding_bytes"] % (1 << 20) == 0 for st in at_line), at_line
