"""Failures: each is one non-empty line on stderr and a fixed exit status
(2 target problem, 3 missing privilege, 64 bad usage), and the target, if
any, is left running and unharmed."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import (EXIT_PRIVILEGE, EXIT_TARGET, EXIT_USAGE, INTERVAL, LEAKWATCH, TARGETS,
                      one_line, unused_pid)

NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]




def test_no_such_pid(run):
    pid = unused_pid()
    rc, _, err = run.leakwatch_fails("-p", pid, "--json", "-", INTERVAL)
    line = one_line(err)
    assert rc == EXIT_TARGET, "exit %r: %s" % (rc, line)
    assert str(pid) in line, "the message does not name the PID: %r" % line


def test_kernel_thread(run):
    try:
        comm = Path("/proc/2/comm").read_text().strip()
    except OSError:
        comm = None
    if comm != "kthreadd":
        pytest.skip("PID 2 is not kthreadd here (%r)" % comm)
    rc, _, err = run.leakwatch_fails("-p", 2, "--json", "-", INTERVAL)
    line = one_line(err)
    assert rc == EXIT_TARGET, "exit %r: %s" % (rc, line)


def test_static_stripped_target(run):
    """malloc is in the executable but nothing names it: exit 2, and the
    target still runs its workload afterwards."""
    target = run.target("static_stripped")
    rc, _, err = run.leakwatch_fails("-p", target.pid, "--json", "-", INTERVAL)
    line = one_line(err)
    assert rc == EXIT_TARGET, "exit %r: %s" % (rc, line)
    assert target.alive()
    assert target.go() == {"leaked": 1000}
    assert target.close() == 0


BAD_USAGE = {
    "interval_abc": ["{pid}", "abc"],
    "count_abc": ["{pid}", INTERVAL, "abc"],
    "top_zero": ["{pid}", "-T", "0", INTERVAL],
    "pid_abc": ["abc", INTERVAL],
    "unknown_option": ["{pid}", "--no-such-option", INTERVAL],
    "json_without_file": ["{pid}", INTERVAL, "--json"],
    "granule_without_growth": ["{pid}", "--granule", "64K", INTERVAL],
    "granule_not_power_of_two": ["{pid}", "--growth", "--granule", "3000", INTERVAL],
    "zoom_without_growth": ["{pid}", "--zoom", "5", INTERVAL],
    "zoom_per_without_zoom": ["{pid}", "--growth", "--zoom-per", "5", INTERVAL],
    "growth_sampled": ["{pid}", "--growth", "--sample-every", "10", INTERVAL],
    "all_with_pid": ["{pid}", "--growth", "--all", INTERVAL],
    "all_without_growth": ["{pid}", "--all", INTERVAL],
}


@pytest.mark.parametrize("case", sorted(BAD_USAGE))
def test_bad_usage(run, case):
    target = run.target("allocs")
    args = [a.format(pid=target.pid) for a in BAD_USAGE[case]]
    rc, _, err = run.leakwatch_fails("-p", *args)
    line = one_line(err)
    assert rc == EXIT_USAGE, "leakwatch -p %s: exit %r: %s" % (" ".join(args), rc, line)
    assert target.alive()


@pytest.mark.parametrize("owner", ["target_of_same_user", "target_of_root"])
def test_not_root(run, owner):
    """As nobody, without capabilities: exit 3, whoever owns the target."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) not found")
    prefix = [setpriv, *NOBODY]
    for exe in (LEAKWATCH, TARGETS / "allocs"):
        probe = subprocess.run([*prefix, "test", "-x", str(exe)], check=False)
        if probe.returncode != 0:
            pytest.skip("user nobody cannot execute %s (a parent directory is closed)"
                        % os.path.relpath(exe))
    target = run.target("allocs", prefix=prefix if owner == "target_of_same_user" else ())
    rc, _, err = run.leakwatch_fails("-p", target.pid, "--json", "-", INTERVAL,
                                     prefix=prefix)
    line = one_line(err)
    assert rc == EXIT_PRIVILEGE, "exit %r: %s" % (rc, line)
    assert target.alive()
