"""--html FILE: one self-contained page, rewritten after every report.

One run of tests/targets/trends.c (see the table at its top: leak_tick
leaks 2000 B every 20 ms, cache_put holds 50 entries of 16000 B once warm)
under `leakwatch --html FILE --json FILE -T 100 0.2`. While it runs, the
test reads the page over and over, as a browser reloading it would: every
read must be a whole page (the file is replaced by rename, never written in
place). After SIGINT, the data the page embeds must agree with the JSON
summary, stack by stack. Then Debian's headless chromium opens the page with
no network: the script must run without a console message, and it must have
drawn both charts, the flame graph and the table (it says what it drew in
attributes of <html>, read back from --dump-dom). A deliberately broken page
shows that the console check fails when it should.

chromium runs in its own process group, which is killed on every path; its
screenshots go to build/test-artifacts/test_html/.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import (EXIT_OK, EXIT_USAGE, REPO, check_report, one_line, site)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_TIMEOUT_S = 30.0
INTERVAL = "0.2"
REPORTS_AFTER_GO = 15        # 3 s: the leak is judged growing from its 6th sample
CACHE_BYTES = 50 * 16000
CHART_STACKS = 10            # html.c's HTML_CHART_STACKS
DATA_RE = re.compile(r'<script type="application/json" id="leakwatch-data">(.*?)</script>',
                     re.DOTALL)


def json_lines(path):
    """The complete lines of a JSON lines file, parsed (a line still being
    written, without its newline, is left out)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(l) for l in text.split("\n")[:-1] if l]


def page_data(text, where):
    """The JSON object a page embeds; the page must be whole."""
    assert text.startswith("<!DOCTYPE html>"), "%s: does not start as a page: %r" % (
        where, text[:80])
    assert text.endswith("</html>\n"), "%s: not a whole page (%d bytes), ends %r" % (
        where, len(text), text[-80:])
    found = DATA_RE.findall(text)
    assert len(found) == 1, "%s: %d data elements" % (where, len(found))
    # '<' is written as \u003c: no name can end the element or open a comment
    assert "<" not in found[0], "%s: '<' inside the data element" % where
    return json.loads(found[0])


@pytest.fixture(scope="module")
def html_run(module_run):
    artdir = module_run.artdir
    page = artdir / "report.html"
    jpath = artdir / "report.jsonl"
    target = module_run.target("trends")
    lw = module_run.leakwatch("-p", target.pid, "--html", page, "--json", jpath,
                              "-T", "100", INTERVAL)
    lw.wait_ready()
    target.go()
    # Read the page as often as we can while the reports come.
    reads, seen = 0, set()
    deadline = time.monotonic() + 10.0 + REPORTS_AFTER_GO * float(INTERVAL) * 5
    while True:
        n = sum(1 for r in json_lines(jpath) if r["type"] == "interval")
        if n >= REPORTS_AFTER_GO:
            break
        assert time.monotonic() < deadline, "%d interval reports in %s: %s" % (
            n, jpath, lw.describe())
        assert lw.proc.poll() is None, lw.describe()
        try:
            f = open(page, encoding="utf-8")
        except FileNotFoundError:
            f = None
        if f:
            with f:
                inode = os.fstat(f.fileno()).st_ino
                d = page_data(f.read(), "read %d while running" % reads)
            assert d["type"] == "interval", \
                "a %s page at %s s while leakwatch runs; target exit status %r; %s" % (
                    d["type"], d["elapsed_s"], target.proc.poll(), lw.describe())
            seen.add((d["elapsed_s"], inode))
            reads += 1
        time.sleep(0.002)
    assert lw.stop() == EXIT_OK, lw.describe()
    lw.assert_no_probes_left()
    reports = json_lines(jpath)
    for r in reports:
        check_report(r)
    assert [r["type"] for r in reports].count("summary") == 1 and \
        reports[-1]["type"] == "summary", [r["type"] for r in reports]
    return {"target": target, "page": page, "artdir": artdir, "reports": reports,
            "summary": reports[-1], "data": page_data(page.read_text(), "final page"),
            "reads": reads, "seen": seen}


def test_page_refreshed_whole(html_run):
    """Every read while leakwatch ran found a whole page; the page followed
    the reports (several versions seen, each one an interval report's),
    each version a new file (renamed over the old one, not rewritten in
    place, which a reader could catch half done), and no temporary file is
    left beside it."""
    intervals = {r["elapsed_s"] for r in html_run["reports"] if r["type"] == "interval"}
    versions = {t for t, _ in html_run["seen"]}
    assert html_run["reads"] >= 20, "only %d reads of the page" % html_run["reads"]
    assert len(versions) >= 3, "versions seen: %s" % sorted(versions)
    assert versions <= intervals, "pages of no report: %s" % sorted(versions - intervals)
    # A file system may give a freed inode number to a later version, but
    # never to the next report's: the old file still exists when the new
    # one is created.
    order = sorted(intervals)
    inode = dict(html_run["seen"])
    pairs = [(a, b) for a, b in zip(order, order[1:]) if a in inode and b in inode]
    assert len(pairs) >= 2, "too few consecutive versions seen: %s" % sorted(versions)
    same = [(a, b) for a, b in pairs if inode[a] == inode[b]]
    assert not same, "versions written in place (one file): %s" % same
    left = [p.name for p in html_run["artdir"].iterdir() if p.name.startswith(".report.html.")]
    assert not left, "temporary files left: %s" % left
    assert html_run["page"].stat().st_mode & 0o777 == 0o644


