"""Shared machinery for leakwatch's integration tests.

The tests load leakwatch's real BPF programs into the real kernel and attach
them to real target programs (tests/targets/*.c), whose leaks are known to the
byte and to the call site; they assert on leakwatch's JSON lines.

Paths are relative to the repository root, found from this file:
  build/leakwatch              the tool (`make`; LEAKWATCH_BIN=PATH tests another)
  build/tests/targets/NAME     built from tests/targets/NAME.c (`make targets`)
  build/test-artifacts/TEST/   per test: every command line, leakwatch's stdout
                               and stderr, each target's stdout and stderr

Every target speaks one line protocol (see the comment atop each target): it
prints "ready", waits for "go" on stdin, allocates, prints "done K=V ...",
then waits for EOF on stdin and exits 0. A test starts its targets, starts
leakwatch on their PIDs, waits for leakwatch's readiness line on stderr
("leakwatch: watching"), sends "go", waits for "done", lets two interval
reports pass so a poll has seen everything, stops leakwatch with a signal
and checks the summary.

Every wait is bounded. The `run` fixture ends every process a test started,
whatever happened, and then checks that no probe of leakwatch's is left in
the kernel (bpftool link list / perf show, polled: cleanup is asynchronous).

Run as root, with Debian's interpreter:
  /usr/bin/python3 -m pytest tests/integration
Without root, or without kernel BTF, the tests skip with the reason.
"""

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
# LEAKWATCH_BIN tests another leakwatch binary (an installed one) instead.
LEAKWATCH = Path(os.environ.get("LEAKWATCH_BIN") or BUILD / "leakwatch").resolve()
TARGETS = BUILD / "tests" / "targets"
TARGET_SOURCES = REPO / "tests" / "targets"
ARTIFACTS = BUILD / "test-artifacts"

READY_TIMEOUT_S = 30.0    # leakwatch: start to "leakwatch: watching"
TARGET_TIMEOUT_S = 10.0   # a target: start to "ready"
DONE_TIMEOUT_S = 60.0     # a target: "go" to "done" (churn under probes)
EXIT_TIMEOUT_S = 15.0     # leakwatch: signal to exit
ERROR_TIMEOUT_S = 20.0    # leakwatch failing on purpose: start to exit
CLEANUP_TIMEOUT_S = 10.0  # leakwatch gone to its probes gone
INTERVAL = "0.2"          # seconds between reports in most tests
# A verdict is "new" until a stack or process has this many samples
# (userspace/common/series.h): the fewest on which growth can be significant.
JUDGED_SAMPLES = 6
LOG_LIMIT_BYTES = 16 << 20  # per artifact log: a flood of output must not fill the disk

READY_PREFIX = "leakwatch: watching"

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_TARGET = 2
EXIT_PRIVILEGE = 3
EXIT_USAGE = 64

VERDICTS = {"growing", "steady", "shrinking", "new"}
LOST_KEYS = {"allocs_map_full", "stack_missing", "stack_collision",
             "unknown_frees", "unattached_window"}


def _bpftool():
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"
    return shutil.which("bpftool", path=path)


BPFTOOL = _bpftool()


# --------------------------------------------------------------------------
# Session-wide preconditions


def pytest_collection_modifyitems(config, items):
    """Skip everything, with the reason, where the tests cannot run at all."""
    reason = None
    if os.geteuid() != 0:
        reason = "needs root (loads BPF programs and attaches uprobes)"
    elif not Path("/sys/kernel/btf/vmlinux").exists():
        reason = "kernel has no BTF (/sys/kernel/btf/vmlinux missing)"
    elif BPFTOOL is None:
        reason = "bpftool not found (needed to check that no probe is left behind)"
    if reason:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session", autouse=True)
