"""Frames as a debugger shows them: source lines at the call, inlined calls
as frames of their own, and stripped binaries named only where symbols
really say so (tests/targets/symbols.c; expected lines are read from the
MARK comments there)."""

import os
import shutil
import subprocess

from conftest import (REPO, TARGETS, copy_libraries, fresh_dirs, split_debug,
                      start_in_private_mounts, watch, watch_started)

SOURCE = REPO / "tests" / "targets" / "symbols.c"


def mark(text):
    for number, line in enumerate(SOURCE.read_text().splitlines(), 1):
        if "MARK: " + text in line:
            return number
    raise AssertionError("no MARK: %s in %s" % (text, SOURCE))


def stack_of(summary, pid, function):
    """The one stack whose concrete (not inlined) first function is `function`."""
    found = []
    for s in summary["stacks"]:
        if s["pid"] != pid or not s["frames"]:
            continue
        concrete = next((f for f in s["frames"] if not f["inlined"]), None)
        if concrete and concrete["function"] == function:
            found.append(s)
    assert len(found) == 1, [[f["function"] for f in s["frames"]] for s in summary["stacks"]]
    return found[0]


def test_lines_and_inlined_frames(run):
    target = run.target("symbols")
    _, summary, _ = watch(run, [target])

    stored = stack_of(summary, target.pid, "store_records")
    assert (stored["outstanding_bytes"], stored["outstanding_allocs"]) == (2560, 4)
    inner, outer = stored["frames"][0], stored["frames"][1]
    # the inlined helper: its own frame, at the malloc line inside it
    assert inner["function"] == "make_record" and inner["inlined"] is True, inner
    assert inner["offset"] is None, inner
    assert os.path.basename(inner["file"]) == "symbols.c", inner
    assert inner["line"] == mark("make_record malloc"), inner
    # then the function it was inlined into, at the line of the inlined call,
    # sharing the address
    assert outer["function"] == "store_records" and outer["inlined"] is False, outer
    assert outer["line"] == mark("store_records call"), outer
    assert outer["addr"] == inner["addr"] and outer["module_offset"] == inner["module_offset"]
    assert stored["frames"][2]["function"] == "main"

    plain = stack_of(summary, target.pid, "leak_plain")
    assert (plain["outstanding_bytes"], plain["outstanding_allocs"]) == (960, 3)
    first = plain["frames"][0]
    assert first["inlined"] is False and first["line"] == mark("leak_plain malloc"), first
    assert not any(f.get("stripped") for s in (stored, plain) for f in s["frames"])


def test_stripped_binary(run):
    """A copy stripped of .symtab and DWARF: its own functions have no name
    left (null, never a neighbour's), yet every frame keeps its module,
    build-id and file offset; libc's frames are still named."""
    stripped = TARGETS / "symbols-stripped"  # beside the target, in the build tree
    shutil.copy(TARGETS / "symbols", stripped)
    subprocess.run(["strip", "--strip-all", str(stripped)], check=True)
    target = run.target(stripped.name)
    _, summary, _ = watch(run, [target])
    mine = [s for s in summary["stacks"] if s["pid"] == target.pid]
    assert sorted((s["outstanding_bytes"], s["outstanding_allocs"]) for s in mine) == \
        [(960, 3), (2560, 4)]
    for s in mine:
        exe_frames = [f for f in s["frames"] if f["module"] and f["module"].endswith("symbols-stripped")]
        assert exe_frames, s["frames"]
        for f in exe_frames:
            assert f["function"] is None, f
            assert f["build_id"] and isinstance(f["module_offset"], int), f
        assert any(f["function"] == "__libc_start_call_main" for f in s["frames"]), s["frames"]


def test_jit_frames_named_by_the_perf_map(run):
    """Code in anonymous executable memory is labeled JIT and named from
    the perf map the process publishes (/tmp/perf-PID.map under its root);
    the walk goes on through it to the C caller."""
    target = run.target("jit")
    _, summary, _ = watch(run, [target])
    stacks = [s for s in summary["stacks"] if s["pid"] == target.pid]
    assert [(s["outstanding_bytes"], s["outstanding_allocs"]) for s in stacks] == [(21605, 5)]
    frames = stacks[0]["frames"]
    jit = frames[0]
    assert jit["function"] == "jit_make_buffer", jit
    assert jit["jit"] is True and jit["module"] is None, jit
    assert jit["offset"] == 21, jit  # the instruction after the call, 21 bytes in
    assert [f["function"] for f in frames[1:3]] == ["call_jit", "main"], frames


def test_separate_debug_info(run):
    """Debug info split off into a file named by .gnu_debuglink, beside the
    binary (objcopy --only-keep-debug, then --strip-debug
    --add-gnu-debuglink): lines and inlined frames still come out."""
    split = TARGETS / "symbols-split"
    debug = TARGETS / "symbols-split.debug"
    shutil.copy(TARGETS / "symbols", split)
    subprocess.run(["objcopy", "--only-keep-debug", str(split), str(debug)], check=True)
    subprocess.run(["objcopy", "--strip-debug", "--add-gnu-debuglink=" + str(debug), str(split)],
                   check=True, cwd=str(TARGETS))
    target = run.target(split.name)
    _, summary, _ = watch(run, [target])
    stored = stack_of(summary, target.pid, "store_records")
    inner = stored["frames"][0]
    assert inner["function"] == "make_record" and inner["inlined"] is True, inner
    assert inner["line"] == mark("make_record malloc"), inner
    assert stored["frames"][1]["line"] == mark("store_records call"), stored["frames"][1]


