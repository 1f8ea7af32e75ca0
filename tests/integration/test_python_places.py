"""Python stacks wherever the interpreter lives: in a private mount namespace
and root (a container: the interpreter, its libraries and its standard
library exist only there, read through /proc/PID), and in an application
that embeds libpython3.11.so. leakwatch must name each leak's Python
function, file and line, with exact bytes.
"""
import os
import shutil

import pytest

from conftest import (BUILD, JUDGED_SAMPLES, TARGET_SOURCES, copy_libraries, fresh_dirs,
                      process, start_in_private_mounts, watch_started)
from test_python import (BYTES_HEADER, DEBIAN, Script, finish, interpreter, marker,
                         python_frames, the_stack, watch_scripts)

EMBED = BUILD / "tests" / "targets" / "python" / "embed"
SVC = TARGET_SOURCES / "python" / "svc.py"
# where the interpreter sits in the private root: nowhere on the host
PREFIX = "/opt/py"


def test_private_mount_namespace(run):
    """Debian's python3.11 copied into a root on a tmpfs mounted only in the
    process's own mount namespace, at a path the host does not have: the
    interpreter is found and read through /proc/PID, and its frames named."""
    python = interpreter(DEBIAN)
    stage, root = run.artdir / "stage", run.artdir / "root"
    prefix = stage / PREFIX.lstrip("/")
    fresh_dirs(stage, root)
    for d in (prefix / "bin", prefix / "lib/python3.11", stage / "app"):
        d.mkdir(parents=True)
    # the interpreter, its libraries, and the part of the standard library
    # start-up reads (its landmark os.py, encodings); the script imports
    # nothing more
    shutil.copy(python, prefix / "bin/python3.11")
    shutil.copy("/usr/lib/python3.11/os.py", prefix / "lib/python3.11/os.py")
    shutil.copytree("/usr/lib/python3.11/encodings", prefix / "lib/python3.11/encodings",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(SVC, stage / "app/svc.py")
    copy_libraries(python, root)
    proc = start_in_private_mounts(root, stage, [("opt", "opt"), ("app", "app")],
                                   [PREFIX + "/bin/python3.11", "-S", "-I", "/app/svc.py"])

    def invisible_on_the_host():
        assert not (root / PREFIX.lstrip("/")).joinpath("bin/python3.11").exists()
        assert not os.path.exists(PREFIX + "/bin/python3.11")

    summary, line = watch_started(run, proc, invisible_on_the_host)
    done = dict(kv.split("=") for kv in line.split()[1:])
    rounds, record = int(done["rounds"]), int(done["record"])
    leaks = [s for s in summary["stacks"] if s["pid"] == proc.pid and python_frames(s) and
             python_frames(s)[0] == ("keep", "/app/svc.py", marker("leak: keep", SVC))]
    assert len(leaks) == 1, [(s["outstanding_bytes"], python_frames(s)) for s in
                             summary["stacks"] if s["pid"] == proc.pid]
    leak = leaks[0]
    assert leak["outstanding_bytes"] == rounds * (record + BYTES_HEADER), leak
    assert leak["outstanding_allocs"] == rounds, leak
    assert python_frames(leak) == [("keep", "/app/svc.py", marker("leak: keep", SVC)),
                                   ("serve", "/app/svc.py", marker("leak: serve", SVC)),
                                   ("main", "/app/svc.py", marker("leak: main", SVC)),
                                   ("<module>", "/app/svc.py", marker("leak: module", SVC))], leak
    p = process(summary, proc.pid)
    assert p["python"]["version"].startswith("3.11."), p
    # the interpreter as the process's mappings name it
    assert p["python"]["module"].endswith(PREFIX + "/bin/python3.11"), p
    assert p["python"]["unreadable"] == 0, p


def test_embedding_application(run):
    """An application linked with libpython3.11.so (tests/targets/python/
    embed.c) running leaks.py: the interpreter is found in the shared
    library, and the leaking lines are named under the application."""
    interpreter(DEBIAN)
    if not EMBED.exists():
        pytest.fail("not built: run `make targets`", pytrace=False)
    s = Script(run, str(EMBED), "plain", rounds=15, period=0.05)
    lw, (done,) = watch_scripts(run, [s])
    # enough samples of the filled cache to judge it
    summary = finish(lw, after=JUDGED_SAMPLES)
    leak = the_stack(summary, "make_record", marker("leak: record"), s.pid)
    assert leak["outstanding_bytes"] == done["rounds"] * (done["record"] + BYTES_HEADER), leak
    assert leak["outstanding_allocs"] == done["rounds"], leak
    assert [f[0] for f in python_frames(leak)] == [
        "make_record", "handle_request", "serve", "run", "main", "<module>"], leak
    assert python_frames(leak)[1][2] == marker("leak: request"), leak
    cache = the_stack(summary, "remember", marker("cache: fill"), s.pid)
    assert cache["outstanding_bytes"] == done["slots"] * (done["cached"] + BYTES_HEADER), cache
    assert cache["verdict"] == "steady", cache
    p = process(summary, s.pid)
    assert p["comm"] == "embed", p
    assert p["python"]["version"].startswith("3.11."), p
    assert os.path.basename(p["python"]["module"]).startswith("libpython3.11.so"), p
    assert p["python"]["unreadable"] == 0, p


def test_interpreter_key_in_the_second_level(run):
    """The embedding application makes 40 pthread keys before starting the
    interpreter, so the interpreter's thread-state key is 40 or more and
    lives in glibc's second-level array: its threads are still found and
    their Python lines named, exactly."""
    interpreter(DEBIAN)
    if not EMBED.exists():
        pytest.fail("not built: run `make targets`", pytrace=False)
    s = Script(run, str(EMBED), "plain", rounds=10, period=0.05,
               extra_env={"LW_EMBED_KEYS": "40"})
    lw, (done,) = watch_scripts(run, [s], "-v")
    summary = finish(lw)
    keys = [l for l in lw.err.snapshot() if "autoTSSkey: pthread key" in l]
    assert keys and "second-level" in keys[0], keys or lw.err.snapshot()[-20:]
    leak = the_stack(summary, "make_record", marker("leak: record"), s.pid)
    assert leak["outstanding_bytes"] == done["rounds"] * (done["record"] + BYTES_HEADER), leak
    assert [f[0] for f in python_frames(leak)][:3] == [
        "make_record", "handle_request", "serve"], leak
