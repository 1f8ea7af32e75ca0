"""CPython's garbage collector, seen from outside as gc.get_stats() and
gc.callbacks see it from inside.

tests/targets/python/collect.py makes reference cycles in a loop, times
every collection with gc.callbacks and writes gc.get_stats() at its start
and end. leakwatch starts it (--), so it watches the interpreter from
Py_RunMain on, and holds it where it begins finalizing: there it reads the
collector's statistics a last time, which must equal the script's own last
gc.get_stats() exactly. Its pauses, timed at the collector's USDT probes
(Debian's python3.11) or at its function's entry and return (pyenv's
builds), sit inside the span the callbacks time: never longer than it, and
shorter only by what the callbacks themselves cost.
"""
import json
import os
from pathlib import Path

import pytest

from conftest import EXIT_OK, TARGET_SOURCES

SCRIPT = TARGET_SOURCES / "python" / "collect.py"
DEBIAN = "/usr/bin/python3.11"
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
PYENV_VERSIONS = ["3.10.13", "3.11.7", "3.12.1", "3.13.0"]
GENERATIONS = 3
# at most what a uprobe and a uretprobe trap add to one collection's pause
PROBE_COST_NS = 20000


def interpreter(path):
    if not os.path.exists(path):
        pytest.skip("%s is not installed" % path)
    return path


def collect(run, python, mode, rounds, interval="0.2", *options):
    """collect.py under leakwatch to its end: (the last record's gc, what
    the script wrote)."""
    out = run.artdir / ("collect-%s.json" % mode)
    lw = run.leakwatch("--json", "-", *options, interval, "--", python, str(SCRIPT), mode,
                       str(rounds), str(out))
    assert lw.wait_exit(120) == EXIT_OK, lw.describe()
    summary = lw.summary()
    (p,) = summary["processes"]
    assert p["python"]["finalized"] is True, p
    return p["python"]["gc"], json.loads(out.read_text()), lw


def stats(gc_stats, field):
    return [g[field] for g in gc_stats]


def assert_counts_exact(gc, script):
    """The process's totals are the script's last gc.get_stats(); what was
    counted since watching began is at least what the script saw since its
    start, and every collection since then was timed."""
    assert gc["available"] is True, gc
    for field in ("collections", "collected", "uncollectable"):
        assert gc["process"][field] == stats(script["end"], field), (field, gc, script)
        since_start = [e - s for e, s in zip(stats(script["end"], field),
                                             stats(script["start"], field))]
        assert all(w >= s for w, s in zip(gc[field], since_start)), (field, gc, script)
    assert gc["dropped"] == 0 and gc["unreadable"] == 0, gc
    # every collection timed, but one that was running as the probes went
    # in: its start was missed (an interpreter looked at while it starts)
    assert sum(gc["collections"]) - 1 <= gc["pause_ns"]["count"] <= sum(gc["collections"]), gc


def test_counts_and_pauses_match_the_interpreter(run):
    gc, script, lw = collect(run, interpreter(DEBIAN), "plain", 40)
    assert_counts_exact(gc, script)
    assert gc["timed_at"] == "usdt", gc
    assert sum(gc["collections"]) > 100, gc  # the loop made the collector work
    timed = script["timed"]
    since_start = [e - s for e, s in zip(stats(script["end"], "collections"),
                                         stats(script["start"], "collections"))]
    assert len(timed) == sum(since_start), script
    # leakwatch may have begun watching during the interpreter's start-up
    # (it looks for it while it starts): those few collections are its
    # alone, each no longer than its longest
    extra = sum(gc["collections"]) - sum(since_start)
    assert extra >= 0, (gc, since_start)
    pause, theirs = gc["pause_ns"], [t[1] for t in timed]
    # inside the callbacks' span: no longer, and shorter by their own cost
    assert pause["total"] <= sum(theirs) + extra * pause["max"], (pause, sum(theirs), extra)
    assert pause["total"] >= 0.5 * sum(theirs), (pause, sum(theirs))
    if not extra:
        assert pause["max"] <= max(theirs), (pause, max(theirs))
    assert 0 < pause["p99"] <= pause["max"], pause
    # each generation's collections as the callbacks saw them
    for g in range(GENERATIONS):
        assert sum(1 for t in timed if t[0] == g) == since_start[g], (g, script)