def test_page_is_the_summary(html_run):
    d, summary = html_run["data"], html_run["summary"]
    assert d["type"] == "summary"
    assert d["elapsed_s"] == summary["elapsed_s"] and d["time"] == summary["time"]
    assert d["totals"]["outstanding_bytes"] == summary["totals"]["outstanding_bytes"]


def test_stacks_agree_with_json_summary(html_run):
    """Every stack the summary lists, in its order, with the same bytes,
    verdict, growth, age and frames."""
    d, summary = html_run["data"], html_run["summary"]
    assert summary["stacks"], "the summary lists no stack"
    assert [(s["id"], s["pid"]) for s in d["stacks"]] == \
        [(s["id"], s["pid"]) for s in summary["stacks"]]
    for h, j in zip(d["stacks"], summary["stacks"]):
        for key in ("outstanding_bytes", "outstanding_allocs", "verdict", "growth_bytes_per_s",
                    "oldest_age_s", "truncated", "category", "delta_bytes"):
            assert h[key] == j[key], "stack %s: %s %r in the page, %r in JSON" % (
                j["id"], key, h[key], j[key])
        assert [(f["function"], f["file"], f["line"], f["inlined"], f["addr"])
                for f in h["frames"]] == \
            [(f["function"], f["file"], f["line"], f["inlined"], f["addr"])
             for f in j["frames"]], "stack %s: frames differ" % j["id"]


def test_known_leaks_in_page(html_run):
    """What the target really holds, read from the page: the leak growing,
    the cache at its 50 entries (49 when read between a put's free and
    malloc)."""
    d, pid = html_run["data"], html_run["target"].pid
    leak = site(d, "leak_tick", pid)["stacks"]
    assert len(leak) == 1 and leak[0]["verdict"] == "growing", leak
    assert leak[0]["outstanding_bytes"] == 2000 * leak[0]["outstanding_allocs"] > 0, leak
    cache = site(d, "cache_put", pid)
    assert cache["bytes"] in (CACHE_BYTES, CACHE_BYTES - 16000), cache


def test_chart_data(html_run):
    """The top stacks carry their series, whose last sample is the summary's
    bytes; the history of totals and RSS holds one sample per report."""
    d, summary, reports = html_run["data"], html_run["summary"], html_run["reports"]
    charted = [s for s in d["stacks"] if "series" in s]
    assert len(charted) == min(CHART_STACKS, len(d["stacks"]))
    for s in charted:
        t, b = s["series"]["t"], s["series"]["bytes"]
        assert len(t) == len(b) >= 1 and t == sorted(t), s["series"]
        assert b[-1] == s["outstanding_bytes"], (s["id"], b[-1], s["outstanding_bytes"])
        assert t[-1] == pytest.approx(summary["elapsed_s"], abs=1e-3)
    h = d["history"]
    assert h["t"] == [r["elapsed_s"] for r in reports]
    assert h["outstanding_bytes"] == [r["totals"]["outstanding_bytes"] for r in reports]
    assert [p["pid"] for p in h["rss"]] == [html_run["target"].pid]
    assert h["rss"][0]["bytes"] == [r["processes"][0]["rss_bytes"] for r in reports]


def test_flame_data(html_run):
    """Every stack holding memory, summing to the total outstanding (with
    -T 100 the summary lists them all too), frames indexing the table."""
    d, summary = html_run["data"], html_run["summary"]
    flame = d["flame"]
    assert len(summary["stacks"]) < 100
    assert sum(s["bytes"] for s in flame["stacks"]) == summary["totals"]["outstanding_bytes"]
    assert sorted((s["id"], s["bytes"]) for s in flame["stacks"]) == \
        sorted((s["id"], s["outstanding_bytes"]) for s in summary["stacks"]
               if s["outstanding_bytes"] > 0)
    by_id = {s["id"]: s for s in summary["stacks"]}
    for s in flame["stacks"]:
        names = [flame["frames"][i]["function"] for i in s["frames"]]
        assert names == [f["function"] for f in by_id[s["id"]]["frames"]], s["id"]


# --------------------------------------------------------------------------
# The page in a browser


class Dom(HTMLParser):
    """<html>'s attributes and the table rows of a --dump-dom."""

    def __init__(self, text):
        super().__init__()
        self.root = None
        self.rows = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html" and self.root is None:
            self.root = attrs
        elif tag == "tr" and "data-id" in attrs:
            self.rows.append(attrs)