def _built():
    """The binaries come from the Makefile; a missing one is a setup error."""
    missing = [os.path.relpath(LEAKWATCH, REPO)] if not LEAKWATCH.exists() else []
    for src in sorted([*TARGET_SOURCES.glob("*.c"), *TARGET_SOURCES.glob("*.cc")]):
        exe = TARGETS / src.stem
        if not exe.exists():
            missing.append(str(exe.relative_to(REPO)))
    if missing:
        pytest.fail("not built: %s (run `make` and `make targets`)" % ", ".join(missing),
                    pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------
# Reading a child's output without blocking the test


class Lines:
    """Collects the lines of a pipe in a thread, logging them to a file."""

    def __init__(self, pipe, log_path):
        self.lines = []
        self.eof = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(pipe, log_path),
                                        daemon=True)
        self._thread.start()

    def _pump(self, pipe, log_path):
        logged = 0
        with open(log_path, "w", encoding="utf-8") as log:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if logged < LOG_LIMIT_BYTES:
                    log.write(line + "\n")
                    logged += len(line) + 1
                    if logged >= LOG_LIMIT_BYTES:
                        log.write("[log truncated at %d bytes]\n" % LOG_LIMIT_BYTES)
                    log.flush()
                with self._cond:
                    self.lines.append(line)
                    self._cond.notify_all()
        pipe.close()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def wait_for(self, pred, timeout, start=0):
        """Index of the first line from `start` on that satisfies `pred`, or
        None at EOF or timeout."""
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return i
                    i += 1
                if self.eof:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def snapshot(self):
        with self._cond:
            return list(self.lines)

    def join(self, timeout=5.0):
        self._thread.join(timeout)
        return not self._thread.is_alive()


def _starttime(pid):
    """Clock ticks since boot at which `pid` started (field 22), or None."""
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------
# Target programs


class Target:
    """A program from build/tests/targets, driven over its line protocol."""

    def __init__(self, name, args, artdir, prefix=()):
        self.name = name
        self.path = TARGETS / name
        argv = [*prefix, str(self.path), *map(str, args)]
        tag = "target-%s-%d" % (name, len(list(artdir.glob("target-%s-*.cmd" % name))))
        (artdir / (tag + ".cmd")).write_text(" ".join(argv) + "\n")
        self._stderr = open(artdir / (tag + ".stderr"), "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr)
        self.pid = self.proc.pid
        self.out = Lines(self.proc.stdout, artdir / (tag + ".stdout"))
        self._next = 0
        self.expect("ready", TARGET_TIMEOUT_S)

    def expect(self, word, timeout):
        """The next line that is `word` or starts with `word` and a blank."""
        i = self.out.wait_for(lambda l: l == word or l.startswith(word + " "),
                              timeout, self._next)
        if i is None:
            pytest.fail("target %s (pid %d) did not print %r within %.0f s; exit status %r, "
                        "output %r" % (self.name, self.pid, word, timeout, self.proc.poll(),
                                       self.out.snapshot()), pytrace=False)
        self._next = i + 1
        return self.out.lines[i]

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def go(self, timeout=DONE_TIMEOUT_S):
        """Sends "go", waits for "done K=V ...", returns {K: int or str}."""
        self.send("go")
        return parse_kv(self.expect("done", timeout))

    def ping(self, timeout=5.0):
        self.send("ping")
        return parse_kv(self.expect("pong", timeout))

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self, timeout=5.0):
        """EOF on stdin, the protocol's way to end it; a kill if that fails.
        Returns the exit status."""
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        rc = self.wait(timeout)
        if rc is None:
            self.proc.kill()
            rc = self.proc.wait()
        self.out.join()
        self._stderr.close()
        return rc

    def mapped_files(self):
        """Real paths of the files mapped into the target."""
        files = set()
        try:
            for line in Path("/proc/%d/maps" % self.pid).read_text().splitlines():
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    files.add(os.path.realpath(parts[5].replace(" (deleted)", "")))
        except OSError:
            pass
        return files


def parse_kv(line):
    """"done a=1 b=x" -> {"a": 1, "b": "x"}"""
    out = {}
    for word in line.split()[1:]:
        key, _, value = word.partition("=")
        out[key] = int(value) if re.fullmatch(r"-?\d+", value) else value
    return out


# --------------------------------------------------------------------------
# Probes left in the kernel


