#!/usr/bin/python3
"""make bench: what leakwatch costs an allocation-heavy program.

Runs tools/bench/alloc_storm under each condition, alternating them within
each repetition (A B C D, A B C D, ...) so drift on a noisy machine hits all
alike, and reports medians and per-repetition ratios:

  base          the workload alone
  floor-entry   empty BPF programs at the allocator functions' entries
                (and returns), what any uprobe observer pays at least
  floor-own     the same at leakwatch's own probe points (moved past
                instructions the kernel would single-step)
  leakwatch     full tracking with frame-pointer stacks
  sampled       leakwatch --sample-bytes 512K

Then the unwinders, for shallow stacks and deep ones (alloc_storm -d): the
floor at leakwatch's points, leakwatch --unwind fp on a build with frame
pointers, --unwind auto on the same build (CFI only for glibc), and
--unwind cfi on a build without frame pointers.

Then Python (Debian's python3.11, tools/bench/py_alloc.py): one calloc and
free per bytes object made at a fixed depth of Python frames, alone, under
leakwatch, and under leakwatch --no-python; the walk's cost per Python frame
is the difference between depths of what walking adds.

Then Python objects (a pyenv build, whose libpython lets its allocator be
probed): a bytes object of 100 bytes, from pymalloc, made and dropped at 4
frames (with the loop's int, two objects made and freed per operation),
alone, under leakwatch (pymalloc's arenas counted), under --python-objects
(each object counted: two traps and a stack walk to make it, one trap to
free it), and the same sampled.

Then --growth (no allocator probe; page faults), against each workload
alone: alloc_storm, the Python loop, a 1 MiB churn faulting every page (the
cost per fault), a 1 MiB-an-op leak (the cost per MiB of growth), and
leakwatch's own CPU watching 50 processes.

Then the path of kernels without uprobe_multi links (Linux 6.1): the floor
and leakwatch as above, against the same with a perf-event uprobe per
function and process (--kernel-without uprobe_multi), and the attach time.

Uprobes belong to a file, not a process: anybody's uprobe on libc slows
every process, baseline included. A run during which a uprobe that this
benchmark did not create was present is repeated (up to 3 times) and
counted in the "contaminated" line.

Usage: bench.py [--quick] [--reps N] [--ops N] BUILD_DIR
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time

CONDITIONS = ["base", "floor-entry", "floor-own", "leakwatch", "sampled"]
OBSERVER_ARGS = {
    "floor-entry": ["--bench-floor=entry"],
    "floor-own": ["--bench-floor=own"],
    "leakwatch": [],
    "sampled": ["--sample-bytes", "512K"],
}
WORKLOADS = [  # (name, alloc_storm arguments)
    ("pairs, 1 thread", ["-m", "pairs", "-t", "1"]),
    ("pairs, 2 threads", ["-m", "pairs", "-t", "2"]),
    ("mix (malloc, calloc, realloc, new[], new), 1 thread", ["-m", "mix", "-t", "1"]),
]
# (name, alloc_storm build, leakwatch arguments) for the unwinders' costs
UNWINDERS = [
    ("floor-own", "alloc_storm_fp", ["--bench-floor=own"]),
    ("fp (fp build)", "alloc_storm_fp", ["--unwind", "fp"]),
    ("auto (fp build)", "alloc_storm_fp", ["--unwind", "auto"]),
    ("cfi (no-fp build)", "alloc_storm_nofp", ["--unwind", "cfi"]),
]
# extra frames between main's work loop and malloc: shallow, and deep
UNWIND_DEPTHS = [0, 100]
# call sites of the large binary (Makefile: big_binary.py's first argument)
BIG_SITES = 3000
# The Python workload: the interpreter, its Python frames at the allocation
# (shallow, and as deep as the walker keeps), and the conditions
PYTHON = "/usr/bin/python3.11"
PY_DEPTHS = [4, 32]
PY_CONDITIONS = [("alone", None), ("leakwatch", []), ("--no-python", ["--no-python"])]
PYENV = os.path.join(os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"), "versions")
PY_SHARED = ["3.11.7/bin/python3", "3.12.1/bin/python3", "3.13.0/bin/python3",
             "3.10.13/bin/python3"]
PY_OBJECT_CONDITIONS = [("alone", None), ("leakwatch", []),
                        ("--python-objects", ["--python-objects", "-v"]),
                        ("objects, sampled", ["--python-objects", "-v", "--sample-bytes", "512K"])]
# leakwatch reports this often during runs, as a user watching closely would
POLL_S = 0.2
# the baseline runs this many times more operations, so it lasts long
# enough to time
BASE_OPS_FACTOR = 50


def bpftool(*args):
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True)
    try:
        return json.loads(out.stdout or "[]")
    except json.JSONDecodeError:
        return []


def foreign_uprobes(ours):
    """uprobes (perf-event or uprobe_multi links) held by processes not in ours."""
    found = []
    for entry in bpftool("perf", "show"):
        if entry.get("fd_type", "").startswith("uprobe") or entry.get("fd_type", "").startswith(
                "uretprobe"):
            if entry.get("pid") not in ours:
                found.append("perf %s pid %s" % (entry.get("fd_type"), entry.get("pid")))
    for link in bpftool("link", "show"):
        # a uprobe_multi link names the process it is filtered to
        if link.get("type") == "uprobe_multi" and link.get("pid") not in ours:
            found.append("uprobe_multi link %s (pid %s)" % (link.get("id"), link.get("pid")))
    return found


def map_memory(pid):
    """Bytes of kernel memory the BPF maps that process pid holds use (the
    kernel's own figure, memlock in each map fd's fdinfo)."""
    total = 0
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if "map_id" in info:
            total += int(info.get("memlock", "0"))
    return total


def cpu_s(pid):
    """CPU seconds process pid has run so far (schedstat: nanoseconds, not
    the 10 ms ticks of /proc/PID/stat); its threads are one here."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e9


