"""--prometheus: the exposition leakwatch serves, read directly and through
a real Prometheus server.

One run of tests/targets/trends.c (its leak_tick leaks 2000 B every 20 ms,
100000 B/s, from main -> tick -> leak_tick). Debian's prometheus is started
on loopback with a temporary configuration that scrapes leakwatch every
second and a TSDB under build/test-artifacts/. leakwatch reports every
0.5 s with --prometheus on a free loopback port and JSON lines on stdout.

While the leak runs, the test scrapes /metrics itself: the text format
(HELP and TYPE before each family's samples, counters named _total, label
values escaped), the OpenMetrics form Prometheus asks for, the stack's
labels unchanged from one scrape to the next, and each page's numbers equal
to the JSON report of the same number (leakwatch_reports_total).

Then the target is frozen with SIGSTOP, so its numbers stop moving; once
Prometheus has scraped a page from after the freeze, leakwatch is stopped
and its JSON summary read. Prometheus' raw samples for the leaking stack
must rise while the leak ran, form a single series (its label set never
changed), and end at exactly the summary's outstanding bytes.

Bind failures are checked apart: a port in use and an address this host
does not have each give one line, their exit status, and no probe.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import (EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, by_function, one_line, process,
                      site)

PROMETHEUS = "/usr/bin/prometheus"
INTERVAL = "0.5"
LEAK_FUNCTION = "leak_tick"
LEAK_CALLER = "tick"
LEAK_RATE = 2000 / 0.02              # B/s, trends.c
RISING_SAMPLES = 6                   # Prometheus samples of the leak before the freeze
PROM_READY_TIMEOUT_S = 20.0
PROM_CATCH_UP_TIMEOUT_S = 15.0
OPENMETRICS_ACCEPT = ("application/openmetrics-text;version=1.0.0,"
                      "text/plain;version=0.0.4;q=0.5")

# Families the page always has, by type (0.0.4 names).
FAMILIES = {
    "leakwatch_build_info": "gauge",
    "leakwatch_reports_total": "counter",
    "leakwatch_elapsed_seconds": "gauge",
    "leakwatch_process_alive": "gauge",
    "leakwatch_rss_bytes": "gauge",
    "leakwatch_memory_cgroup_bytes": "gauge",
    "leakwatch_process_rank": "gauge",
    "leakwatch_process_growing": "gauge",
    "leakwatch_outstanding_bytes": "gauge",
    "leakwatch_outstanding_allocations": "gauge",
    "leakwatch_allocation_calls_total": "counter",
    "leakwatch_free_calls_total": "counter",
    "leakwatch_lost_events_total": "counter",
    "leakwatch_stack_outstanding_bytes": "gauge",
    "leakwatch_stack_outstanding_allocations": "gauge",
    "leakwatch_stack_growth_bytes_per_second": "gauge",
    "leakwatch_stack_growing": "gauge",
}
STACK_LABELS = {"stack_id", "pid", "function", "caller"}
PROCESS_LABELS = {"pid", "comm"}


def free_port():
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, accept=None, method="GET", timeout=5.0):
    """(status, content type, body text) of one request."""
    req = urllib.request.Request(url, method=method,
                                 headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


# --------------------------------------------------------------------------
# The text exposition format


def _unescape(value):
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            nxt = value[i + 1]
            assert nxt in "\\\"n", "bad escape \\%s in label value %r" % (nxt, value)
            out.append("\n" if nxt == "n" else nxt)
            i += 2
        else:
            assert c not in "\"\n", "unescaped %r in label value %r" % (c, value)
            out.append(c)
            i += 1
    return "".join(out)


def _labels(text, where):
    """'a="x",b="y"' -> {"a": "x", "b": "y"}, escapes undone."""
    labels, i = {}, 0
    while i < len(text):
        eq = text.index("=", i)
        name = text[i:eq]
        assert name.isidentifier(), "%s: bad label name %r" % (where, name)
        assert text[eq + 1] == '"', "%s: label %s not quoted" % (where, name)
        j = eq + 2
        while text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        assert name not in labels, "%s: label %s twice" % (where, name)
        labels[name] = _unescape(text[eq + 2:j])
        i = j + 1
        if i < len(text):
            assert text[i] == ",", "%s: expected ',' after label %s" % (where, name)
            i += 1
    return labels


def parse_page(text, openmetrics=False):
    """Checks a page against the exposition format and returns
    ({family: type}, [(sample name, labels, value)]).

    Every family has HELP then TYPE before its samples, and its samples
    follow each other; a counter's samples end in _total (in OpenMetrics the
    family itself is named without it, and an info family without _info);
    OpenMetrics pages end with "# EOF"."""
    assert text.endswith("\n"), "page does not end with a newline"
    lines = text.split("\n")[:-1]
    if openmetrics:
        assert lines and lines[-1] == "# EOF", "OpenMetrics page without # EOF at the end"
        lines = lines[:-1]
    else:
        assert "# EOF" not in lines, "# EOF in a text 0.0.4 page"
    families, samples, helped, current, done = {}, [], set(), None, set()
    for n, line in enumerate(lines, 1):
        where = "line %d %r" % (n, line)
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert help_text.strip(), "%s: empty HELP" % where
            assert name not in helped, "%s: HELP twice" % where
            helped.add(name)
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name in helped, "%s: TYPE before HELP" % where
            assert name not in families, "%s: TYPE twice" % where
            assert kind in ("gauge", "counter", "info", "histogram"), where
            if current:
                done.add(current)
            families[name], current = kind, name
        else:
            assert not line.startswith("#"), "%s: unexpected comment" % where
            name, brace, rest = line.partition("{")
            if brace:
                inner, _, value = rest.rpartition("} ")
                labels = _labels(inner, where)
            else:
                name, _, value = line.partition(" ")
                labels = {}
            kind = families.get(current)
            base = name
            if kind == "counter":
                assert name.endswith("_total"), "%s: a counter's sample without _total" % where
                base = name[:-6] if openmetrics else name
            elif kind == "info":
                base = name[:-5] if openmetrics else name
            elif kind == "histogram":
                base, _, part = name.rpartition("_")
                assert part in ("bucket", "sum", "count"), "%s: not a histogram sample" % where
                assert part != "bucket" or "le" in labels, "%s: a bucket without le" % where
            assert base == current, "%s: sample outside its family (%s)" % (where, current)
            assert base not in done, "%s: family %s split" % (where, base)
            samples.append((name, labels, float(value)))
    for name in families:
        assert name.startswith("leakwatch_"), "family %s without the leakwatch_ prefix" % name
    return families, samples


def scrape(url, openmetrics=False):
    status, ctype, body = http_get(url + "/metrics", OPENMETRICS_ACCEPT if openmetrics else None)
    assert status == 200, "GET /metrics: %d %s" % (status, body)
    want = "application/openmetrics-text" if openmetrics else "text/plain; version=0.0.4"
    assert ctype.startswith(want), "Content-Type %r, expected %s" % (ctype, want)
    families, samples = parse_page(body, openmetrics)
    return body, families, samples


def values(samples, name, **labels):
    return [(l, v) for n, l, v in samples
            if n == name and all(l.get(k) == str(x) for k, x in labels.items())]


def one_value(samples, name, **labels):
    found = values(samples, name, **labels)
    assert len(found) == 1, "%s%s: %d samples: %s" % (name, labels, len(found), found)
    return found[0][1]


# --------------------------------------------------------------------------
# A Prometheus server of the test's own


class Prometheus:
    """Debian's prometheus on a free loopback port, scraping `target` (host:port)
    every second; its files under artdir/prometheus/ (the TSDB is removed
    when it stops, the log and configuration stay)."""

    def __init__(self, artdir, target):
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.fail("%s not found: tools/install-deps.sh installs Debian's prometheus"
                        % PROMETHEUS, pytrace=False)
        self.dir = artdir / "prometheus"
        self.data = self.dir / "data"
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "prometheus.yml"
        config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: leakwatch\n"
            "    static_configs:\n"
            "      - targets: ['%s']\n" % target)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        argv = [PROMETHEUS, "--config.file=%s" % config, "--storage.tsdb.path=%s" % self.data,
                "--web.listen-address=127.0.0.1:%d" % self.port]
        (self.dir / "prometheus.cmd").write_text(" ".join(argv) + "\n")
        self.log_path = self.dir / "prometheus.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + PROM_READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail("prometheus exited with %d: %s" % (self.proc.returncode,
                                                               self.log_tail()), pytrace=False)
            try:
                if http_get(self.url + "/-/ready", timeout=1.0)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus not ready within %.0f s: %s" % (
                    PROM_READY_TIMEOUT_S, self.log_tail()), pytrace=False)
            time.sleep(0.1)

    def log_tail(self):
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-15:])

    def api(self, path, **params):
        status, _, body = http_get(self.url + path + "?" + urllib.parse.urlencode(params))
        reply = json.loads(body)
        assert status == 200 and reply.get("status") == "success", \
            "prometheus %s %s: %d %s" % (path, params, status, body)
        return reply["data"]

    def samples(self, selector):
        """Raw samples of every series matching selector over the last 5
        minutes: [(labels, [(time, value)...])]."""
        data = self.api("/api/v1/query", query="%s[5m]" % selector)
        assert data["resultType"] == "matrix", data
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]])
                for r in data["result"]]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.data, ignore_errors=True)


def wait_for(pred, timeout, what, describe=lambda: ""):
    """pred()'s first true value, polled every 0.2 s."""
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail("%s not within %.0f s %s" % (what, timeout, describe()), pytrace=False)
        time.sleep(0.2)


