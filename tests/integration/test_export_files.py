"""File outputs: --pprof (gzipped pprof profile), --folded (folded stacks)
and --summary-every/--summary-dir/--summary-keep (a JSON summary per file).

Every number in the pprof profile and the folded stacks must agree with the
JSON summary leakwatch writes in the same run (--json FILE): each stack the
summary lists is there with its exact outstanding bytes, allocations and
functions; and both hold every stack, not only the top N. The profile is
decoded with protoc against proto/profile.proto and, where Debian's Go is
installed, read by go tool pprof too. Summary files are the contract's
summary line; a SIGKILL in the middle of writing one never leaves a file
under a final name that does not parse, and a full disk never crashes
leakwatch nor leaves a partial file.
"""

import codecs
import collections
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (EXIT_OK, EXIT_USAGE, INTERVAL, REPO, check_report, one_line,
                      outstanding_of)

PROTO = "proto/profile.proto"
SUMMARY_NAME = re.compile(r"^leakwatch-\d{8}T\d{6}\.\d{3}Z-(\d+)\.json$")
GO = shutil.which("go")

# tests/targets/allocs.c, scale 1: the site and its exact outstanding bytes
# and allocations; tests/targets/symbols.c: make_record is inlined into
# store_records, which the frames show as two functions at one address.
ALLOCS_MALLOC = (50000, 50)
SYMBOLS_INLINED = (2560, 4)
MANYSTACKS_LEAVES = 1100


# --------------------------------------------------------------------------
# Reading the outputs


def parse_text_format(text):
    """protoc's text format to nested dicts of lists (every field repeated)."""
    root = {}
    stack = [root]
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
            continue
        if line.endswith("{"):
            msg = {}
            stack[-1].setdefault(line[:-1].strip(), []).append(msg)
            stack.append(msg)
            continue
        key, _, value = line.partition(": ")
        if value.startswith('"'):
            value = codecs.escape_decode(value[1:-1].encode())[0].decode("utf-8")
        elif value in ("true", "false"):
            value = value == "true"
        else:
            value = int(value)
        stack[-1].setdefault(key, []).append(value)
    assert len(stack) == 1, "unbalanced protoc output"
    return root


class Profile:
    """A pprof profile decoded with protoc --decode."""

    def __init__(self, path):
        raw = gzip.decompress(path.read_bytes())
        res = subprocess.run(["protoc", "--decode=perftools.profiles.Profile", "-I", str(REPO),
                              PROTO], input=raw, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=60, check=False)
        assert res.returncode == 0, "protoc --decode failed: %s" % res.stderr.decode()
        msg = parse_text_format(res.stdout.decode("utf-8"))
        self.msg = msg
        self.strings = msg["string_table"]
        assert self.strings[0] == "", "string_table[0] is %r, not \"\"" % self.strings[0]
        s = self.string
        self.sample_types = [(s(v.get("type")), s(v.get("unit"))) for v in msg["sample_type"]]
        self.functions = {f["id"][0]: (s(f.get("name")), s(f.get("filename")))
                          for f in msg.get("function", [])}
        self.mappings = {m["id"][0]: m for m in msg.get("mapping", [])}
        self.locations = {}
        for loc in msg.get("location", []):
            lines = [(self.functions[l["function_id"][0]][0], l.get("line", [0])[0])
                     for l in loc.get("line", [])]
            self.locations[loc["id"][0]] = {
                "mapping": loc.get("mapping_id", [0])[0],
                "address": loc.get("address", [0])[0],
                "lines": lines,
            }
        self.samples = []
        for smp in msg.get("sample", []):
            labels = {}
            for l in smp.get("label", []):
                labels[s(l["key"])] = s(l["str"]) if "str" in l else l.get("num", [0])[0]
            self.samples.append({"locations": smp.get("location_id", []),
                                 "values": smp.get("value", []), "labels": labels})

    def string(self, idx):
        return self.strings[idx[0]] if idx else ""

    def by_stack(self):
        """{(pid, stack id, category): sample}; each stack once (one call
        instruction, so one id, may have stacks of both categories)."""
        out = {}
        for smp in self.samples:
            labels = smp["labels"]
            key = (labels["pid"], labels["stack_id"], labels["category"])
            assert key not in out, "stack %s twice in the profile" % (key,)
            out[key] = smp
        return out

    def functions_of(self, sample):
        """Function names innermost first, inlined ones each their own, None
        for an address no symbol covers: what JSON frames list."""
        names = []
        for loc_id in sample["locations"]:
            lines = self.locations[loc_id]["lines"]
            names += [name for name, _ in lines] if lines else [None]
        return names