def tree_cpu_s(pid):
    """CPU seconds of pid and its children now: leakwatch and its
    symbolizer worker, which does the DWARF work."""
    total = cpu_s(pid)
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        children = []
    for c in children:
        try:
            total += cpu_s(c)
        except OSError:
            pass
    return total


def start_leakwatch(build, pid, args, ready=r"^leakwatch: watching"):
    """leakwatch watching pid with args, once it says it is watching (or
    prints another line matching ready)."""
    lw = subprocess.Popen([os.path.join(build, "leakwatch"), "-p", str(pid), *args, str(POLL_S)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    read_line(lw.stderr, ready, 30)
    return lw


def timed_go(proc, timeout):
    """Sends a workload "go" and reads its "ops=N ... cpu_ns=C" line: CPU
    ns per operation."""
    proc.stdin.write("go\n")
    proc.stdin.flush()
    line, _ = read_line(proc.stdout, r"^ops=", timeout)
    fields = dict(kv.split("=") for kv in line.split())
    return int(fields["cpu_ns"]) / int(fields["ops"])


def read_line(stream, pattern, timeout):
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return line, lines
    raise RuntimeError("did not see %r; got %r" % (pattern, lines))


def run_once(build, condition, workload_args, ops, exe="alloc_storm", observer=None):
    """One run: returns a dict of figures, or raises. observer: leakwatch's
    arguments, else those of the condition."""
    storm_ops = ops * BASE_OPS_FACTOR if condition == "base" else ops
    storm = subprocess.Popen([os.path.join(build, "bench", exe), *workload_args,
                              "-n", str(storm_ops)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    lw = None
    result = {}
    try:
        read_line(storm.stdout, r"^ready", 10)
        ours = {storm.pid}
        if condition != "base":
            t0 = time.monotonic()
            lw = subprocess.Popen([os.path.join(build, "leakwatch"), "-v", "-p", str(storm.pid),
                                   *(OBSERVER_ARGS[condition] if observer is None else observer), str(POLL_S)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            ours.add(lw.pid)
            line, lines = read_line(lw.stderr, r"^leakwatch: watching", 30)
            result["start_s"] = time.monotonic() - t0
            for l in lines:
                m = re.search(r"attached in ([0-9.]+) ms", l)
                if m:
                    result["attach_ms"] = float(m.group(1))
        result["foreign"] = foreign_uprobes(ours)
        lw_cpu0 = cpu_s(lw.pid) if lw else 0
        storm.stdin.write("go\n")
        storm.stdin.flush()
        line, _ = read_line(storm.stdout, r"^ops=", 600)
        fields = dict(kv.split("=") for kv in line.split())
        result["cpu_ns_per_op"] = int(fields["cpu_ns"]) / int(fields["ops"])
        result["wall_ns_per_op"] = int(fields["wall_ns"]) / int(fields["ops"]) * int(
            workload_args[workload_args.index("-t") + 1])
        result["ops"] = int(fields["ops"])
        result["foreign"] += foreign_uprobes(ours)
        storm.wait(10)
        if lw:
            # what leakwatch spent while the workload ran (not its start-up)
            result["lw_cpu_s"] = cpu_s(lw.pid) - lw_cpu0
            result["map_bytes"] = map_memory(lw.pid)
            # not Popen.send_signal: it polls first, and would reap a
            # leakwatch that ended with its target, taking its rusage
            os.kill(lw.pid, signal.SIGINT)
            _, status, usage = os.wait4(lw.pid, 0)
            lw.returncode = os.waitstatus_to_exitcode(status)
            for l in lw.stderr.read().splitlines():
                m = re.search(r"detached in ([0-9.]+) ms", l)
                if m:
                    result["detach_ms"] = float(m.group(1))
            result["lw_rss"] = usage.ru_maxrss * 1024
            if lw.returncode != 0:
                raise RuntimeError("leakwatch exited %d" % lw.returncode)
    finally:
        for p in (lw, storm):
            if p and p.poll() is None:
                p.kill()
                p.wait()
    return result


def num(v):
    return "%.0f" % v if abs(v) >= 100 else "%.3g" % v


def fmt(values, unit=""):
    if not values:
        return "-"
    return "%s%s [%s..%s]" % (num(statistics.median(values)), unit, num(min(values)),
                              num(max(values)))


def mib(n):
    return "%.1f MiB" % (n / 1048576)


def bench_workload(build, name, args, reps, ops, out):
    runs = {c: [] for c in CONDITIONS}
    contaminated = 0
    for rep in range(reps):
        for cond in CONDITIONS:
            for attempt in range(4):
                r = run_once(build, cond, args, ops)
                if not r["foreign"] or attempt == 3:
                    break
                contaminated += 1
                time.sleep(1)
            runs[cond].append(r)
    ns = {c: [r["cpu_ns_per_op"] for r in runs[c]] for c in CONDITIONS}
    print("\n%s: %d operations per observed run, %d repetitions, alternated" % (name, ops, reps),
          file=out)
    print("  %-12s %-30s %-22s %-22s %s" % ("condition", "cpu ns per op (median [min..max])",
                                             "x base", "x floor-entry", "x floor-own"), file=out)
    for c in CONDITIONS:
        ratios = []
        for ref in ("base", "floor-entry", "floor-own"):
            rs = [a / b for a, b in zip(ns[c], ns[ref]) if b]
            ratios.append(fmt(rs, "x") if c != ref else "1")
        print("  %-12s %-30s %-22s %-22s %s" % (c, fmt(ns[c]), *ratios), file=out)
    lw = runs["leakwatch"]
    cpu_per_m = [r["lw_cpu_s"] * 1e3 / (r["ops"] / 1e6) for r in lw]
    print("  leakwatch itself, while the workload ran: %s ms CPU per million allocations; "
          "peak RSS %s + BPF maps %s; "
          "attach %s ms (BPF load included), detach %s ms" % (
              fmt(cpu_per_m), mib(max(r["lw_rss"] for r in lw)),
              mib(max(r["map_bytes"] for r in lw)),
              fmt([r.get("attach_ms", 0) for r in lw]),
              fmt([r.get("detach_ms", 0) for r in lw])), file=out)
    print("  runs repeated because another process had uprobes in place: %d" % contaminated,
          file=out)


# (label, leakwatch's arguments) for the kernels without uprobe_multi
FALLBACK = [("floor-own", ["--bench-floor=own"]),
            ("floor-own, per function", ["--bench-floor=own", "--kernel-without", "uprobe_multi"]),
            ("leakwatch", []),
            ("leakwatch, per function", ["--kernel-without", "uprobe_multi"])]


def fallback_cost(build, reps, ops, out):
    """What a kernel without uprobe_multi costs: per call, and to attach."""
    args = ["-m", "pairs", "-t", "1"]
    runs = {label: [] for label, _ in FALLBACK}
    for rep in range(reps):
        for label, observer in FALLBACK:
            runs[label].append(run_once(build, "observed", args, ops, observer=observer))
    print("\nwithout uprobe_multi (Linux 6.1: a uprobe per function), pairs 1 thread, %d "
          "operations, %d repetitions:" % (ops, reps), file=out)
    print("  %-24s %-30s %-22s %s" % ("condition", "cpu ns per op (median [min..max])",
                                      "x floor-own", "attach ms (BPF load included)"), file=out)
    ns = {label: [r["cpu_ns_per_op"] for r in runs[label]] for label in runs}
    for label, _ in FALLBACK:
        rs = [a / b for a, b in zip(ns[label], ns["floor-own"]) if b]
        print("  %-24s %-30s %-22s %s" % (label, fmt(ns[label]), fmt(rs, "x"),
                                          fmt([r.get("attach_ms", 0) for r in runs[label]])),
              file=out)


def unwinder_cost(build, reps, ops, depths, out):
    """Per-allocation cost of each unwinder, against the floor at
    leakwatch's probe points, for shallow and deep stacks."""
    for depth in depths:
        args = ["-m", "pairs", "-t", "1", "-d", str(depth)]
        ns = {name: [] for name, _, _ in UNWINDERS}
        for rep in range(reps):
            for name, exe, observer in UNWINDERS:
                for attempt in range(4):
                    r = run_once(build, "unwind", args, ops, exe, observer)
                    if not r["foreign"] or attempt == 3:
                        break
                    time.sleep(1)
                ns[name].append(r["cpu_ns_per_op"])
        print("\nunwinders, malloc/free 1 thread, %d frames deeper (-d %d), %d operations, "
              "%d repetitions:" % (depth, depth, ops, reps), file=out)
        print("  %-20s %-30s %-22s %s" % ("condition", "cpu ns per op (median [min..max])",
                                          "x floor-own", "above floor-own (ns)"), file=out)
        for name, _, _ in UNWINDERS:
            rs = [a / b for a, b in zip(ns[name], ns["floor-own"]) if b]
            above = [a - b for a, b in zip(ns[name], ns["floor-own"])]
            print("  %-20s %-30s %-22s %s" % (name, fmt(ns[name]), fmt(rs, "x"), fmt(above)),
                  file=out)


def bystander_cost(build, reps, ops, out):
    """What watching one process costs another that maps the same libc but
    is not watched: leakwatch's probes are per process (the kernel puts
    breakpoints only into the watched process's memory), against probes on
    the file for every process that maps it (empty programs, filtering in
    BPF would come on top), which following forks without a gap would
    otherwise need."""
    conds = [("alone", None), ("watching another (per process)", []),
             ("file-wide probes (floor)", ["--bench-floor=file"])]
    ns = {name: [] for name, _ in conds}
    for rep in range(reps):
        for name, args in conds:
            idle = subprocess.Popen([os.path.join(build, "bench", "alloc_storm"), "-n", "1"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            storm = subprocess.Popen([os.path.join(build, "bench", "alloc_storm"), "-m", "pairs",
                                      "-t", "1", "-n", str(ops)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
            lw = None
            try:
                read_line(idle.stdout, r"^ready", 10)
                read_line(storm.stdout, r"^ready", 10)
                if args is not None:
                    lw = start_leakwatch(build, idle.pid, args)
                ns[name].append(timed_go(storm, 600))
            finally:
                for p in (lw, storm, idle):
                    if p and p.poll() is None:
                        p.kill()
                        p.wait()
    print("\nanother process, not watched, allocating through the same libc "
          "(pairs, 1 thread, %d operations, %d repetitions):" % (ops, reps), file=out)
    for name, _ in conds:
        rs = [a / b for a, b in zip(ns[name], ns["alone"]) if b]
        print("  %-32s %-30s %s" % (name, fmt(ns[name]), fmt(rs, "x") if name != "alone" else "1"),
              file=out)


def python_run(build, depth, ops, observer, python=PYTHON, size=1000):
    """One run of py_alloc.py at depth, alone (observer None) or under
    leakwatch with those arguments: CPU ns per allocation (and free)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "py_alloc.py")
    py = subprocess.Popen([python, script, str(depth), str(ops), str(size)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lw = None
    try:
        read_line(py.stdout, r"^ready", 10)
        if observer is not None:
            # --python-objects -v: once the allocator's probes are in
            ready = "objects counted at" if "--python-objects" in observer else "^leakwatch: watching"
            lw = start_leakwatch(build, py.pid, observer, ready)
        return timed_go(py, 120)
    finally:
        for p in (lw, py):
            if p and p.poll() is None:
                p.kill()
                p.wait()


def python_cost(build, reps, ops, out):
    """What walking Python frames costs an allocation: a Python loop making
    one bytes object at a time (a calloc and a free) at PY_DEPTHS frames,
    conditions alternated; per frame, the growth with depth of what walking
    adds (leakwatch against --no-python)."""
    ns = {(d, c): [] for d in PY_DEPTHS for c, _ in PY_CONDITIONS}
    for rep in range(reps):
        for d in PY_DEPTHS:
            for c, observer in PY_CONDITIONS:
                ns[(d, c)].append(python_run(build, d, ops, observer))
    print("\nPython: %s, a bytes object made and dropped (calloc + free) at a fixed depth "
          "of Python frames, %d per run, %d repetitions:" % (PYTHON, ops, reps), file=out)
    print("  %-8s %-14s %-30s %s" % ("frames", "condition", "cpu ns per op (median [min..max])",
                                     "walking adds (ns)"), file=out)
    walk = {}
    for d in PY_DEPTHS:
        walk[d] = [a - b for a, b in zip(ns[(d, "leakwatch")], ns[(d, "--no-python")])]
        for c, _ in PY_CONDITIONS:
            print("  %-8d %-14s %-30s %s" % (d, c, fmt(ns[(d, c)]),
                                             fmt(walk[d]) if c == "leakwatch" else ""), file=out)
    lo, hi = PY_DEPTHS[0], PY_DEPTHS[-1]
    per_frame = [(b - a) / (hi - lo) for a, b in zip(walk[lo], walk[hi])]
    print("  per Python frame walked: %s ns (walking adds at %d frames less at %d, over %d)" % (
        fmt(per_frame), hi, lo, hi - lo), file=out)


def python_objects_cost(build, reps, ops, out):
    """What counting each Python object costs: a pymalloc object made and
    dropped at 4 frames by a shared-libpython build, conditions
    alternated."""
    python = next((os.path.join(PYENV, p) for p in PY_SHARED
                   if os.path.exists(os.path.join(PYENV, p))), None)
    if not python:
        print("\nPython objects: skipped, no pyenv build with a shared libpython under %s"
              % PYENV, file=out)
        return
    ns = {c: [] for c, _ in PY_OBJECT_CONDITIONS}
    for rep in range(reps):
        for c, observer in PY_OBJECT_CONDITIONS:
            ns[c].append(python_run(build, 4, ops, observer, python, 100))
    print("\nPython objects: %s, a 133-byte bytes object (pymalloc) and the loop's int made "
          "and dropped at 4 Python frames, %d per run, %d repetitions:" % (python, ops, reps),
          file=out)
    print("  %-18s %-30s %s" % ("condition", "cpu ns per op (median [min..max])",
                                "ratio to alone"), file=out)
    for c, _ in PY_OBJECT_CONDITIONS:
        rs = [a / b for a, b in zip(ns[c], ns["alone"]) if b]
        print("  %-18s %-30s %s" % (c, fmt(ns[c]), fmt(rs, "x") if c != "alone" else "1"),
              file=out)


GROWTH_PROGS = ("growth_fault_user", "growth_fault_kernel", "growth_syscall",
                "growth_syscall_exit")


def prog_stats():
    """{program name: (run count, run ns)} of the growth programs loaded (the
    benchmark's leakwatch's: it runs alone), from the kernel's own statistics
    (kernel.bpf_stats_enabled). They run at every fault and system call of
    the machine, and filter by process inside."""
    stats = {}
    for p in bpftool("prog", "show"):
        if p.get("name") in GROWTH_PROGS:
            cnt, ns = stats.get(p["name"], (0, 0))
            stats[p["name"]] = (cnt + p.get("run_cnt", 0), ns + p.get("run_time_ns", 0))
    return stats


def page_run(build, mode, ops, observer):
    """One run of page_churn MODE OPS, alone (observer None) or under
    leakwatch with those arguments: CPU ns and minor faults per op,
    leakwatch's CPU seconds while it ran, and its growth programs' run
    counts and times."""
    proc = subprocess.Popen([os.path.join(build, "bench", "page_churn"), mode, str(ops)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lw = None
    try:
        read_line(proc.stdout, r"^ready", 10)
        if observer is not None:
            lw = start_leakwatch(build, proc.pid, observer)
        lw_cpu0 = cpu_s(lw.pid) if lw else 0
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line, _ = read_line(proc.stdout, r"^ops=", 300)
        fields = {k: int(v) for k, v in (kv.split("=") for kv in line.split())}
        return {"cpu_ns": fields["cpu_ns"] / fields["ops"],
                "faults": fields["faults"] / fields["ops"],
                "lw_cpu_s": cpu_s(lw.pid) - lw_cpu0 if lw else 0,
                "progs": prog_stats() if lw else {}}
    finally:
        for p in (lw, proc):
            if p and p.poll() is None:
                p.kill()
                p.wait()


def ratio_line(label, alone, observed, out, extra="", second="--growth"):
    rs = [b / a for a, b in zip(alone, observed) if a]
    print("  %-44s alone %-24s %-8s %-24s %s%s" % (
        label, fmt(alone), second, fmt(observed), fmt(rs, "x"), extra), file=out)


def growth_cost(build, reps, ops, out, quick=False):
    """--growth against the same workloads alone, alternated: alloc_storm
    (small blocks: no page faults), the Python loop (objects made and
    dropped), a 1 MiB churn that faults every page of every block, and a
    leak (the cost per MiB of growth); then leakwatch's own CPU watching 50
    processes that each grow a little."""
    storm_args = WORKLOADS[0][1]
    # the loops that make no page fault run long, and twice as many times:
    # what growth mode costs them is below this machine's noise, which the
    # control (alone against alone, alternated the same way) shows
    loop_reps = reps if quick else 2 * reps
    storm_ops = ops * (1 if quick else 5)
    print("\n--growth (page faults and the calls giving memory back; no allocator probe), "
          "%d repetitions (%d for the loops without faults), each ratio within a "
          "repetition:" % (reps, loop_reps), file=out)
    alone, again, watched = [], [], []
    for rep in range(loop_reps):
        alone.append(run_once(build, "base", storm_args, storm_ops)["cpu_ns_per_op"])
        again.append(run_once(build, "base", storm_args, storm_ops)["cpu_ns_per_op"])
        watched.append(run_once(build, "growth", storm_args, storm_ops * BASE_OPS_FACTOR,
                                observer=["--growth"])["cpu_ns_per_op"])
    ratio_line("alloc_storm, malloc/free 1 thread (ns/op)", alone, watched, out)
    ratio_line("  control: alloc_storm alone, run again", alone, again, out, second="again")
    if os.path.exists(PYTHON):
        alone, again, watched = [], [], []
        py_ops = ops * (1 if quick else 10)
        for rep in range(loop_reps):
            alone.append(python_run(build, 4, py_ops, None))
            again.append(python_run(build, 4, py_ops, None))
            watched.append(python_run(build, 4, py_ops, ["--growth"]))
        ratio_line("Python loop, bytes(1000) made and dropped", alone, watched, out)
        ratio_line("  control: the Python loop alone, run again", alone, again, out,
                   second="again")
    churn = {c: [] for c in ("alone", "growth")}
    leak = {c: [] for c in ("alone", "growth")}
    churn_ops, leak_ops = (200, 50) if quick else (2000, 300)
    # the programs' own time, from the kernel's statistics: exact where the
    # workload's time is noise
    stats_path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(stats_path) as f:
        stats_were = f.read().strip()
    with open(stats_path, "w") as f:
        f.write("1")
    try:
        for rep in range(reps):
            churn["alone"].append(page_run(build, "churn", churn_ops, None))
            churn["growth"].append(page_run(build, "churn", churn_ops, ["--growth"]))
            leak["alone"].append(page_run(build, "leak", leak_ops, None))
            leak["growth"].append(page_run(build, "leak", leak_ops, ["--growth"]))
    finally:
        with open(stats_path, "w") as f:
            f.write(stats_were)
    faults = statistics.median(r["faults"] for r in churn["alone"])
    added = [(g["cpu_ns"] - a["cpu_ns"]) / g["faults"] for a, g in zip(churn["alone"], churn["growth"])
             if g["faults"]]
    own = [a["cpu_ns"] / a["faults"] for a in churn["alone"] if a["faults"]]
    ratio_line("1 MiB churn, %.0f faults an op (ns/op)" % faults,
               [r["cpu_ns"] for r in churn["alone"]], [r["cpu_ns"] for r in churn["growth"]], out,
               "; per fault: the loop's own %s ns (fault, zeroing, memset), --growth adds %s ns"
               % (fmt(own), fmt(added)))
    for label, runs, ops_run in (("churn", churn["growth"], churn_ops),
                                 ("leak", leak["growth"], leak_ops)):
        cnt = [r["progs"].get("growth_fault_user", (0, 0))[0] for r in runs]
        ns = [r["progs"].get("growth_fault_user", (0, 0))[1] / c for r, c in zip(runs, cnt) if c]
        rel = [sum(v[1] for k, v in r["progs"].items() if k.startswith("growth_syscall"))
               / ops_run for r in runs]
        print("  %-44s the fault program ran %s times (every fault of the machine), %s ns "
              "each on average (the kernel's statistics); the system call programs %s ns "
              "an op" % (
                  "  " + label + ": BPF's own time", fmt(cnt), fmt(ns), fmt(rel)), file=out)
    per_mib = [g["cpu_ns"] - a["cpu_ns"] for a, g in zip(leak["alone"], leak["growth"])]
    lw_per_mib = [g["lw_cpu_s"] * 1e9 / leak_ops for g in leak["growth"]]
    ratio_line("1 MiB leaked an op (ns/op)", [r["cpu_ns"] for r in leak["alone"]],
               [r["cpu_ns"] for r in leak["growth"]], out,
               "; per MiB of growth: the target pays %s ns more, leakwatch spends %s ns" % (
                   fmt(per_mib), fmt(lw_per_mib)))
    fleet_cost(build, 10 if quick else 50, 2 if quick else 10, out)
    held_cost(build, 64 if quick else 1024, 2 if quick else 10, out)


def held_cost(build, mib, seconds, out):
    """leakwatch --growth's own CPU per report (its symbolizer worker's
    included) watching one process that made mib MiB resident after the
    attach and then holds it untouched, against the same for a process that
    holds nothing: a report reads again only what changed, and a share of
    the rest (each granule every few reports)."""
    used = {}
    for label, ops in (("idle", 0), ("held", mib)):
        proc = subprocess.Popen([os.path.join(build, "bench", "page_churn"), "hold",
                                 str(max(ops, 1))],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        lw = None
        try:
            read_line(proc.stdout, r"^ready", 10)
            lw = start_leakwatch(build, proc.pid, ["--growth"])
            if ops:
                proc.stdin.write("go\n")
                proc.stdin.flush()
                read_line(proc.stdout, r"^ops=", 600)
            # the rounds that read the fresh granules again pass first
            time.sleep(3)
            cpu0, t0 = tree_cpu_s(lw.pid), time.monotonic()
            time.sleep(seconds)
            used[label] = (tree_cpu_s(lw.pid) - cpu0) / (time.monotonic() - t0)
        finally:
            for p in (lw, proc):
                if p and p.poll() is None:
                    p.kill()
                    p.wait()
    print("  leakwatch --growth watching a process holding %d MiB made resident since the "
          "attach, untouched, a report every %g s: %.2f ms CPU per report; %.2f ms for one "
          "holding nothing (%.1fx)" % (mib, POLL_S, used["held"] * 1e3 * POLL_S,
                                      used["idle"] * 1e3 * POLL_S,
                                      used["held"] / used["idle"] if used["idle"] else 0),
          file=out)


def fleet_cost(build, n, seconds, out):
    """leakwatch --growth's own CPU per second (its symbolizer worker's
    included) watching n processes that each leak 64 KiB every 100 ms,
    reporting every second."""
    procs = [subprocess.Popen([os.path.join(build, "bench", "page_churn"), "trickle", "1"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    lw = None
    try:
        for p in procs:
            read_line(p.stdout, r"^ready", 10)
        lw = subprocess.Popen([os.path.join(build, "leakwatch"), "--growth", "-p",
                               ",".join(str(p.pid) for p in procs), "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        read_line(lw.stderr, r"^leakwatch: watching", 60)
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        time.sleep(2)
        cpu0, t0 = tree_cpu_s(lw.pid), time.monotonic()
        time.sleep(seconds)
        used = (tree_cpu_s(lw.pid) - cpu0) / (time.monotonic() - t0)
        print("  leakwatch --growth watching %d processes (each leaking 64 KiB every 100 ms), "
              "a report a second: %.1f ms CPU per second (%.2f%% of a core)" % (
                  n, used * 1e3, used * 100), file=out)
    finally:
        for p in [lw] + procs:
            if p and p.poll() is None:
                p.kill()
                p.wait()


def own_cost(build, stacks, ops, out):
    """leakwatch's CPU per report while a workload allocates through
    `stacks` distinct stacks: reading the per-stack map is batched, so the
    cost follows the number of stacks, not of calls."""
    storm = subprocess.Popen([os.path.join(build, "bench", "alloc_storm"), "-s", str(stacks),
                              "-n", str(ops)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    lw = None
    try:
        read_line(storm.stdout, r"^ready", 10)
        lw = subprocess.Popen([os.path.join(build, "leakwatch"), "-p", str(storm.pid), "-T", "1",
                               "--json", "-", "0.1"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        read_line(lw.stderr, r"^leakwatch: watching", 30)
        cpu0 = cpu_s(lw.pid)
        storm.stdin.write("go\n")
        storm.stdin.flush()
        # the first report with stacks resolves them (cold); then steady ones
        first = None
        reports = []
        while storm.poll() is None or not reports:
            line = lw.stdout.readline()
            if not line:
                break
            now = cpu_s(lw.pid)
            if json.loads(line)["stacks"]:
                if first is None:
                    first = now - cpu0
                else:
                    reports.append(now)
            if len(reports) >= 20:
                break
        steady = (reports[-1] - reports[0]) / (len(reports) - 1) if len(reports) > 1 else None
        print("  %5d stacks: first report with them %s ms, then %s ms CPU per report "
              "(%d reports at 0.1 s)" % (stacks, num(first * 1e3) if first is not None else "-",
                                          num(steady * 1e3) if steady is not None else "-",
                                          len(reports)), file=out)
    finally:
        for p in (lw, storm):
            if p and p.poll() is None:
                p.kill()
                p.wait()


def symbolize_cost(build, argv, calls, label, out):
    """CPU (leakwatch's and its symbolizer worker's) of the report that
    first meets a program's new stacks: cold (the
    first process: modules opened, debug info read, every frame resolved)
    and warm (a second process of the same binary: modules and frames come
    from the caches, only the stacks are new). argv runs the program, which
    speaks alloc_storm's protocol and makes `calls` allocations."""
    storms = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
              for _ in range(2)]
    lw = None
    try:
        for s in storms:
            read_line(s.stdout, r"^ready", 10)
        lw = subprocess.Popen([os.path.join(build, "leakwatch"), "-p",
                               ",".join(str(s.pid) for s in storms), "-T", "1", "--json", "-",
                               "0.2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        read_line(lw.stderr, r"^leakwatch: watching", 30)
        costs = []
        last = tree_cpu_s(lw.pid)
        for s in storms:
            s.stdin.write("go\n")
            s.stdin.flush()
            read_line(s.stdout, r"^ops=", 60)
            # the first report that has seen all of s's calls (and so met all
            # its stacks): its cost is leakwatch's CPU since the report before
            while True:
                line = lw.stdout.readline()
                if not line:
                    raise RuntimeError("leakwatch stopped reporting")
                now = tree_cpu_s(lw.pid)
                report = json.loads(line)
                seen = {p["pid"]: p["totals"]["alloc_calls"] for p in report["processes"]}
                if seen.get(s.pid, 0) >= calls:
                    costs.append(now - last)
                    last = now
                    break
                last = now
        print("  %-44s cold %s ms, warm (same binary again) %s ms" % (
            label, num(costs[0] * 1e3), num(costs[1] * 1e3)), file=out)
    finally:
        for p in [lw, *storms]:
            if p and p.poll() is None:
                p.kill()
                p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("build")
    ap.add_argument("--quick", action="store_true", help="one short repetition (a smoke test)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--ops", type=int, default=200000)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (loads BPF programs): run it as root, e.g. sudo make bench")
    reps, ops, workloads = opts.reps, opts.ops, WORKLOADS
    if opts.quick:
        reps, ops, workloads = 1, 20000, WORKLOADS[:1]
    print("leakwatch benchmark, %s, kernel %s, %d CPUs" % (
        time.strftime("%Y-%m-%d"), os.uname().release, os.cpu_count()))
    for name, args in workloads:
        bench_workload(opts.build, name, args, reps, ops, sys.stdout)
        sys.stdout.flush()
    unwinder_cost(opts.build, reps, ops, UNWIND_DEPTHS, sys.stdout)
    sys.stdout.flush()
    fallback_cost(opts.build, reps, ops, sys.stdout)
    sys.stdout.flush()
    if not opts.quick and os.path.exists(PYTHON):
        python_cost(opts.build, 3, 300000, sys.stdout)
        sys.stdout.flush()
    if not opts.quick:
        python_objects_cost(opts.build, 3, 100000, sys.stdout)
        sys.stdout.flush()
    growth_cost(opts.build, 1 if opts.quick else 5, ops, sys.stdout, opts.quick)
    sys.stdout.flush()
    if not opts.quick:
        print("\nleakwatch's own CPU per report, by distinct stacks:")
        for stacks in (10, 3000):
            own_cost(opts.build, stacks, 1500000, sys.stdout)
        bystander_cost(opts.build, reps, ops, sys.stdout)
        print("\nsymbolizing new stacks (CPU of leakwatch and its symbolizer worker for that report):")
        storm = os.path.join(opts.build, "bench", "alloc_storm")
        for stacks in (300, 3000):
            symbolize_cost(opts.build, [storm, "-s", str(stacks), "-n", str(stacks * 4)],
                           stacks * 4, "%d new stacks in alloc_storm:" % stacks, sys.stdout)
        big = os.path.join(opts.build, "bench", "big_binary")
        size = os.path.getsize(big) / (1 << 20)
        symbolize_cost(opts.build, [big], BIG_SITES,
                       "%d new stacks in a %.0f MiB binary:" % (BIG_SITES, size), sys.stdout)


if __name__ == "__main__":
    main()