def bpftool_json(*args):
    res = subprocess.run([BPFTOOL, "-j", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, timeout=30, check=False)
    if res.returncode != 0:
        raise AssertionError("bpftool %s failed: %s" % (" ".join(args),
                                                        res.stderr.decode(errors="replace")))
    text = res.stdout.decode(errors="replace").strip()
    return json.loads(text) if text else []


def _perf_key(entry):
    return (entry.get("pid"), entry.get("fd"), entry.get("prog_id"))


class ProbeSnapshot:
    """The uprobes in the kernel before a leakwatch run, to compare with after."""

    def __init__(self):
        self.link_ids = {l.get("id") for l in bpftool_json("link", "list")}
        self.perf_keys = {_perf_key(e) for e in bpftool_json("perf", "show")}

    def new_probes(self, target_pids, owner_starttime):
        """Uprobe links and perf uprobes that were not there before and that
        belong to this run: a uprobe_multi link filtered on one of our targets
        (or on no PID), a perf-event link for a uprobe, or a perf uprobe held
        by a process started no earlier than our leakwatch."""
        found = []
        for link in bpftool_json("link", "list"):
            if link.get("id") in self.link_ids:
                continue
            kind = link.get("type")
            if kind == "uprobe_multi":
                pid = link.get("pid")
                if pid in (None, 0) or pid in target_pids:
                    found.append(("link", link))
            elif kind == "perf_event" and "uprobe" in json.dumps(link):
                found.append(("link", link))
        for entry in bpftool_json("perf", "show"):
            if _perf_key(entry) in self.perf_keys:
                continue
            if entry.get("fd_type") not in ("uprobe", "uretprobe"):
                continue
            start = _starttime(entry.get("pid", -1))
            if start is None or owner_starttime is None or start >= owner_starttime:
                found.append(("perf", entry))
        return found


# --------------------------------------------------------------------------
# leakwatch itself


def _line_type(line):
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj.get("type") if isinstance(obj, dict) else None


class LeakWatch:
    """One leakwatch process with its stdout (JSON lines) and stderr collected."""

    def __init__(self, args, artdir, target_pids, prefix=()):
        self.argv = [*prefix, str(LEAKWATCH), *map(str, args)]
        self.target_pids = set(target_pids)
        self.given_pids = set(target_pids)  # -p's; target_pids may grow
        n = len(list(artdir.glob("leakwatch-*.cmd")))
        tag = "leakwatch-%d" % n
        (artdir / (tag + ".cmd")).write_text(" ".join(self.argv) + "\n")
        self.baseline = ProbeSnapshot()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pid = self.proc.pid
        self.starttime = _starttime(self.pid)
        self.out = Lines(self.proc.stdout, artdir / (tag + ".stdout"))
        self.err = Lines(self.proc.stderr, artdir / (tag + ".stderr"))
        self.checked_cleanup = False

    def describe(self):
        return "leakwatch %s: exit status %r, stderr:\n%s" % (
            " ".join(self.argv[1:]), self.proc.poll(), "\n".join(self.err.snapshot()))

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        i = self.err.wait_for(lambda l: l.startswith(READY_PREFIX), timeout)
        if i is None:
            rc = self.proc.poll()
            if rc == EXIT_PRIVILEGE and os.geteuid() == 0:
                pytest.skip("leakwatch reports a missing privilege or kernel feature: %s"
                            % " | ".join(self.err.snapshot()))
            pytest.fail("not ready within %.0f s: %s" % (timeout, self.describe()),
                        pytrace=False)

    def reports(self):
        """Every stdout line, parsed; stdout must hold nothing but JSON."""
        out = []
        for n, line in enumerate(self.out.snapshot(), 1):
            try:
                out.append(json.loads(line))
            except ValueError:
                raise AssertionError("stdout line %d is not JSON: %r" % (n, line))
        return out

    def intervals(self):
        return [r for r in self.reports() if r.get("type") == "interval"]

    def wait_intervals(self, count, timeout=None, after=None):
        """Waits until `count` interval lines arrived after the first `after`
        stdout lines (default: after what has arrived so far); returns the
        last one."""
        if after is None:
            after = len(self.out.snapshot())
        if timeout is None:
            timeout = 10.0 + count * float(INTERVAL) * 5
        deadline = time.monotonic() + timeout
        start = after
        last = None
        for _ in range(count):
            i = self.out.wait_for(lambda l: _line_type(l) == "interval",
                                  deadline - time.monotonic(), start)
            if i is None:
                pytest.fail("%d interval lines did not come within %.0f s: %s"
                            % (count, timeout, self.describe()), pytrace=False)
            last = json.loads(self.out.lines[i])
            start = i + 1
        return last

    def wait_report(self, pred, timeout, what):
        """The first interval report, from now on, that satisfies `pred`."""
        deadline = time.monotonic() + timeout
        start = len(self.out.snapshot())
        while True:
            i = self.out.wait_for(lambda l: _line_type(l) == "interval",
                                  deadline - time.monotonic(), start)
            if i is None:
                pytest.fail("no interval report with %s within %.0f s: %s"
                            % (what, timeout, self.describe()), pytrace=False)
            report = json.loads(self.out.lines[i])
            if pred(report):
                return report
            start = i + 1

    def wait_exit(self, timeout=EXIT_TIMEOUT_S):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.out.join()
        self.err.join()
        return rc

    def stop(self, sig=signal.SIGINT, timeout=EXIT_TIMEOUT_S):
        """Sends `sig`; returns the exit status (fails the test on a hang)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.proc.kill()
            self.wait_exit()
            pytest.fail("leakwatch did not exit within %.0f s of %s" % (timeout, sig.name),
                        pytrace=False)
        return rc

    def summary(self):
        """The summary: exactly one, the last line, after leakwatch exited.
        Every line is checked against the schema on the way."""
        assert self.proc.poll() is not None, "summary() before leakwatch exited"
        reports = self.reports()
        for r in reports:
            check_report(r)
        kinds = [r["type"] for r in reports]
        assert kinds.count("summary") == 1, "want one summary line, got types %s" % kinds
        assert kinds[-1] == "summary", "the summary is not the last line: %s" % kinds
        return reports[-1]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait_exit(5.0)

    def assert_no_probes_left(self, timeout=CLEANUP_TIMEOUT_S):
        """After leakwatch is gone: polls until none of its probes remain."""
        assert self.proc.poll() is not None, "leakwatch still running"
        self.checked_cleanup = True
        self.target_pids |= self.reported_pids()
        deadline = time.monotonic() + timeout
        while True:
            left = self.baseline.new_probes(self.target_pids, self.starttime)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert not left, "probes left %.0f s after leakwatch (pid %d) exited: %s" % (
            timeout, self.pid, json.dumps(left))

    def probes_now(self):
        return self.baseline.new_probes(self.target_pids | self.reported_pids(),
                                        self.starttime)

    def end_commands(self):
        """SIGKILLs what leakwatch started itself (-c, --) and is still
        running once leakwatch is gone: the processes its reports name that
        started no earlier than it did (the -p targets are older)."""
        if self.proc.poll() is None or self.starttime is None:
            return
        for pid in self.reported_pids() - self.given_pids:
            start = _starttime(pid)
            if start is not None and start >= self.starttime:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def reported_pids(self):
        """PIDs in processes[] of the JSON lines so far: with -c or --,
        leakwatch starts its targets itself and only its reports name them.
        Lines that are not JSON objects (a started command's own output
        mixed into stdout) are skipped."""
        pids = set()
        for line in self.out.snapshot():
            if not line.startswith("{"):
                continue
            try:
                report = json.loads(line)
            except ValueError:
                continue
            for p in report.get("processes") or []:
                if isinstance(p, dict) and _is_int(p.get("pid")):
                    pids.add(p["pid"])
        return pids


class Run:
    """What the `run` fixture hands a test: starts targets and leakwatch, and
    ends them all, however the test ends."""

    def __init__(self, artdir):
        self.artdir = artdir
        self.targets = []
        self.watchers = []

    def target(self, name, *args, prefix=()):
        t = Target(name, args, self.artdir, prefix)
        self.targets.append(t)
        return t

    def leakwatch(self, *args, pids=None, prefix=()):
        if pids is None:
            pids = []
            args = [str(a) for a in args]
            for opt, value in zip(args, args[1:]):
                if opt in ("-p", "--pid"):
                    pids += [int(p) for p in value.split(",") if p.isdigit()]
        lw = LeakWatch(args, self.artdir, pids, prefix)
        self.watchers.append(lw)
        return lw

    def leakwatch_fails(self, *args, prefix=(), timeout=ERROR_TIMEOUT_S):
        """Runs leakwatch expecting it to give up; returns (exit status,
        stdout lines, stderr lines), after checking it left no probe."""
        lw = self.leakwatch(*args, prefix=prefix)
        rc = lw.wait_exit(timeout)
        if rc is None:
            lw.kill()
            pytest.fail("leakwatch did not exit within %.0f s: %s" % (timeout, lw.describe()),
                        pytrace=False)
        lw.assert_no_probes_left()
        return rc, lw.out.snapshot(), lw.err.snapshot()

    def finish(self):
        """Ends every process started (leakwatch first: SIGINT, then SIGKILL),
        then checks no probe is left."""
        problems = []
        for lw in self.watchers:
            if lw.proc.poll() is None:
                lw.proc.send_signal(signal.SIGINT)
                try:
                    lw.proc.wait(5.0)
                except subprocess.TimeoutExpired:
                    lw.proc.kill()
                    lw.proc.wait()
            # A command it started may outlive it, holding its stdout open.
            lw.end_commands()
            if lw.wait_exit(5.0) is None:
                lw.kill()
        for t in self.targets:
            t.close()
        for lw in self.watchers:
            if lw.checked_cleanup:
                continue
            try:
                lw.assert_no_probes_left()
            except AssertionError as e:
                problems.append(str(e))
        if problems:
            raise AssertionError("; ".join(problems))


def _new_run(name):
    artdir = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    if artdir.exists():
        shutil.rmtree(artdir)
    artdir.mkdir(parents=True)
    return Run(artdir)


@pytest.fixture
def run(request):
    """A Run for one test; artifacts in build/test-artifacts/TEST_NAME/."""
    r = _new_run(request.node.name)
    try:
        yield r
    finally:
        r.finish()


@pytest.fixture(scope="module")
def module_run(request):
    """A Run shared by a module's tests (one scenario, many checks);
    artifacts in build/test-artifacts/MODULE_NAME/."""
    r = _new_run(request.module.__name__)
    try:
        yield r
    finally:
        r.finish()


def watch(run, targets, *options, pid_args=None, interval=INTERVAL, sig=signal.SIGINT):
    """The common scenario: leakwatch on `targets` (JSON to stdout, every
    stack), ready; "go" to each target; two more interval reports; `sig`;
    exit status 0. Returns (leakwatch, summary, [each target's done K=V])."""
    if pid_args is None:
        pid_args = ["-p", ",".join(str(t.pid) for t in targets)]
    lw = run.leakwatch(*pid_args, "--json", "-", "-T", "100", *options, interval)
    lw.wait_ready()
    dones = [t.go() for t in targets]
    lw.wait_intervals(2)
    rc = lw.stop(sig)
    assert rc == EXIT_OK, lw.describe()
    return lw, lw.summary(), dones


# --------------------------------------------------------------------------
# The JSON contract (schema 1)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def check_totals(t, where, growth=False):
    # --growth sees no allocator call: granules instead, allocation counts null
    counted = ("granules_touched", "granules_given_back") if growth else (
        "outstanding_allocs", "alloc_calls", "free_calls")
    for key in ("outstanding_bytes", "lost_events") + counted:
        assert _is_int(t.get(key)) and t[key] >= 0, "%s.%s = %r" % (where, key, t.get(key))
    if growth:
        for key in ("outstanding_allocs", "alloc_calls", "free_calls"):
            assert key in t and t[key] is None, "%s.%s = %r" % (where, key, t.get(key))
    assert _is_num(t.get("sample_rate")), "%s.sample_rate = %r" % (where, t.get("sample_rate"))
    lost = t.get("lost")
    assert isinstance(lost, dict), "%s.lost = %r" % (where, lost)
    assert LOST_KEYS <= set(lost), "%s.lost lacks %s" % (where, LOST_KEYS - set(lost))
    assert all(_is_int(v) and v >= 0 for v in lost.values()), "%s.lost = %r" % (where, lost)
    assert t["lost_events"] == sum(lost.values()), \
        "%s.lost_events %d is not the sum of lost %r" % (where, t["lost_events"], lost)


def check_frame(f, where):
    for key in ("addr", "module", "build_id", "module_offset", "function", "offset", "file",
                "line", "inlined"):
        assert key in f, "%s lacks %r: %r" % (where, key, f)
    assert isinstance(f["addr"], str) and re.fullmatch(r"0x[0-9a-f]+", f["addr"]), \
        "%s.addr = %r" % (where, f["addr"])
    assert isinstance(f["inlined"], bool), "%s.inlined = %r" % (where, f["inlined"])
    assert f["module_offset"] is None or _is_int(f["module_offset"]), \
        "%s.module_offset = %r" % (where, f["module_offset"])


def check_report(r):
    """Every field the contract names, with its type; stacks sorted."""
    where = "%s line" % r.get("type")
    assert r.get("type") in ("interval", "summary"), "type = %r" % r.get("type")
    assert r.get("schema") == 1, "%s: schema = %r" % (where, r.get("schema"))
    assert r.get("mode") in ("calls", "growth"), "%s: mode = %r" % (where, r.get("mode"))
    growth = r["mode"] == "growth"
    assert isinstance(r.get("time"), str) and TIME_RE.match(r["time"]), \
        "%s: time = %r" % (where, r.get("time"))
    assert _is_num(r.get("elapsed_s")) and r["elapsed_s"] >= 0, \
        "%s: elapsed_s = %r" % (where, r.get("elapsed_s"))
    assert isinstance(r.get("processes"), list), "%s: processes = %r" % (where, r.get("processes"))
    for p in r["processes"]:
        w = "%s processes[pid=%r]" % (where, p.get("pid"))
        assert _is_int(p.get("pid")), w
        assert isinstance(p.get("comm"), str), "%s.comm = %r" % (w, p.get("comm"))
        assert isinstance(p.get("alive"), bool), "%s.alive = %r" % (w, p.get("alive"))
        rss = p.get("rss_bytes", "missing")
        assert _is_int(rss) or (rss is None and not p["alive"]), \
            "%s.rss_bytes = %r with alive %r" % (w, rss, p["alive"])
        assert isinstance(p.get("totals"), dict), "%s.totals = %r" % (w, p.get("totals"))
        check_totals(p["totals"], w + ".totals", growth)
    check_totals(r.get("totals") or {}, where + " totals", growth)
    sym = r.get("symbolizer")
    assert isinstance(sym, dict) and sorted(sym) == ["crashes", "modules_failed", "timeouts"] \
        and all(_is_int(v) and v >= 0 for v in sym.values()), "%s: symbolizer = %r" % (where, sym)
    stacks = r.get("stacks")
    assert isinstance(stacks, list), "%s: stacks = %r" % (where, stacks)
    for n, s in enumerate(stacks):
        w = "%s stacks[%d]" % (where, n)
        assert isinstance(s.get("id"), str) and s["id"], "%s.id = %r" % (w, s.get("id"))
        for key in ("pid", "outstanding_bytes", "delta_bytes") + (
                () if growth else ("outstanding_allocs",)):
            assert _is_int(s.get(key)), "%s.%s = %r" % (w, key, s.get(key))
        assert s["outstanding_bytes"] >= 0 and (growth or s["outstanding_allocs"] >= 0), w
        if growth:
            assert s.get("outstanding_allocs", "missing") is None and \
                s.get("category") == "resident", "%s: %r" % (w, s)
        assert _is_num(s.get("growth_bytes_per_s")), \
            "%s.growth_bytes_per_s = %r" % (w, s.get("growth_bytes_per_s"))
        assert s.get("verdict") in VERDICTS, "%s.verdict = %r" % (w, s.get("verdict"))
        assert "oldest_age_s" in s and (s["oldest_age_s"] is None or _is_num(s["oldest_age_s"])), \
            "%s.oldest_age_s = %r" % (w, s.get("oldest_age_s"))
        assert isinstance(s.get("truncated"), bool), "%s.truncated = %r" % (w, s.get("truncated"))
        assert isinstance(s.get("frames"), list), "%s.frames = %r" % (w, s.get("frames"))
        for m, f in enumerate(s["frames"]):
            check_frame(f, "%s.frames[%d]" % (w, m))
    # intervals rank by outstanding bytes; the summary puts growing stacks
    # first (fastest first), then the rest by outstanding bytes
    if r.get("type") == "summary":
        growing = [s for s in stacks if s["verdict"] == "growing"]
        assert stacks[:len(growing)] == growing, "%s: growing stacks not first" % where
        rates = [s["growth_bytes_per_s"] for s in growing]
        assert rates == sorted(rates, reverse=True), \
            "%s: growing stacks not ranked by growth: %s" % (where, rates)
        stacks = stacks[len(growing):]
    sizes = [s["outstanding_bytes"] for s in stacks]
    assert sizes == sorted(sizes, reverse=True), \
        "%s: stacks not sorted by outstanding_bytes: %s" % (where, sizes)


def check_spacing(reports, interval_s):
    """Interval reports come every INTERVAL seconds (by elapsed_s), not
    faster: half an interval apart at the least."""
    if not interval_s:
        return
    elapsed = [r["elapsed_s"] for r in reports if r["type"] == "interval"]
    gaps = [b - a for a, b in zip([0.0] + elapsed, elapsed)]
    short = [(n, round(g, 4)) for n, g in enumerate(gaps) if g < interval_s / 2]
    assert not short, ("%d of %d interval reports came less than half an interval "
                       "(%.2f s) after the previous one; first (index, gap s): %s" % (
                           len(short), len(gaps), interval_s, short[:5]))


# --------------------------------------------------------------------------
# Looking things up in a report


def by_function(report, pid=None):
    """{frames[0].function: {"bytes", "allocs", "stacks"}} over the report's
    stacks (of one pid if given): a leak site is the function that called
    the allocator."""
    sites = {}
    for s in report["stacks"]:
        if pid is not None and s["pid"] != pid:
            continue
        fn = s["frames"][0]["function"] if s["frames"] else None
        site = sites.setdefault(fn, {"bytes": 0, "allocs": 0, "stacks": []})
        site["bytes"] += s["outstanding_bytes"]
        site["allocs"] += s["outstanding_allocs"]
        site["stacks"].append(s)
    return sites


def site(report, function, pid=None):
    """The site named `function`, or fail listing the sites there are."""
    sites = by_function(report, pid)
    assert function in sites, "no stack whose frames[0] is %s (pid %s); sites: %s" % (
        function, pid, {k: (v["bytes"], v["allocs"]) for k, v in sites.items()})
    return sites[function]


def outstanding_of(report, function, pid=None):
    """(bytes, allocs) outstanding at `function`, (0, 0) when not listed."""
    s = by_function(report, pid).get(function)
    return (s["bytes"], s["allocs"]) if s else (0, 0)


def process(report, pid):
    found = [p for p in report["processes"] if p["pid"] == pid]
    assert len(found) == 1, "pid %d appears %d times in processes %r" % (
        pid, len(found), report["processes"])
    return found[0]


def function_names(stack):
    return [f["function"] for f in stack["frames"]]


# --------------------------------------------------------------------------
# ELF, to check frames against the binary itself


class Elf:
    """Just enough of an ELF64 little-endian file: its bytes, loadable
    segments, the GNU build-id and the defined functions of .symtab (or of
    .dynsym with dynamic=True, IFUNCs included)."""

    def __init__(self, path, dynamic=False):
        self.data = data = Path(path).read_bytes()
        assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, \
            "%s: not a little-endian ELF64 file" % path
        phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
        phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
        self.loads = []
        self.build_id = None
        for i in range(phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from(
                "<IIQQQQQQ", data, phoff + i * phentsize)
            if p_type == 1:  # PT_LOAD
                self.loads.append((p_offset, p_vaddr, p_filesz))
            elif p_type == 4 and self.build_id is None:  # PT_NOTE
                self.build_id = self._build_id(data, p_offset, p_filesz)
        self.functions = []
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
                    for i in range(shnum)]
        table, types = (11, (2, 10)) if dynamic else (2, (2,))  # SHT_DYNSYM/SYMTAB; FUNC, IFUNC
        for sec in sections:
            if sec[1] != table:
                continue
            strtab = sections[sec[6]]
            for off in range(sec[4], sec[4] + sec[5], 24):
                st_name, st_info, _, st_shndx, st_value, st_size = struct.unpack_from(
                    "<IBBHQQ", data, off)
                if st_info & 0xF in types and st_shndx != 0:  # defined
                    start = strtab[4] + st_name
                    name = data[start:data.index(b"\0", start)].decode()
                    self.functions.append((st_value, st_size, name))

    @staticmethod
    def _build_id(data, offset, size):
        end = offset + size
        while offset + 12 <= end:
            namesz, descsz, kind = struct.unpack_from("<III", data, offset)
            name_at = offset + 12
            desc_at = name_at + (namesz + 3) // 4 * 4
            if kind == 3 and data[name_at:name_at + namesz] == b"GNU\0":
                return data[desc_at:desc_at + descsz].hex()
            offset = desc_at + (descsz + 3) // 4 * 4
        return None

    def vaddr_of_offset(self, file_offset):
        for p_offset, p_vaddr, p_filesz in self.loads:
            if p_offset <= file_offset < p_offset + p_filesz:
                return file_offset - p_offset + p_vaddr
        return None

    @property
    def offsets(self):
        """{function name: file offset of its first definition}."""
        out = {}
        for value, _, name in self.functions:
            for p_offset, p_vaddr, p_filesz in self.loads:
                if p_vaddr <= value < p_vaddr + p_filesz:
                    out.setdefault(name, value - p_vaddr + p_offset)
        return out

    def code(self, name, n):
        """The first n bytes of function `name`."""
        off = self.offsets[name]
        return self.data[off:off + n]

    def function_at(self, vaddr):
        """(name, offset into it) of the function holding vaddr, or None."""
        for value, size, name in self.functions:
            if value <= vaddr < value + size:
                return name, vaddr - value
        return None


def runtime_to_file_offset(pid, addr):
    """Maps a runtime address of `pid` to (real path, file offset) through
    /proc/PID/maps, or None."""
    for line in Path("/proc/%d/maps" % pid).read_text().splitlines():
        parts = line.split(None, 5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if lo <= addr < hi and len(parts) == 6:
            return os.path.realpath(parts[5]), addr - lo + int(parts[2], 16)
    return None


def source_lines_of(source, function):
    """(first, last) line numbers of a function's definition in a C file
    written in kernel style (body closed by a "}" in column 0)."""
    lines = Path(source).read_text().splitlines()
    for i, text in enumerate(lines):
        if re.search(r"\b%s\(" % re.escape(function), text) and not text.startswith((" ", "\t")) \
                and not text.rstrip().endswith(";"):
            for j in range(i + 1, len(lines)):
                if lines[j] == "}":
                    return i + 1, j + 1
    raise AssertionError("no definition of %s in %s" % (function, source))


def one_line(err):
    """The single non-empty line a failing leakwatch prints."""
    assert len(err) == 1 and err[0].strip(), \
        "want exactly one non-empty stderr line, got %r" % err
    return err[0]


def unused_pid():
    """A PID no process has now (the highest free one)."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    for pid in range(pid_max - 1, 300, -1):
        if not Path("/proc/%d" % pid).exists():
            return pid
    pytest.skip("no unused PID found")


# --------------------------------------------------------------------------
# Roots for targets that live in a container of their own


def fresh_dirs(*dirs):
    """Empty directories, made anew (a rerun's leftovers removed)."""
    for d in dirs:
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)


def copy_libraries(binary, root):
    """Copies the shared libraries binary loads (ldd) to the same paths under
    root, so it runs chrooted there."""
    libs = subprocess.run(["ldd", str(binary)], capture_output=True, text=True,
                          check=True).stdout
    for word in libs.split():
        if word.startswith("/") and os.path.exists(word):
            dest = Path(root) / word.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(word, dest)


def split_debug(obj, debug_root):
    """Moves obj's debug info to debug_root/.build-id/XX/REST.debug, where
    debuggers look by build-id, and strips obj; returns the build-id."""
    build_id = Elf(obj).build_id
    assert build_id, "%s has no build-id" % obj
    debug = Path(debug_root) / ".build-id" / build_id[:2] / (build_id[2:] + ".debug")
    debug.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["objcopy", "--only-keep-debug", str(obj), str(debug)], check=True)
    subprocess.run(["strip", "--strip-all", str(obj)], check=True)
    return build_id


def start_in_private_mounts(root, stage, mounts, argv):
    """Starts argv chrooted in root, in a mount namespace of its own where
    each (stage subdirectory, root subdirectory) of mounts is copied onto a
    tmpfs mounted there only: on the host those paths stay empty. The
    process keeps its PID (sh execs chroot, which execs argv)."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed")
    steps = []
    for src, dst in mounts:
        (Path(root) / dst).mkdir(parents=True, exist_ok=True)
        steps.append("mount -t tmpfs none {r}/{d} && cp -a {s}/{src}/. {r}/{d}/".format(
            r=root, d=dst, s=stage, src=src))
    script = " && ".join(steps + ["exec chroot %s %s" % (root, " ".join(argv))])
    return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def watch_started(run, proc, before=None):
    """The common scenario for a target started by the test itself (in a
    root or namespace of its own, so not through run.target): "ready",
    then before() if given, leakwatch on it, "go", its "done ..." line, two
    more reports, the summary. The target is killed however this ends.
    Returns (summary, the done line)."""
    try:
        assert proc.stdout.readline().strip() == "ready"
        if before:
            before()
        lw = run.leakwatch("-p", proc.pid, "--json", "-", "-T", "100", INTERVAL)
        lw.wait_ready()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        done = proc.stdout.readline().strip()
        lw.wait_intervals(2)
        assert lw.stop() == EXIT_OK, lw.describe()
        return lw.summary(), done
    finally:
        proc.kill()
        proc.wait()