def process_state(pid):
    stat = Path("/proc/%d/stat" % pid).read_text()
    return stat[stat.rindex(")") + 2]


# --------------------------------------------------------------------------
# The scenario


def leak_stack(report, pid):
    stacks = site(report, LEAK_FUNCTION, pid)["stacks"]
    assert len(stacks) == 1, "%s: %d stacks" % (LEAK_FUNCTION, len(stacks))
    return stacks[0]


def interval_number(lw, n, timeout=10.0):
    """The n-th interval report (1-based), waiting for it if need be."""
    deadline = time.monotonic() + timeout
    while True:
        intervals = lw.intervals()
        if len(intervals) >= n:
            return intervals[n - 1]
        assert time.monotonic() < deadline, "interval report %d never came" % n
        time.sleep(0.05)


@pytest.fixture(scope="module")
def scenario(module_run):
    run = module_run
    lw_port = free_port()
    lw_url = "http://127.0.0.1:%d" % lw_port
    prom = Prometheus(run.artdir, "127.0.0.1:%d" % lw_port)
    target = None
    try:
        target = run.target("trends")
        lw = run.leakwatch("-p", target.pid, "--json", "-", "-T", "10",
                           "--prometheus", str(lw_port), INTERVAL)
        lw.wait_ready()
        out = {"target": target, "lw": lw, "url": lw_url, "prom": prom}
        # served from the start: the build info, no process yet
        out["before"] = scrape(lw_url)
        target.go()
        first = lw.wait_report(lambda r: LEAK_FUNCTION in by_function(r, target.pid), 10.0,
                               "the leak's stack")
        stack_id = leak_stack(first, target.pid)["id"]
        out["stack_id"] = stack_id
        selector = 'leakwatch_stack_outstanding_bytes{stack_id="%s"}' % stack_id

        # direct scrapes while the leak runs, a few reports apart; a page is
        # published just after its JSON line, so once the next line is out
        # the page holds at least the report that had the leak
        lw.wait_intervals(1)
        out["scrapes"] = [scrape(lw_url)]
        lw.wait_intervals(3)
        out["scrapes"].append(scrape(lw_url))
        out["openmetrics"] = scrape(lw_url, openmetrics=True)
        out["status"] = {path: http_get(lw_url + path)[0] for path in ("/", "/metric", "/metrics/x")}
        out["status"]["POST /metrics"] = http_get(lw_url + "/metrics", method="POST")[0]

        def rising():
            series = prom.samples(selector)
            return series and len(series[0][1]) >= RISING_SAMPLES
        wait_for(rising, 30.0, "%d Prometheus samples of %s" % (RISING_SAMPLES, selector),
                 prom.log_tail)
        out["targets"] = prom.api("/api/v1/targets")["activeTargets"]

        # freeze the target; its numbers stop moving
        os.kill(target.pid, signal.SIGSTOP)
        wait_for(lambda: process_state(target.pid) == "T", 5.0, "the target stopped")
        a = lw.wait_intervals(1)
        b = lw.wait_intervals(1)
        frozen = leak_stack(b, target.pid)["outstanding_bytes"]
        out["frozen"] = (leak_stack(a, target.pid)["outstanding_bytes"], frozen)
        frozen_at = time.time()
        # a Prometheus scrape that started after report b was published
        wait_for(lambda: any(t > frozen_at + 0.1 for _, t_v in prom.samples(selector)
                             for t, _ in t_v[-1:]),
                 PROM_CATCH_UP_TIMEOUT_S, "a scrape after the freeze", prom.log_tail)

        out["rc"] = lw.stop(signal.SIGTERM)
        out["summary"] = lw.summary()
        lw.assert_no_probes_left()
        # after leakwatch: what Prometheus stored
        out["series"] = prom.samples(selector)
        out["rates"] = prom.samples('leakwatch_stack_growth_bytes_per_second{stack_id="%s"}'
                                    % stack_id)
        out["alloc_calls"] = prom.samples('leakwatch_allocation_calls_total{pid="%d"}'
                                          % target.pid)
        out["build"] = prom.samples("leakwatch_build_info")
        yield out
    finally:
        if target is not None and target.alive():
            os.kill(target.pid, signal.SIGCONT)
        prom.stop()