def folded_text(frame):
    """A JSON frame as --folded writes it."""
    if frame["function"] is not None:
        return frame["function"].replace(";", "_")
    if frame["module"] is not None:
        return "%s+0x%x" % (os.path.basename(frame["module"]), frame["module_offset"])
    return "[jit]" if frame.get("jit") else "[unknown]"


def folded_line(stack, comms):
    root = "%s-%d" % (comms[stack["pid"]], stack["pid"])
    frames = [folded_text(f) for f in reversed(stack["frames"])]
    return "%s %d" % (";".join([root] + frames), stack["outstanding_bytes"])


def read_folded(path):
    lines = path.read_text().splitlines()
    for line in lines:
        assert re.fullmatch(r"[^ ;]+(;[^;]+)* -?\d+", line), "not a folded line: %r" % line
    return lines


def json_lines(path):
    reports = [json.loads(line) for line in path.read_text().splitlines()]
    for r in reports:
        check_report(r)
    kinds = [r["type"] for r in reports]
    assert kinds.count("summary") == 1 and kinds[-1] == "summary", kinds
    return reports


def summary_files(directory):
    return sorted(n for n in os.listdir(directory) if SUMMARY_NAME.match(n))


def temporaries(directory):
    return [n for n in os.listdir(directory) if n.startswith(".leakwatch-")]


# --------------------------------------------------------------------------
# pprof and folded stacks against the JSON summary


@pytest.fixture(scope="module")
def profiles(module_run, tmp_path_factory):
    """allocs and symbols watched together; JSON, pprof (at every report)
    and folded stacks from one run; files seen mid-run kept too."""
    out = tmp_path_factory.mktemp("profiles")
    allocs = module_run.target("allocs")
    symbols = module_run.target("symbols")
    lw = module_run.leakwatch("-p", "%d,%d" % (allocs.pid, symbols.pid), "-T", "100000",
                              "--json", out / "report.json", "--pprof", out / "heap.pb.gz",
                              "--pprof-every", "--folded", out / "heap.folded", INTERVAL)
    lw.wait_ready()
    allocs.go()
    symbols.go()
    # mid-run: both files follow the reports (at least two after "go")
    mid = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(mid) < 2:
        folded = out / "heap.folded"
        if folded.exists() and any(" %d" % ALLOCS_MALLOC[0] in l and "leak_malloc" in l
                                   for l in folded.read_text().splitlines()):
            mid["folded"] = folded.read_text()
            mid["pprof"] = Profile(out / "heap.pb.gz")
        time.sleep(0.1)
    time.sleep(3 * float(INTERVAL))
    assert lw.stop() == EXIT_OK, lw.describe()
    reports = json_lines(out / "report.json")
    lw.assert_no_probes_left()
    return {"dir": out, "summary": reports[-1], "mid": mid, "lw": lw,
            "pids": (allocs.pid, symbols.pid)}


