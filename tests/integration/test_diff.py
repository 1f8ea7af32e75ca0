"""leakwatch diff: what grew between two reports, from the files a live run wrote.

tests/targets/steps.c leaks 3 x 4096 B from step_leak at each "step" and says
its totals. leakwatch watches it with --summary-every and --summary-dir; the
summary file written once 2 steps are counted and the one written once 7 are
counted must differ, for step_leak's stack, by exactly what the target says
it added between them (5 steps: 61440 B in 15 allocations), by stack id and
by function alike. The same holds for two records of one --json file picked
with --at. diff reads files only: it runs here as nobody, with no BPF.
Bad input is one line naming the file and the cause, and a non-zero exit.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, INTERVAL, LEAKWATCH, one_line

NOBODY = 65534
WAIT_S = 20.0


def diff(*args, as_nobody=True):
    """leakwatch diff ARGS, as nobody (no privilege at all) unless told;
    returns (exit status, stdout, stderr lines)."""
    prefix = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] \
        if as_nobody else []
    res = subprocess.run([*prefix, str(LEAKWATCH), "diff", *map(str, args)],
                         capture_output=True, text=True, timeout=30)
    return res.returncode, res.stdout, res.stderr.splitlines()


def shared_dir(path):
    """A directory nobody can read (pytest's tmp_path is root's alone)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)
    for parent in [path, *path.parents]:
        if str(parent) == "/":
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o005)
    return path


def step_stack(report):
    found = [s for s in report["stacks"] if s["frames"] and
             s["frames"][0]["function"] == "step_leak"]
    assert len(found) <= 1, found
    return found[0] if found else None


def step_bytes(report):
    s = step_stack(report)
    return s["outstanding_bytes"] if s else 0