def open_in_chromium(page, artdir, name):
    """Loads `page` in headless chromium; returns (DOM after the scripts ran,
    console messages). Takes a screenshot to artdir/NAME.png. chromium's
    whole process group is killed however this ends."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("%s not installed (Debian package chromium; tools/install-deps.sh)"
                    % CHROMIUM, pytrace=False)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    shot = artdir / (name + ".png")
    argv = [CHROMIUM, "--headless=new", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--enable-logging=stderr", "--v=0", "--user-data-dir=" + profile,
            "--window-size=1280,1800", "--screenshot=" + str(shot), "--dump-dom",
            page.resolve().as_uri()]
    if os.geteuid() == 0:
        argv.insert(1, "--no-sandbox")  # chromium refuses to run as root otherwise
    (artdir / (name + ".cmd")).write_text(" ".join(argv) + "\n")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not finish within %.0f s" % CHROMIUM_TIMEOUT_S,
                    pytrace=False)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    (artdir / (name + ".dom.html")).write_text(out)
    (artdir / (name + ".stderr")).write_text(err)
    assert proc.returncode == 0 and "<html" in out, \
        "chromium failed (exit %r): %s" % (proc.returncode, err[-2000:])
    # [pid:tid:time:INFO:CONSOLE:LINE] "message", source: URL (LINE)
    console = [l for l in err.splitlines() if re.search(r":CONSOLE[(:]", l)]
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", \
        "no screenshot at %s" % shot
    return Dom(out), console


def test_renders_in_chromium(html_run):
    d, summary = html_run["data"], html_run["summary"]
    dom, console = open_in_chromium(html_run["page"], html_run["artdir"], "report")
    assert not console, "console messages: %s" % console
    root = dom.root or {}
    assert root.get("data-rendered") == "ok", root
    assert int(root["data-chart-stacks"]) == min(CHART_STACKS, len(summary["stacks"])), root
    assert int(root["data-chart-totals"]) == 1 + len(summary["processes"]), root
    # at least a box per frame of the deepest stack, plus the root
    deepest = max(len(s["frames"]) for s in d["flame"]["stacks"])
    assert int(root["data-flame-boxes"]) >= deepest + 1, root
    assert int(root["data-table-rows"]) == len(summary["stacks"]), root
    assert [(r["data-id"], int(r["data-pid"]), int(r["data-bytes"]), r["data-verdict"])
            for r in dom.rows] == \
        [(s["id"], s["pid"], s["outstanding_bytes"], s["verdict"]) for s in summary["stacks"]]


@pytest.mark.parametrize("breakage", ["data", "script"])
def test_console_check_catches_errors(html_run, breakage):
    """The check above can fail: a page whose data does not parse, or whose
    script throws, is caught by its console message, and is not rendered."""
    text = html_run["page"].read_text()
    if breakage == "data":
        broken = DATA_RE.sub(lambda m: m.group(0).replace('{"type"', '{"type" oops', 1), text)
    else:
        broken = text.replace('root.dataset.rendered = "ok";',
                              'undefinedFunctionOfTheTest(); root.dataset.rendered = "ok";', 1)
    assert broken != text
    page = html_run["artdir"] / ("broken-%s.html" % breakage)
    page.write_text(broken)
    dom, console = open_in_chromium(page, html_run["artdir"], "broken-%s" % breakage)
    assert console and "Uncaught" in console[0], console
    assert (dom.root or {}).get("data-rendered") is None, dom.root


# --------------------------------------------------------------------------
# Files that cannot be written, and what the build refuses


@pytest.mark.parametrize("where", ["directory", "missing-directory", "stdout"])
def test_unwritable_html_is_a_usage_error(run, where):
    """One line naming the option and the file, exit 64, the target untouched."""
    target = run.target("trends")
    path = {"directory": run.artdir, "missing-directory": run.artdir / "no" / "such" / "r.html",
            "stdout": "-"}[where]
    rc, _, err = run.leakwatch_fails("-p", target.pid, "--html", path, INTERVAL)
    line = one_line(err)
    assert rc == EXIT_USAGE, "exit %r: %s" % (rc, line)
    assert "--html" in line and (where == "stdout" or str(path) in line), line
    assert target.alive()


def test_embed_refuses_a_closing_tag(tmp_path):
    """tools/html/embed.py fails the build on a file that would end its
    element in the page early, and embeds one that does not."""
    good, bad = tmp_path / "good.js", tmp_path / "bad.js"
    good.write_text('var s = "<\\/script>";\n')
    bad.write_text('var a = 1;\nvar s = "</SCRIPT>";\n')
    embed = [str(REPO / "tools" / "html" / "embed.py"), str(tmp_path / "out.c")]
    ok = subprocess.run(embed + [str(good)], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert "lw_html_good_js_len = %d;" % len(good.read_bytes()) in (tmp_path / "out.c").read_text()
    res = subprocess.run(embed + [str(bad)], capture_output=True, text=True, timeout=30)
    assert res.returncode != 0 and "bad.js:2" in res.stderr, res.stderr