def test_pprof_matches_summary(profiles):
    summary = profiles["summary"]
    prof = Profile(profiles["dir"] / "heap.pb.gz")
    assert prof.sample_types == [("inuse_space", "bytes"), ("inuse_objects", "count")]
    assert prof.string(prof.msg["default_sample_type"]) == "inuse_space"
    samples = prof.by_stack()
    # -T 100000: the summary lists every stack, and so does the profile
    assert len(samples) == len(summary["stacks"]), (len(samples), len(summary["stacks"]))
    for stack in summary["stacks"]:
        smp = samples.get((stack["pid"], stack["id"], stack["category"]))
        assert smp, "stack %s of pid %d not in the profile" % (stack["id"], stack["pid"])
        assert smp["values"] == [stack["outstanding_bytes"], stack["outstanding_allocs"]], \
            (stack["id"], smp["values"])
        assert prof.functions_of(smp) == [f["function"] for f in stack["frames"]], stack["id"]
        # each location: the module's path and build-id, at the file offset
        frames = [f for f in stack["frames"] if not f["inlined"]]
        assert len(frames) == len(smp["locations"])
        for frame, loc_id in zip(frames, smp["locations"]):
            loc = prof.locations[loc_id]
            if frame["module"] is None:
                assert loc["mapping"] == 0
                continue
            mapping = prof.mappings[loc["mapping"]]
            assert prof.string(mapping.get("filename")) == frame["module"]
            assert prof.string(mapping.get("build_id")) == (frame["build_id"] or "")
            assert loc["address"] == frame["module_offset"]
    total = sum(s["values"][0] for s in prof.samples)
    assert total == summary["totals"]["outstanding_bytes"]


def test_pprof_exact_leaks(profiles):
    """The two known leaks, by function, to the byte."""
    prof = Profile(profiles["dir"] / "heap.pb.gz")
    allocs_pid, symbols_pid = profiles["pids"]
    summary = profiles["summary"]
    assert outstanding_of(summary, "leak_malloc", allocs_pid) == ALLOCS_MALLOC
    assert outstanding_of(summary, "make_record", symbols_pid) == SYMBOLS_INLINED

    def by_leaf(pid, function):
        found = [s for s in prof.samples
                 if s["labels"]["pid"] == pid and prof.functions_of(s)[0] == function]
        return (sum(s["values"][0] for s in found), sum(s["values"][1] for s in found), found)

    assert by_leaf(allocs_pid, "leak_malloc")[:2] == ALLOCS_MALLOC
    b, n, found = by_leaf(symbols_pid, "make_record")
    assert (b, n) == SYMBOLS_INLINED
    # the inlined helper and the function it sits in share one location,
    # innermost first, as pprof wants
    lines = prof.locations[found[0]["locations"][0]]["lines"]
    assert [name for name, _ in lines] == ["make_record", "store_records"], lines
    assert prof.functions_of(found[0])[:3] == ["make_record", "store_records", "main"]


def test_pprof_refreshed_during_the_run(profiles):
    mid = profiles["mid"].get("pprof")
    assert mid, "no --pprof file with leak_malloc's bytes during the run (--pprof-every)"
    allocs_pid = profiles["pids"][0]
    leaks = [s for s in mid.samples if s["labels"]["pid"] == allocs_pid
             and mid.functions_of(s)[0] == "leak_malloc"]
    assert sum(s["values"][0] for s in leaks) == ALLOCS_MALLOC[0]