def test_exit_and_summary(scenario):
    assert scenario["rc"] == EXIT_OK, scenario["lw"].describe()
    a, b = scenario["frozen"]
    assert a == b, "the stopped target's leak still moved: %d then %d" % (a, b)


def test_page_format(scenario):
    for body, families, samples in [*scenario["scrapes"], scenario["before"]]:
        for name, kind in FAMILIES.items():
            assert families.get(name) == kind, "family %s: type %r, expected %s" % (
                name, families.get(name), kind)
        assert one_value(samples, "leakwatch_build_info") == 1
        for name, labels, _ in samples:
            if name.startswith("leakwatch_stack_"):
                assert set(labels) == STACK_LABELS, "%s labels %s" % (name, labels)
            elif name == "leakwatch_lost_events_total":
                assert set(labels) == PROCESS_LABELS | {"cause"}, labels
            elif name not in ("leakwatch_build_info", "leakwatch_reports_total",
                              "leakwatch_elapsed_seconds"):
                assert set(labels) == PROCESS_LABELS, "%s labels %s" % (name, labels)
    # before "go": no stack of the target's yet, the families are there
    _, _, samples = scenario["before"]
    assert not values(samples, "leakwatch_stack_outstanding_bytes", function=LEAK_FUNCTION)


def test_openmetrics(scenario):
    body, families, samples = scenario["openmetrics"]
    assert families["leakwatch_allocation_calls"] == "counter"
    assert families["leakwatch_build"] == "info"
    assert "leakwatch_allocation_calls_total" not in families
    assert values(samples, "leakwatch_allocation_calls_total", pid=scenario["target"].pid)


