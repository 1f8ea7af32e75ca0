"""Commands leakwatch starts itself: `-c "CMD ARGS"` (split on blanks) and
`[INTERVAL [COUNT]] -- CMD ARG...` (exact argv).

The command is held until the probes are in, so leaks made by a
constructor and at the very start of main are counted; when it exits
leakwatch prints the summary and exits 0, with the command's exit status
(and the signal that killed it) in processes[]. The target,
tests/targets/exitcode.c, leaks sizes taken from its argv, so the numbers
show which arguments arrived. A command that does not exist: exit 2 and
one line on stderr.
"""

import os
import subprocess

import pytest

from conftest import (EXIT_OK, EXIT_TARGET, EXIT_TIMEOUT_S, INTERVAL, TARGET_SOURCES, TARGETS,
                      by_function, function_names, outstanding_of, process, site)

EXE = str(TARGETS / "exitcode")
CTOR = (333, 1)  # leak_in_ctor_site, before main


def run_command(run, *args):
    """leakwatch with JSON on stdout and every stack, until it ends by
    itself; returns (leakwatch, summary, the one process)."""
    lw = run.leakwatch("--json", "-", "-T", "100", *args)
    rc = lw.wait_exit(EXIT_TIMEOUT_S)
    if rc is None:
        lw.kill()
        pytest.fail("leakwatch still running %.0f s after starting a short command: %s" % (
            EXIT_TIMEOUT_S, lw.describe()), pytrace=False)
    assert rc == EXIT_OK, lw.describe()
    summary = lw.summary()
    assert len(summary["processes"]) == 1, summary["processes"]
    p = summary["processes"][0]
    assert p["alive"] is False, p
    return lw, summary, p


def check_leaks(summary, pid, at_start, from_argv):
    """The three sites of exitcode.c, exact, with their callers (symbolized
    though the command may be gone), and the totals: nothing else."""
    callers = {"leak_in_ctor_site": ("leak_in_ctor_site", "leak_in_ctor"),
               "leak_at_start": ("leak_at_start", "main"),
               "leak_argv": ("leak_argv", "main")}
    for function, want in (("leak_in_ctor_site", CTOR), ("leak_at_start", at_start),
                           ("leak_argv", from_argv)):
        assert outstanding_of(summary, function, pid) == want, (function, want, {
            k: (v["bytes"], v["allocs"]) for k, v in by_function(summary, pid).items()})
        if want[0]:
            for stack in site(summary, function, pid)["stacks"]:
                assert tuple(function_names(stack)[:2]) == callers[function], \
                    function_names(stack)
    want = tuple(a + b + c for a, b, c in zip(CTOR, at_start, from_argv))
    totals = process(summary, pid)["totals"]
    assert (totals["outstanding_bytes"], totals["outstanding_allocs"]) == want, totals
    assert summary["totals"]["lost_events"] == 0, summary["totals"]["lost"]


def argv_leak(*args):
    """(bytes, allocations) leak_argv leaks for these EXTRA arguments."""
    return (sum(len(a.encode()) + 1 for a in args), len(args))


def test_dash_c_splits_on_blanks(run):
    """-c "exitcode 1000 7 3 400 0 one  two": args split on blanks (runs of
    them too), 7 x 1000 B leaked at the start of main, exit status 3."""
    if " " in EXE:
        pytest.skip("the build directory's path has a blank; -c cannot name it")
    lw, summary, p = run_command(run, "-c", "%s 1000  7 3   400 0 one two" % EXE, INTERVAL)
    assert p["comm"] == "exitcode", p
    assert p.get("exit_status") == 3, p
    assert "exit_signal" not in p or p["exit_signal"] in (None, 0), p
    check_leaks(summary, p["pid"], (7000, 7), argv_leak("one", "two"))