@pytest.mark.skipif(GO is None, reason="go tool pprof not installed (Debian's golang-go)")
def test_go_tool_pprof_reads_it(profiles, tmp_path):
    """pprof itself (its validity checks included) reads the profile: the
    totals and the inlined leak's stack as it prints them."""
    path = profiles["dir"] / "heap.pb.gz"
    env = dict(os.environ, HOME=str(tmp_path), GOCACHE=str(tmp_path / "gocache"),
               PPROF_TMPDIR=str(tmp_path))

    def pprof(*args):
        res = subprocess.run([GO, "tool", "pprof", *args, str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, timeout=120, check=False)
        assert res.returncode == 0, "go tool pprof %s: %s" % (" ".join(args), res.stderr.decode())
        return res.stdout.decode()

    raw = pprof("-raw")
    assert "inuse_space/bytes[dflt] inuse_objects/count" in raw, raw[:500]
    samples = re.findall(r"^\s+(-?\d+)\s+(-?\d+): [\d ]+$", raw, re.M)
    summary = profiles["summary"]
    assert sum(int(b) for b, _ in samples) == summary["totals"]["outstanding_bytes"]
    assert sum(int(n) for _, n in samples) == summary["totals"]["outstanding_allocs"]
    # -traces: per sample, its labels and functions, leaf first
    traces = pprof("-traces").split("-----------+")
    symbols_pid = profiles["pids"][1]
    inlined = [t for t in traces if "pid:  %d" % symbols_pid in t and "make_record" in t]
    assert len(inlined) == 1, inlined
    names = []
    for line in inlined[0].splitlines():
        words = line.split()
        if not words or re.match(r"^(\s*\S+:\s|-+$)", line):  # blank, label, rule
            continue
        names.append(words[-2] if words[-1] == "(inline)" else words[-1])
    assert names[:3] == ["make_record", "store_records", "main"], inlined[0]


def test_folded_matches_summary(profiles):
    summary = profiles["summary"]
    comms = {p["pid"]: p["comm"] for p in summary["processes"]}
    got = collections.Counter(read_folded(profiles["dir"] / "heap.folded"))
    want = collections.Counter(folded_line(s, comms) for s in summary["stacks"])
    assert got == want, "folded lines differ from the summary's stacks:\nonly folded: %s\n" \
        "only summary: %s" % (list((got - want).elements())[:5], list((want - got).elements())[:5])
    allocs_pid = profiles["pids"][0]
    leak = [l for l in got if l.startswith("allocs-%d;" % allocs_pid)
            and re.search(r";leak_malloc %d$" % ALLOCS_MALLOC[0], l)]
    assert len(leak) == 1 and ";main;run_leaks;leak_malloc " in leak[0], leak


def test_folded_refreshed_during_the_run(profiles):
    mid = profiles["mid"].get("folded")
    assert mid, "no --folded file with leak_malloc's bytes during the run"
    read_folded(profiles["dir"] / "heap.folded")


def test_every_stack_not_only_top(run, tmp_path):
    """-T 1: the summary lists one stack; pprof and folded hold all 2200
    of manystacks (1100 heap, 1100 mmap), adding up to the totals."""
    target = run.target("manystacks")
    lw = run.leakwatch("-p", target.pid, "-T", "1", "--json", "-", "--pprof",
                       tmp_path / "heap.pb.gz", "--folded", tmp_path / "heap.folded", INTERVAL)
    lw.wait_ready()
    target.go()
    lw.wait_intervals(2, timeout=20)
    assert lw.stop() == EXIT_OK, lw.describe()
    summary = lw.summary()
    assert len(summary["stacks"]) == 1
    totals = summary["totals"]

    prof = Profile(tmp_path / "heap.pb.gz")
    leaves = [s for s in prof.samples if prof.functions_of(s)[0] == "leaf"]
    assert len(leaves) == 2 * MANYSTACKS_LEAVES
    assert sum(s["values"][0] for s in prof.samples) == totals["outstanding_bytes"]
    assert sum(s["values"][1] for s in prof.samples) == totals["outstanding_allocs"]
    top = summary["stacks"][0]
    key = (top["pid"], top["id"], top["category"])
    assert prof.by_stack()[key]["values"] == [top["outstanding_bytes"], top["outstanding_allocs"]]

    lines = read_folded(tmp_path / "heap.folded")
    assert len([l for l in lines if re.search(r";leaf -?\d+$", l)]) == 2 * MANYSTACKS_LEAVES
    assert sum(int(l.rsplit(" ", 1)[1]) for l in lines) == totals["outstanding_bytes"]
    comms = {p["pid"]: p["comm"] for p in summary["processes"]}
    assert folded_line(top, comms) in lines


# --------------------------------------------------------------------------
# Summary files


def test_summary_files(run, tmp_path):
    """trends.c leaks steadily beside a cache: a summary file every 0.4 s
    (every other report), each the contract's summary line, the newest 3
    kept, the last one the final summary itself; stdout has one summary."""
    sdir = tmp_path / "summaries"
    sdir.mkdir()
    target = run.target("trends")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "--summary-every", "0.4",
                       "--summary-dir", sdir, "--summary-keep", "3", INTERVAL)
    lw.wait_ready()
    target.go()
    seen = set()
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        names = summary_files(sdir)
        assert len(names) <= 4, names  # 3 kept, and one just written before the pruning
        seen.update(names)
        time.sleep(0.05)
    assert lw.stop() == EXIT_OK, lw.describe()
    summary = lw.summary()  # the only summary on stdout, the last line
    intervals = [r for r in lw.reports() if r["type"] == "interval"]
    assert len(seen) >= 7, "only %d summary files in 4 s at one per 0.4 s" % len(seen)

    names = summary_files(sdir)
    assert len(names) == 3, names
    assert not temporaries(sdir)
    for name in names:
        assert int(SUMMARY_NAME.match(name).group(1)) == lw.pid
    files = [json.loads((sdir / n).read_text()) for n in names]
    for f in files:
        check_report(f)  # the summary's ranking, growing stacks first
        assert f["type"] == "summary"
    # names sort as the reports' times do; the newest is the final summary
    times = [f["time"] for f in files]
    assert times == sorted(times)
    assert files[-1] == summary
    # the others are summaries of interval reports, ranked as the summary ranks
    for f in files[:-1]:
        match = [r for r in intervals if r["time"] == f["time"]]
        assert len(match) == 1, f["time"]
        assert f["totals"] == match[0]["totals"]
        leak = [s for s in f["stacks"] if s["frames"][0]["function"] == "leak_tick"]
        assert len(leak) == 1 and leak[0]["verdict"] == "growing", leak
        assert f["stacks"][0] == leak[0], "the growing leak is not ranked first"


