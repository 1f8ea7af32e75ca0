"""CPython frames found and named from outside the process (userspace/stacks/python.c).

For each interpreter present, tests/targets/python/frames.py prints, from the
inside, the addresses of code objects (id()), their names and lines, and each
thread's PyThreadState and pthread_self(); build/tests/pyinspect must find the
same from /proc/PID alone: the interpreter and its version, _PyRuntime, the
frames of a thread blocked without the GIL through its thread-local slot, and
every name, file and line exactly.
"""
import json
import os
import re
import selectors
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD, REPO

PYINSPECT = BUILD / "tests" / "pyinspect"
LIBBLOCK = BUILD / "tests" / "targets" / "python" / "libblock.so"
EMBED = BUILD / "tests" / "targets" / "python" / "embed"
SCRIPT = REPO / "tests" / "targets" / "python" / "frames.py"
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
START_TIMEOUT_S = 20.0

# (id, interpreter argv, version prefix it must report)
INTERPRETERS = [
    ("debian-3.11", ["/usr/bin/python3.11"], (3, 11)),
    ("pyenv-3.10", [str(PYENV / "3.10.13/bin/python3")], (3, 10)),
    ("pyenv-3.11", [str(PYENV / "3.11.7/bin/python3")], (3, 11)),
    ("pyenv-3.12", [str(PYENV / "3.12.1/bin/python3")], (3, 12)),
    ("pyenv-3.13", [str(PYENV / "3.13.0/bin/python3")], (3, 13)),
    ("embedded-3.11", [str(EMBED)], (3, 11)),
]

# Offsets from the CPython headers of each version (offsetof); python_layout.c's
# own tables must agree, and what it reads from the binary must agree too.
EXPECTED = {
    (3, 10): dict(tstate_frame=24, frame_code=32, frame_previous=24, frame_instr=96,
                  co_filename=104, co_name=112, co_firstlineno=40, co_linetable=120),
    (3, 11): dict(tstate_frame=56, cframe_current_frame=8, frame_code=32, frame_previous=48,
                  frame_instr=56, frame_is_entry=68, co_filename=112, co_name=120,
                  co_qualname=128, co_firstlineno=72, co_linetable=136, co_code_adaptive=184),
    (3, 12): dict(tstate_frame=56, cframe_current_frame=0, frame_code=0, frame_previous=8,
                  frame_instr=56, frame_owner=70, owner_cstack=3, co_filename=112,
                  co_name=120, co_qualname=128, co_firstlineno=68, co_linetable=136,
                  co_code_adaptive=192),
    (3, 13): dict(tstate_frame=72, frame_code=0, frame_previous=8, frame_instr=56,
                  frame_owner=70, owner_cstack=3, co_filename=112, co_name=120,
                  co_qualname=128, co_firstlineno=68, co_linetable=136, co_code_adaptive=200),
}


def _env():
    # the interpreters must load their own libpython, not one from the caller
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LD_"))}
    return env


class Script:
    """frames.py under an interpreter: its report, killed at the end."""

    def __init__(self, argv, tmp):
        self.err = open(tmp / "stderr", "wb")
        self.proc = subprocess.Popen([*argv, str(SCRIPT), str(LIBBLOCK)], stdout=subprocess.PIPE,
                                     stderr=self.err, stdin=subprocess.DEVNULL, env=_env())
        self.pid = self.proc.pid
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            if sel.select(deadline - time.monotonic()):
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    break
                line += chunk
        sel.close()
        if not line.endswith(b"\n"):
            self.close()
            pytest.fail("frames.py under %s printed no report in %.0f s (exit %r): %s" % (
                argv[0], START_TIMEOUT_S, self.proc.poll(),
                (tmp / "stderr").read_text(errors="replace")[-2000:]), pytrace=False)
        self.report = json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.err.close()