def test_deleted_binary(run):
    """A binary deleted after its process started is read through the
    process's own view (/proc/PID/map_files): still fully symbolized."""
    doomed = TARGETS / "symbols-deleted"
    shutil.copy(TARGETS / "symbols", doomed)
    target = run.target(doomed.name)
    doomed.unlink()
    _, summary, _ = watch(run, [target])
    plain = stack_of(summary, target.pid, "leak_plain")
    assert plain["frames"][0]["line"] == mark("leak_plain malloc"), plain["frames"][0]
    assert plain["frames"][0]["module"].endswith("symbols-deleted (deleted)"), plain["frames"][0]
    assert plain["frames"][0]["build_id"], plain["frames"][0]


def build_root(root):
    """A minimal root for the symbols target: the binary stripped of every
    symbol, its debug info only inside the root (by build-id under its
    /usr/lib/debug), and copies of the libraries it needs."""
    fresh_dirs(root)
    (root / "bin").mkdir()
    exe = root / "bin" / "symbols"
    shutil.copy(TARGETS / "symbols", exe)
    split_debug(exe, root / "usr/lib/debug")
    copy_libraries(TARGETS / "symbols", root)


def test_container_debug_info(run):
    """A process in its own root (chroot) whose debug info exists only in
    that root: found there through /proc/PID/root, so its stripped frames
    get their names, lines and inlined calls back."""
    root = run.artdir / "root"
    build_root(root)
    proc = subprocess.Popen(["chroot", str(root), "/bin/symbols"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    summary, done = watch_started(run, proc)
    assert done == "done", done
    stored = stack_of(summary, proc.pid, "store_records")
    assert (stored["outstanding_bytes"], stored["outstanding_allocs"]) == (2560, 4)
    inner, outer = stored["frames"][0], stored["frames"][1]
    assert inner["function"] == "make_record" and inner["inlined"] is True, inner
    assert inner["line"] == mark("make_record malloc"), inner
    assert outer["line"] == mark("store_records call"), outer
    # the path as /proc/PID/maps shows it to leakwatch (from its own root)
    assert inner["module"].endswith("/root/bin/symbols"), inner


CONTAINER = REPO / "tests" / "targets" / "container"


def container_mark(text):
    for number, line in enumerate((CONTAINER / "libleakc.c").read_text().splitlines(), 1):
        if "MARK: " + text in line:
            return number
    raise AssertionError("no MARK: %s" % text)


def test_private_mount_namespace(run):
    """A process in its own mount namespace and root, whose library and
    debug info live on a tmpfs mounted only in that namespace: invisible on
    the host's paths, read through /proc/PID/map_files and /proc/PID/root,
    and fully symbolized (lines, the inlined helper)."""
    stage, root = run.artdir / "stage", run.artdir / "root"
    fresh_dirs(stage, root)
    (stage / "opt/lib").mkdir(parents=True)
    (root / "bin").mkdir()
    flags = ["-O2", "-g", "-fno-omit-frame-pointer"]
    lib = stage / "opt/lib/libleakc.so"
    subprocess.run(["cc", *flags, "-shared", "-fPIC", str(CONTAINER / "libleakc.c"), "-o", str(lib)],
                   check=True)
    app = root / "bin/app"
    subprocess.run(["cc", *flags, str(CONTAINER / "app.c"), "-L" + str(lib.parent), "-lleakc",
                    "-Wl,-rpath,/opt/lib", "-o", str(app)], check=True)
    # the library stripped, its debug info by build-id on a tmpfs of its own
    build_id = split_debug(lib, stage / "debug")
    copy_libraries(TARGETS / "symbols", root)
    proc = start_in_private_mounts(root, stage, [("opt", "opt"), ("debug", "usr/lib/debug")],
                                   ["/bin/app"])

    def invisible_on_the_host():
        assert not (root / "opt/lib/libleakc.so").exists()

    summary, done = watch_started(run, proc, invisible_on_the_host)
    assert done == "done bytes=21210", done
    stacks = [s for s in summary["stacks"] if s["pid"] == proc.pid]
    assert len(stacks) == 1, stacks
    s = stacks[0]
    assert (s["outstanding_bytes"], s["outstanding_allocs"]) == (21210, 5)
    inner, outer, caller = s["frames"][:3]
    assert inner["function"] == "make_block" and inner["inlined"] is True, inner
    assert inner["line"] == container_mark("make_block malloc"), inner
    assert inner["module"].endswith("libleakc.so") and inner["build_id"] == build_id, inner
    assert not inner.get("stripped"), inner
    assert outer["function"] == "leak_in_container" and not outer["inlined"], outer
    assert outer["line"] == container_mark("leak_in_container call"), outer
    assert caller["function"] == "main", caller