def test_other_paths(scenario):
    assert scenario["status"] == {"/": 404, "/metric": 404, "/metrics/x": 404,
                                  "POST /metrics": 405}


def test_page_equals_json_report(scenario):
    """Each page is the report its leakwatch_reports_total names, exactly."""
    lw, pid, stack_id = scenario["lw"], scenario["target"].pid, scenario["stack_id"]
    numbers = []
    for _, _, samples in scenario["scrapes"]:
        n = int(one_value(samples, "leakwatch_reports_total"))
        numbers.append(n)
        report = interval_number(lw, n)
        stack = leak_stack(report, pid)
        assert one_value(samples, "leakwatch_stack_outstanding_bytes", stack_id=stack_id) \
            == stack["outstanding_bytes"], "report %d" % n
        assert one_value(samples, "leakwatch_stack_outstanding_allocations",
                         stack_id=stack_id) == stack["outstanding_allocs"], "report %d" % n
        proc = process(report, pid)
        for name, key in (("leakwatch_outstanding_bytes", "outstanding_bytes"),
                          ("leakwatch_outstanding_allocations", "outstanding_allocs"),
                          ("leakwatch_allocation_calls_total", "alloc_calls"),
                          ("leakwatch_free_calls_total", "free_calls")):
            assert one_value(samples, name, pid=pid, comm="trends") == proc["totals"][key], \
                "report %d: %s" % (n, name)
        for cause, count in proc["totals"]["lost"].items():
            assert one_value(samples, "leakwatch_lost_events_total", pid=pid,
                             cause=cause) == count, "report %d: lost %s" % (n, cause)
        assert one_value(samples, "leakwatch_rss_bytes", pid=pid) == proc["rss_bytes"]
        assert one_value(samples, "leakwatch_process_alive", pid=pid) == 1
        assert one_value(samples, "leakwatch_elapsed_seconds") == pytest.approx(
            report["elapsed_s"], abs=0.001)
        # the top stacks of the report, no more
        shown = {(s["id"], s["pid"]) for s in report["stacks"]}
        exported = {(l["stack_id"], int(l["pid"]))
                    for l, _ in values(samples, "leakwatch_stack_outstanding_bytes")}
        assert exported == shown, "report %d" % n
    assert numbers[1] >= numbers[0] + 3, "scrapes were of reports %s" % numbers


def test_stack_labels_stable(scenario):
    """The leak's stack is labeled by its two innermost frames, and every
    stack keeps its label set from one scrape to the next."""
    pid, stack_id = scenario["target"].pid, scenario["stack_id"]
    seen = {}
    for _, _, samples in scenario["scrapes"]:
        for name, labels, _ in samples:
            if name.startswith("leakwatch_stack_"):
                key = (labels["stack_id"], labels["pid"])
                assert seen.setdefault(key, labels) == labels, \
                    "stack %s changed labels: %s then %s" % (key, seen[key], labels)
    assert seen[(stack_id, str(pid))] == {"stack_id": stack_id, "pid": str(pid),
                                          "function": LEAK_FUNCTION, "caller": LEAK_CALLER}