def test_double_dash_exact_argv(run):
    """INTERVAL -- exitcode ... "two words" "" x: each argument as given,
    blanks and empty ones included."""
    extra = ["two words", "", "x"]
    lw, summary, p = run_command(run, INTERVAL, "--", EXE, "1234", "3", "0", "400", "0",
                                 *extra)
    assert p["comm"] == "exitcode", p
    assert p.get("exit_status") == 0, p
    check_leaks(summary, p["pid"], (3 * 1234, 3), argv_leak(*extra))


def test_interval_and_count_before_double_dash(run):
    """INTERVAL COUNT -- CMD: COUNT reports, then the summary and exit 0,
    though the command still runs (alive, no exit status yet). The command
    is left running (it holds leakwatch's stdout open: the test ends it)."""
    lw = run.leakwatch("--json", "-", "-T", "100", "0.2", "3", "--", EXE, "500", "2", "0",
                       "5000", "0")
    try:
        rc = lw.proc.wait(EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        rc = None
    lw.end_commands()
    assert rc == EXIT_OK, lw.describe()
    assert lw.wait_exit(5.0) == EXIT_OK
    summary = lw.summary()
    assert [r["type"] for r in lw.reports()] == ["interval"] * 3 + ["summary"]
    (p,) = summary["processes"]
    assert p["alive"] is True and p.get("exit_status") is None, p
    assert outstanding_of(summary, "leak_at_start", p["pid"]) == (1000, 2)


@pytest.mark.parametrize("sig", [15, 9])
def test_exit_signal(run, sig):
    """A command killed by a signal: exit_signal S, exit_status 128 + S."""
    lw, summary, p = run_command(run, INTERVAL, "--", EXE, "100", "1", "0", "400", str(sig))
    assert p.get("exit_signal") == sig, p
    assert p.get("exit_status") == 128 + sig, p
    check_leaks(summary, p["pid"], (100, 1), (0, 0))


def test_leaks_before_any_pause_are_counted(run):
    """No pause at all: the command leaks and exits at once; its leaks are
    counted (the probes were in before main), with their sites."""
    lw, summary, p = run_command(run, INTERVAL, "--", EXE, "4096", "5", "7")
    assert p.get("exit_status") == 7, p
    check_leaks(summary, p["pid"], (5 * 4096, 5), (0, 0))


def test_exec_is_followed(run):
    """`-- env exitcode ...`: env execs the target in the same process; the
    program watched is the one exec'd (its comm, its leaks, its status)."""
    lw, summary, p = run_command(run, INTERVAL, "--", "env", EXE, "1000", "7", "3", "400")
    assert p.get("exit_status") == 3, p
    assert p["comm"] == "exitcode", "the exec'd program is not what is watched: %r" % p
    check_leaks(summary, p["pid"], (7000, 7), (0, 0))


@pytest.mark.parametrize("how", ["dash_c", "double_dash", "double_dash_path"])
def test_nonexistent_command(run, how):
    name = "no-such-command-%d" % os.getpid()
    args = {
        "dash_c": ["-c", name + " arg"],
        "double_dash": ["--", name, "arg"],
        "double_dash_path": ["--", os.path.join(str(TARGETS), name)],
    }[how]
    rc, out, err = run.leakwatch_fails("--json", "-", INTERVAL, *args)
    assert len(err) == 1 and err[0].strip(), "want one stderr line, got %r" % err
    assert rc == EXIT_TARGET, "exit %r: %s" % (rc, err)
    assert name in err[0], "the message does not name the command: %r" % err[0]


def test_command_not_executable(run):
    """A file that exists but cannot be executed (a source file): exit 2 and
    one line naming it, as for a command that does not exist."""
    path = str(TARGET_SOURCES / "exitcode.c")
    rc, out, err = run.leakwatch_fails("--json", "-", INTERVAL, "--", path)
    assert len(err) == 1 and err[0].strip(), "want one stderr line, got %r" % err
    assert rc == EXIT_TARGET, "exit %r: %s" % (rc, err)
    assert "exitcode.c" in err[0], "the message does not name the command: %r" % err[0]