def test_text_line(run):
    python = interpreter(DEBIAN)
    out = run.artdir / "collect-text.json"
    lw = run.leakwatch("0.2", "--", python, str(SCRIPT), "plain", "10", str(out))
    assert lw.wait_exit(60) == EXIT_OK, lw.describe()
    script = json.loads(out.read_text())
    lines = [line for line in lw.out.snapshot() if line.strip().startswith("gc: ")]
    assert lines, lw.out.snapshot()
    end = stats(script["end"], "collections")
    # the summary's line: counts since watching began, pauses, gc.garbage
    last = lines[-1]
    assert "collections (generations 0/1/2)" in last and "paused" in last, last
    assert "gc.garbage 0 objects" in last, last
    assert sum(int(n) for n in last.split()[1].split("/")) <= sum(end), (last, end)


def test_growing_uncollectable_garbage(run):
    """Objects with a legacy finalizer in a cycle: the collector finds them
    and cannot free them. They are counted uncollectable and kept in
    gc.garbage, which grows, and the verdict says so."""
    gc, script, _ = collect(run, interpreter(DEBIAN), "legacy", 120, "0.4")
    assert_counts_exact(gc, script)
    assert sum(gc["uncollectable"]) == sum(stats(script["end"], "uncollectable")) > 0, gc
    assert gc["garbage"] == script["garbage"] > 0, (gc, script)
    assert gc["garbage_verdict"] == "growing", gc
    assert gc["garbage_growth_per_s"] > 0, gc


def test_saveall_garbage_grows(run):
    """gc.DEBUG_SAVEALL keeps everything collected in gc.garbage: nothing
    is uncollectable, and gc.garbage grows."""
    gc, script, _ = collect(run, interpreter(DEBIAN), "saveall", 120, "0.4")
    assert_counts_exact(gc, script)
    assert sum(gc["uncollectable"]) == 0, gc
    assert gc["garbage"] == script["garbage"] > 0, (gc, script)
    assert gc["garbage_verdict"] == "growing", gc


@pytest.mark.parametrize("version", PYENV_VERSIONS)
def test_each_version_at_the_collector_function(run, version):
    """pyenv's builds have no USDT probes: the collector function is
    probed at its entry and return."""
    python = interpreter(str(PYENV / version / "bin" / "python3"))
    gc, script, _ = collect(run, python, "legacy", 20)
    assert_counts_exact(gc, script)
    assert gc["timed_at"] == "function", gc
    assert gc["garbage"] == script["garbage"], (gc, script)
    theirs = sum(t[1] for t in script["timed"])
    assert gc["pause_ns"]["total"] >= 0.5 * theirs, (gc, theirs)
    since_start = [e - s for e, s in zip(stats(script["end"], "collections"),
                                         stats(script["start"], "collections"))]
    # collections of the interpreter's start-up leakwatch alone timed (as
    # above); the return probe's own trap lands inside the span it times (a
    # few us a collection on this machine); 3.13 runs the callbacks inside
    # the collector function, 3.10-3.12 outside it
    extra = sum(gc["collections"]) - sum(since_start)
    if not version.startswith("3.13"):
        assert gc["pause_ns"]["total"] <= theirs + extra * gc["pause_ns"]["max"] + \
            PROBE_COST_NS * gc["pause_ns"]["count"], (gc, theirs, extra)


# A CPython whose collector has neither USDT probes nor a symbol (the
# Google Cloud SDK bundles one): counted, its pauses not timed, and said so.
UNTIMED = "/usr/lib/google-cloud-sdk/platform/bundledpythonunix/bin/python3"


def test_counted_but_not_timed(run):
    gc, script, _ = collect(run, interpreter(UNTIMED), "plain", 10)
    assert gc["available"] is True, gc
    assert gc["process"]["collections"] == stats(script["end"], "collections"), (gc, script)
    assert gc["pause_ns"] is None and "timed_at" not in gc, gc
    assert "neither the USDT probes" in gc["reason"], gc


def test_html_draws_the_pauses(run):
    """--html: each report's pauses under the heap chart, adding up to
    what the JSON says, and drawn by the page in a browser."""
    from test_html import open_in_chromium, page_data

    python = interpreter(DEBIAN)
    page = run.artdir / "gc.html"
    out = run.artdir / "collect-html.json"
    lw = run.leakwatch("--json", "-", "--html", str(page), "0.3", "--", python, str(SCRIPT),
                       "plain", "60", str(out))
    assert lw.wait_exit(120) == EXIT_OK, lw.describe()
    gc = lw.summary()["processes"][0]["python"]["gc"]
    data = page_data(page.read_text(), str(page))
    (proc,) = data["history"]["rss"]
    drawn = [v for v in proc["gc_pause_ns"] if v is not None]
    assert len(drawn) >= 3 and sum(drawn) == gc["pause_ns"]["total"], (proc, gc)
    dom, console = open_in_chromium(page, run.artdir, "gc")
    assert not console, console
    assert (dom.root or {}).get("data-chart-gc") == "1", dom.root