def summary_file_with(sdir, want_bytes, keep_dir, name):
    """Waits for a summary file whose step_leak stack holds want_bytes, and
    copies it to keep_dir/name (the run prunes old files)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for f in sorted(sdir.glob("leakwatch-*.json"), reverse=True):
            try:
                report = json.loads(f.read_text())
            except (OSError, ValueError):
                continue  # pruned meanwhile
            if step_bytes(report) == want_bytes:
                dest = keep_dir / name
                shutil.copy(f, dest)
                os.chmod(dest, 0o644)
                return dest, report
        time.sleep(0.05)
    pytest.fail("no summary file with %d B at step_leak within %.0f s" % (want_bytes, WAIT_S),
                pytrace=False)


def steps(target, n):
    out = None
    for _ in range(n):
        target.send("step")
        out = target.expect("stepped", 10)
    return dict(kv.split("=") for kv in out.split()[1:])


@pytest.fixture(scope="module")
def live(module_run, tmp_path_factory):
    """One live run: two summary files and the --json file, 2 and 7 steps."""
    run = module_run
    base = shared_dir(tmp_path_factory.mktemp("diff"))
    sdir = base / "summaries"
    sdir.mkdir()
    jpath = base / "run.json"
    target = run.target("steps")
    lw = run.leakwatch("-p", target.pid, "--json", jpath, "-T", "100", "--summary-every",
                       INTERVAL, "--summary-dir", sdir, INTERVAL)
    lw.wait_ready()
    done = target.go()
    said2 = steps(target, 2)
    old, old_report = summary_file_with(sdir, int(said2["bytes"]), base, "old.json")
    said7 = steps(target, 5)
    new, new_report = summary_file_with(sdir, int(said7["bytes"]), base, "new.json")
    assert lw.stop() == EXIT_OK, lw.describe()
    os.chmod(jpath, 0o644)
    return {"old": old, "new": new, "json": jpath, "done": done, "said2": said2,
            "said7": said7, "old_report": old_report, "new_report": new_report, "base": base}


def test_summary_files_by_stack(live):
    rc, out, err = diff(live["old"], live["new"], "--json", "-")
    assert rc == EXIT_OK, err
    d = json.loads(out)
    added = int(live["said7"]["bytes"]) - int(live["said2"]["bytes"])
    added_allocs = int(live["said7"]["allocs"]) - int(live["said2"]["allocs"])
    assert added == 5 * 3 * 4096
    assert d["type"] == "diff" and d["group_by"] == "stack", d
    assert d["old"]["type"] == "summary" and d["new"]["type"] == "summary", d
    assert d["new"]["elapsed_s"] > d["old"]["elapsed_s"], d
    top = d["stacks"][0]
    assert top["id"] == step_stack(live["new_report"])["id"], (top, live["new_report"])
    assert top["outstanding_bytes_diff"] == added, top
    assert top["outstanding_allocs_diff"] == added_allocs, top
    assert top["outstanding_bytes"] == int(live["said7"]["bytes"]), top
    assert top["outstanding_allocs"] == int(live["said7"]["allocs"]), top
    assert [f["function"] for f in top["frames"][:3]] == ["step_leak", "serve", "main"], top
    # nothing else changed
    assert all(s["outstanding_bytes_diff"] == 0 for s in d["stacks"][1:]), d["stacks"]
    assert d["outstanding_bytes_diff"] == added, d


def test_summary_files_by_function_text(live):
    rc, out, err = diff(live["old"], live["new"], "--group-by", "function")
    assert rc == EXIT_OK, err
    lines = out.splitlines()
    assert lines[0] == "leakwatch diff by function", out
    header = [l for l in lines if l.split()[:2] == ["SIZE", "DIFF"]]
    assert header, out
    first = lines[lines.index(header[0]) + 1].split()
    # 84.0 KiB now, +60.0 KiB, 21 allocations, +15
    assert first == ["84.0", "KiB", "+60.0", "KiB", "21", "+15", "step_leak"], out
    rc, out, err = diff(live["old"], live["new"], "--group-by", "function", "--json", "-")
    d = json.loads(out)
    assert d["groups_from_stacks"] is True, d
    assert d["groups"][0] == {"key": "step_leak", "outstanding_bytes": 86016,
                              "outstanding_bytes_diff": 61440, "outstanding_allocs": 21,
                              "outstanding_allocs_diff": 15}, d


def test_two_records_of_one_json_file(live):
    """--at TIME twice: OLD's record, then NEW's, of the same file."""
    records = [json.loads(l) for l in live["json"].read_text().splitlines()]
    with2 = [r for r in records if step_bytes(r) == int(live["said2"]["bytes"])]
    with7 = [r for r in records if step_bytes(r) == int(live["said7"]["bytes"])]
    assert with2 and with7, [step_bytes(r) for r in records]
    at_old, at_new = with2[-1]["elapsed_s"], with7[0]["elapsed_s"]
    rc, out, err = diff(live["json"], live["json"], "--at", at_old, "--at", at_new,
                        "--json", "-")
    assert rc == EXIT_OK, err
    d = json.loads(out)
    assert d["old"]["elapsed_s"] == at_old and d["new"]["elapsed_s"] == at_new, d
    assert d["stacks"][0]["outstanding_bytes_diff"] == 61440, d
    assert d["stacks"][0]["outstanding_allocs_diff"] == 15, d
    # by UTC time, as the records write it
    rc, out, err = diff(live["json"], live["json"], "--at", with2[-1]["time"], "--at",
                        with7[0]["time"], "--json", "-")
    assert rc == EXIT_OK, err
    assert json.loads(out)["stacks"][0]["outstanding_bytes_diff"] == 61440
    # the last record (the summary) against itself: no change
    rc, out, err = diff(live["json"], live["json"], "--json", "-")
    assert rc == EXIT_OK, err
    assert all(s["outstanding_bytes_diff"] == 0 for s in json.loads(out)["stacks"])


def test_bad_input(live):
    base = live["base"]
    bad = base / "bad.json"
    bad.write_text('{"type":"summary","stacks":[\n')
    empty = base / "empty.json"
    empty.write_text("")
    noise = base / "noise.txt"
    noise.write_text("not a report\n")
    for f in (bad, empty, noise):
        os.chmod(f, 0o644)
    cases = [
        ([base / "missing.json", live["new"]], EXIT_USAGE,
         "cannot read %s: No such file or directory" % (base / "missing.json")),
        ([live["old"], bad], EXIT_RUNTIME, "%s line 1: not valid JSON" % bad),
        ([empty, live["new"]], EXIT_RUNTIME, "%s: no leakwatch report in it" % empty),
        ([live["old"], noise], EXIT_RUNTIME, "%s: no leakwatch report in it" % noise),
        ([live["old"], live["new"], "--at", "0.001"], EXIT_RUNTIME,
         "%s: no report at or before --at 0.001" % live["old"]),
        ([live["old"], live["new"], "--group-by", "lines"], EXIT_USAGE,
         "bad --group-by value 'lines'"),
        ([live["old"], live["new"], "--at", "soon"], EXIT_USAGE, "bad --at value 'soon'"),
        ([live["old"]], EXIT_USAGE, "diff needs two reports"),
    ]
    for args, want_rc, words in cases:
        rc, out, err = diff(*args)
        assert rc == want_rc, (args, rc, err)
        assert words in one_line(err), (args, err)
        assert out == "", (args, out)


def test_since_in_a_live_run(run):
    """--since DURATION: each stack's since_delta_bytes is its growth since
    the report that long ago. Two steps, then quiet for longer than the span:
    nothing added since; one step more: exactly that step's bytes."""
    target = run.target("steps")
    lw = run.leakwatch("-p", target.pid, "--json", "-", "--since", "1s", INTERVAL)
    lw.wait_ready()
    target.go()
    said2 = steps(target, 2)
    # 1 s span, samples kept at most one report (0.2 s) apart: 1.6 s is past it
    time.sleep(1.6)
    quiet = lw.wait_intervals(1)
    assert quiet["since_s"] == 1.0, quiet
    assert step_bytes(quiet) == int(said2["bytes"]), quiet
    assert step_stack(quiet)["since_delta_bytes"] == 0, step_stack(quiet)
    said3 = steps(target, 1)
    after = lw.wait_report(lambda r: step_bytes(r) == int(said3["bytes"]), WAIT_S,
                           "the third step counted")
    assert step_stack(after)["since_delta_bytes"] == int(said3["bytes"]) - int(said2["bytes"]), \
        step_stack(after)
    assert lw.stop() == EXIT_OK, lw.describe()