@pytest.fixture
def mounted(tmp_path):
    """Mounts a tmpfs with the options given; unmounts at the end."""
    points = []

    def mount(options):
        point = tmp_path / ("mnt%d" % len(points))
        point.mkdir()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        if res.returncode != 0:
            pytest.skip("cannot mount a tmpfs here: %s" % res.stderr.decode().strip())
        points.append(point)
        return point

    yield mount
    for point in points:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_bad_options(run, tmp_path, mounted):
    """One line and exit 64, before any probe goes in (the target is real)."""
    target = run.target("allocs")
    a_file = tmp_path / "file"
    a_file.write_text("")
    readonly = mounted("ro,size=64k")
    p = ["-p", str(target.pid)]
    d = ["--summary-dir", str(tmp_path)]
    cases = [
        (["--summary-every", "5x", *d], "bad --summary-every value '5x'"),
        (["--summary-every", "0", *d], "bad --summary-every value '0'"),
        (["--summary-every", "-5s", *d], "bad --summary-every value '-5s'"),
        (["--summary-every", "1e3", *d], "bad --summary-every value '1e3'"),
        (["--summary-every", "m", *d], "bad --summary-every value 'm'"),
        (["--summary-every", "5m"], "--summary-every and --summary-dir go together"),
        (d, "--summary-every and --summary-dir go together"),
        (["--summary-every", "5m", *d, "--summary-keep", "0"], "bad --summary-keep value '0'"),
        (["--summary-keep", "3"], "--summary-keep needs"),
        (["--summary-every", "5m", "--summary-dir", str(tmp_path / "missing")],
         "cannot use --summary-dir %s: No such file or directory" % (tmp_path / "missing")),
        (["--summary-every", "5m", "--summary-dir", str(a_file)], "is not a directory"),
        (["--summary-every", "5m", "--summary-dir", str(readonly)],
         "cannot write in --summary-dir %s: Read-only file system" % readonly),
        (["--pprof-every"], "--pprof-every needs --pprof FILE"),
        (["--pprof", str(tmp_path / "missing" / "x.pb.gz")], "cannot write --pprof"),
        (["--pprof", str(readonly / "x.pb.gz")], "Read-only file system"),
        (["--folded", str(tmp_path / "missing" / "x.folded")], "cannot write --folded"),
        (["--folded", str(tmp_path)], "cannot write --folded"),
    ]
    for args, words in cases:
        rc, out, err = run.leakwatch_fails(*p, *args)
        assert rc == EXIT_USAGE, (args, rc, err)
        assert words in one_line(err), (args, err)
        assert not out, (args, out)
    for good in ("30s", "5m", "1h", "1d", "90", "0.5", "250ms"):
        lw = run.leakwatch(*p, "--summary-every", good, *d, "--json", "-", INTERVAL, "1")
        assert lw.wait_exit(30) == EXIT_OK, (good, lw.describe())