def pyinspect(pid, *args, want_rc=0):
    r = subprocess.run([str(PYINSPECT), str(pid), *map(str, args)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == want_rc, "pyinspect %s %s: exit %d, %s %s" % (
        pid, " ".join(map(str, args)), r.returncode, r.stdout, r.stderr)
    return json.loads(r.stdout)


def read_u64(pid, addr):
    with open("/proc/%d/mem" % pid, "rb") as f:
        f.seek(addr)
        return int.from_bytes(f.read(8), "little")


def read_bytes(pid, addr, n):
    with open("/proc/%d/mem" % pid, "rb") as f:
        f.seek(addr)
        return f.read(n)


def expected_runtime(pid, module):
    """_PyRuntime from the ELF (nm -D) and the module's first mapping."""
    nm = subprocess.run(["nm", "-D", "--defined-only", module], capture_output=True, text=True,
                        check=True).stdout
    value = int(re.search(r"^([0-9a-f]+) \w _PyRuntime$", nm, re.M).group(1), 16)
    phdrs = subprocess.run(["readelf", "-lW", module], capture_output=True, text=True,
                           check=True).stdout
    first_load = int(re.search(r"^\s*LOAD\s+0x[0-9a-f]+ (0x[0-9a-f]+)", phdrs, re.M).group(1), 16)
    real = os.path.realpath(module)
    starts = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and os.path.realpath(parts[5]) == real:
                starts.append(int(parts[0].split("-")[0], 16))
    return value + min(starts) - (first_load & ~0xfff)


@pytest.fixture(params=INTERPRETERS, ids=[i[0] for i in INTERPRETERS])
def script(request, tmp_path):
    name, argv, version = request.param
    if not PYINSPECT.exists() or not LIBBLOCK.exists() or not EMBED.exists():
        pytest.fail("not built: run `make targets`", pytrace=False)
    if not os.path.exists(argv[0]):
        pytest.skip("%s: %s is not installed" % (name, argv[0]))
    s = Script(argv, tmp_path)
    try:
        assert tuple(s.report["version"][:2]) == version, s.report["version"]
        yield name, s
    finally:
        s.close()


def test_detection_and_offsets(script):
    name, s = script
    info = pyinspect(s.pid, "info")
    o = info["offsets"]
    major, minor, micro = s.report["version"]
    assert o["version_hex"] >> 8 == (major << 16 | minor << 8 | micro), info
    if name == "debian-3.11":
        assert info["module"] == "/usr/bin/python3.11"
    elif name == "embedded-3.11":
        assert os.path.realpath(info["module"]) == os.path.realpath(
            "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"), info["module"]
    else:
        assert re.search(r"/lib/libpython%d\.%d\.so\.1\.0$" % (major, minor), info["module"])
    assert o["runtime_addr"] == expected_runtime(s.pid, info["module"])
    # PyCode_Type really is the type named "code"
    tp_name = read_u64(s.pid, o["code_type_addr"] + 24)
    assert read_bytes(s.pid, tp_name, 5) == b"code\0"
    for field, value in EXPECTED[(major, minor)].items():
        assert o[field] == value, (field, info["checks"])
    checks = info["checks"]
    members = 4 if minor == 10 else 5
    assert "PyCode_Type.tp_members: %d offsets, as the table" % members in checks, checks
    if minor >= 11:
        assert "PyCode_Type.tp_basicsize: 1 offsets, as the table" in checks, checks
    if minor == 13:
        assert read_bytes(s.pid, o["runtime_addr"], 8) == b"xdebugpy"
        assert "_Py_DebugOffsets: 22 offsets, as the table" in checks, checks
    assert re.search(r"frame walk: 2 thread state\(s\), [1-9]\d* frame\(s\), every one", checks)
    assert "differs" not in checks and "not understood" not in checks, checks


def test_code_objects_named(script):
    """id(code) and f_lasti from inside; qualname, file and line from outside."""
    _, s = script
    o = pyinspect(s.pid, "info")["offsets"]
    codes = s.report["codes"]
    assert len(codes) == 7
    args = []
    for c in codes:
        if o["interp_frames"]:
            # prev_instr / instr_ptr: the instruction inside the code object
            args += [c["code"], c["code"] + o["co_code_adaptive"] + c["lasti"]]
        else:
            args += [c["code"], c["lasti"] // 2]
    got = pyinspect(s.pid, "sym", *args)
    for want, sym in zip(codes, got):
        assert sym.get("qualname") == want["qualname"], sym
        assert sym["filename"] == want["filename"] == str(SCRIPT)
        assert sym["line"] == want["line"], (want, sym)
        assert sym["firstlineno"] == want["firstlineno"]
    # not a code object: refused, not misread
    assert "error" in pyinspect(s.pid, "sym", o["code_type_addr"], 0)[0]


def _check_stack(frames, want, interp_frames):
    names = [(f["sym"]["qualname"], f["sym"]["line"]) for f in frames]
    if not interp_frames:
        # 3.10 has no co_qualname: names are co_name
        want = [(q.rsplit(".", 1)[-1], line) for q, line in want]
    assert names[:len(want)] == [tuple(w) for w in want], names


def test_thread_without_gil_found_through_tls(script):
    """The worker is blocked in a C call that released the GIL: its thread
    state is in the autoTSSkey slot computed from its pthread_self()."""
    _, s = script
    o = pyinspect(s.pid, "info")["offsets"]
    w = s.report["worker"]
    assert o["tss_key"] >= 0
    slot = w["pthread"] + o["tss_slot_off"] + 16 * o["tss_key"]
    assert read_u64(s.pid, slot) == w["tstate"]
    t = pyinspect(s.pid, "tstate", w["pthread"])
    assert t["tss"] == w["tstate"], t
    if o["tls_kind"]:
        # 3.12+: _Py_tss_tstate is cleared while a thread has no GIL
        assert t["tls_error"] == 0 and t["tls"] == 0, t
    frames = pyinspect(s.pid, "walk", w["tstate"])
    _check_stack(frames, w["stack"], o["interp_frames"])
    assert [f["sym"]["qualname"].rsplit(".", 1)[-1] for f in frames][-1] == "_bootstrap"
    if o["interp_frames"]:
        assert frames[-1]["entry"], frames
    threads = pyinspect(s.pid, "threads")
    assert {"tstate": w["tstate"], "thread_id": w["pthread"],
            "native_id": w["native_id"] if o["tstate_native_id"] != 0xffffffff else 0} in threads


def test_gil_holder(script):
    """The main thread is blocked in a C call holding the GIL: the TSS slot,
    _Py_tss_tstate (3.12+) and gilstate.tstate_current (3.10/3.11) all
    give its thread state."""
    _, s = script
    o = pyinspect(s.pid, "info")["offsets"]
    m = s.report["main"]
    t = pyinspect(s.pid, "tstate", m["pthread"])
    assert t["tss"] == m["tstate"], t
    if o["tls_kind"]:
        assert t["tls_error"] == 0 and t["tls"] == m["tstate"], t
    if o["tstate_current_addr"]:
        assert read_u64(s.pid, o["tstate_current_addr"]) == m["tstate"]
    frames = pyinspect(s.pid, "walk", m["tstate"])
    _check_stack(frames, m["stack"], o["interp_frames"])
    assert len(frames) == len(m["stack"])
    if o["interp_frames"]:
        assert frames[-1]["entry"], frames


def test_unsupported_and_not_python(tmp_path):
    old = PYENV / "3.9.18/bin/python3"
    if not old.exists():
        pytest.skip("no Python 3.9 interpreter (%s) to be refused" % old)
    proc = subprocess.Popen([str(old), "-c", "import sys, time; print(1, flush=True); "
                             "time.sleep(60)"], stdout=subprocess.PIPE, env=_env())
    try:
        assert proc.stdout.readline() == b"1\n"
        r = pyinspect(proc.pid, "info", want_rc=3)
        assert r["error"].startswith("unsupported Python 3.9 in "), r
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        deadline = time.monotonic() + 5
        while os.path.basename(os.readlink("/proc/%d/exe" % sleeper.pid)) != "sleep":
            assert time.monotonic() < deadline, "sleep did not start"
            time.sleep(0.01)
        r = pyinspect(sleeper.pid, "info", want_rc=2)
        assert r["error"].startswith("no CPython interpreter"), r
    finally:
        sleeper.kill()
        sleeper.wait()