def test_prometheus_scraped_cleanly(scenario):
    (t,) = [t for t in scenario["targets"] if t["labels"].get("job") == "leakwatch"]
    assert t["health"] == "up" and t["lastError"] == "", t
    ((labels, samples),) = scenario["build"]
    assert labels["version"] and samples and samples[-1][1] == 1


def test_prometheus_series_rises_to_summary(scenario):
    """One series for the leak's stack in Prometheus (its labels never
    changed); it rose while the leak ran and ends at the summary's bytes."""
    pid, stack_id = scenario["target"].pid, scenario["stack_id"]
    series = scenario["series"]
    assert len(series) == 1, "stack %s stored as %d series: %s" % (
        stack_id, len(series), [l for l, _ in series])
    labels, samples = series[0]
    assert labels["function"] == LEAK_FUNCTION and labels["caller"] == LEAK_CALLER, labels
    assert labels["pid"] == str(pid) and labels["job"] == "leakwatch", labels
    got = [v for _, v in samples]
    assert got == sorted(got), "a leak's bytes fell: %s" % got
    rises = sum(1 for x, y in zip(got, got[1:]) if y > x)
    assert rises >= RISING_SAMPLES - 2, "rose only %d times: %s" % (rises, got)
    summary_bytes = leak_stack(scenario["summary"], pid)["outstanding_bytes"]
    assert got[-1] == summary_bytes, "Prometheus ends at %d, the summary says %d" % (
        got[-1], summary_bytes)
    # the stored counter of allocation calls ends where the summary does
    ((_, calls),) = scenario["alloc_calls"]
    calls = [v for _, v in calls]
    assert calls == sorted(calls), calls
    assert calls[-1] == process(scenario["summary"], pid)["totals"]["alloc_calls"]


def test_prometheus_growth_rate(scenario):
    """The stored growth rate of the leak reaches its real rate, 100000 B/s."""
    ((_, samples),) = scenario["rates"]
    best = max(v for _, v in samples)
    assert LEAK_RATE * 0.9 <= best <= LEAK_RATE * 1.1, \
        "growth rates stored: %s" % [v for _, v in samples]


# --------------------------------------------------------------------------
# Where it listens, and when it cannot


def listening(port):
    """Local addresses (hex, as /proc/net/tcp{,6} has them) listening on port."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, _, hexport = fields[1].rpartition(":")
            if int(hexport, 16) == port and fields[3] == "0A":
                found.append(addr)
    return found


def test_loopback_by_default(run):
    target = run.target("allocs")
    port = free_port()
    lw = run.leakwatch("-p", target.pid, "--json", "-", "--prometheus", str(port), INTERVAL)
    lw.wait_ready()
    assert listening(port) == ["0100007F"], listening(port)
    assert lw.stop() == EXIT_OK, lw.describe()


def test_explicit_ipv6_address(run):
    target = run.target("allocs")
    port = free_port()
    lw = run.leakwatch("-p", target.pid, "--json", "-", "--prometheus", "[::1]:%d" % port,
                       INTERVAL)
    lw.wait_ready()
    assert listening(port) == ["00000000000000000000000001000000"], listening(port)
    status, ctype, body = http_get("http://[::1]:%d/metrics" % port)
    assert status == 200 and "leakwatch_build_info" in body
    assert lw.stop() == EXIT_OK, lw.describe()


def test_port_in_use(run):
    target = run.target("allocs")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, out, err = run.leakwatch_fails("-p", target.pid, "--prometheus", str(port))
    assert rc == EXIT_RUNTIME, err
    line = one_line(err)
    assert str(port) in line, line
    assert "Address already in use" in line and "choose another port" in line, line
    assert out == []


def test_address_not_here(run):
    target = run.target("allocs")
    # TEST-NET-1 (RFC 5737): never a local address
    rc, out, err = run.leakwatch_fails("-p", target.pid, "--prometheus", "192.0.2.1:9477")
    assert rc == EXIT_USAGE, err
    assert "192.0.2.1:9477" in one_line(err) and "no such address" in one_line(err), err


@pytest.mark.parametrize("value", ["0", "65536", "::1:9477", "localhost:9477", "[::1]"])
def test_bad_values(run, value):
    target = run.target("allocs")
    rc, out, err = run.leakwatch_fails("-p", target.pid, "--prometheus", value)
    assert rc == EXIT_USAGE, err
    assert "bad --prometheus value '%s'" % value in one_line(err), err