def test_full_disk(run, tmp_path, mounted):
    """A tmpfs too small for one summary file or profile: leakwatch says so
    once per output, keeps reporting, exits 0 with its summary, and leaves
    nothing under a final name and no temporary."""
    full = mounted("size=64k")
    # full to the last block: creating an empty file still works, writing not
    fd = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass
    os.close(fd)
    target = run.target("manystacks")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "50", "--summary-every", "0.2",
                       "--summary-dir", full, "--pprof", full / "heap.pb.gz", "--pprof-every",
                       "--folded", full / "heap.folded", INTERVAL)
    lw.wait_ready()
    target.go()
    lw.wait_intervals(8, timeout=30)
    assert lw.stop() == EXIT_OK, lw.describe()
    summary = lw.summary()
    assert len(summary["stacks"]) == 50
    err = lw.err.snapshot()
    for what in ("summary file", "--pprof", "--folded"):
        said = [l for l in err if "cannot write %s" % what in l and "No space left" in l]
        assert len(said) == 1, (what, err)
    assert sorted(os.listdir(full)) == ["filler"], os.listdir(full)


def test_sigkill_while_writing(run, tmp_path):
    """leakwatch SIGKILLed while it writes a big summary file (200 stacks of
    manystacks, a file per report): every file under a final name parses,
    every time; the next run removes the temporaries the killed ones left."""
    sdir = tmp_path / "summaries"
    sdir.mkdir()
    mid_write = 0
    killed = set()
    for attempt in range(8):
        if mid_write >= 3:
            break
        target = run.target("manystacks")
        lw = run.leakwatch("-p", target.pid, "-T", "200", "--summary-every", "0.1",
                           "--summary-dir", sdir, "--summary-keep", "5", "0.1")
        lw.wait_ready()
        if attempt:
            # the temporaries of killed runs are gone once a new run starts
            stale = [n for n in temporaries(sdir) if any(".%d." % pid in n for pid in killed)]
            assert not stale, stale
        target.go()
        deadline = time.monotonic() + 5.0
        caught = False
        while time.monotonic() < deadline:
            # a temporary that grows past a few KiB: a big write under way
            if any(big_enough(sdir / n) for n in temporaries(sdir)) and summary_files(sdir):
                lw.proc.send_signal(signal.SIGKILL)
                caught = True
                break
            time.sleep(0.001)
        if not caught:
            lw.proc.send_signal(signal.SIGKILL)
        lw.wait_exit()
        killed.add(lw.pid)
        left = temporaries(sdir)
        mid_write += caught and any(".%d." % lw.pid in n for n in left)
        for name in summary_files(sdir):
            text = (sdir / name).read_text()
            report = json.loads(text)  # a half-written file fails here
            assert report["type"] == "summary" and text.endswith("}\n"), name
            assert len(report["stacks"]) == 200, (name, len(report["stacks"]))
        lw.assert_no_probes_left()
        target.close()
    print("killed mid-write %d times in %d runs" % (mid_write, attempt + 1))
    assert mid_write >= 1, "never killed leakwatch in the middle of a write in %d runs" % attempt


def big_enough(path):
    try:
        return path.stat().st_size > 16384
    except FileNotFoundError:
        return False
