"""The running kernel: leakwatch --check says what it runs and what it
leaves out, every program loads within the verification budget (a quarter
of the verifier's 1M instructions, 384 of its 512 bytes of stack: the room
a newer or older verifier needs), and the report carries the same record.
These are the verifier's own counts for this kernel, deterministic, not
times. `make test-kernels` runs this file under Debian's 6.1 and 6.12."""

import os
import re
import subprocess

import pytest

from conftest import EXIT_OK, INTERVAL, LEAKWATCH, TARGETS

MAX_VERIFIED_INSNS = 250000
MAX_STACK_BYTES = 384
FEATURES = ["btf", "bpf_loop", "task_storage", "uprobe_multi", "send_signal_task", "find_vma"]
# the programs every tracking run loads, and those --check loads besides
CORE_PROGRAMS = {"alloc_enter", "alloc_exit"}
GROWTH_PROGRAMS = {"growth_fault_user", "growth_fault_kernel", "growth_syscall",
                   "growth_syscall_exit"}
PROGRAM_LINE = re.compile(r"^  program (\S+) +loads: (\d+) instructions verified .*, "
                          r"stack (\d+) of 512 bytes$")


def check():
    out = subprocess.run([str(LEAKWATCH), "--check"], capture_output=True, text=True,
                         timeout=120)
    return out.returncode, out.stdout.splitlines(), out.stderr


def test_check_loads_within_budget():
    rc, lines, err = check()
    assert rc == EXIT_OK, (rc, lines, err)
    programs = {}
    for line in lines:
        m = PROGRAM_LINE.match(line)
        if m:
            programs[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    assert CORE_PROGRAMS | GROWTH_PROGRAMS <= set(programs), lines
    for name, (insns, stack) in programs.items():
        # zero would mean the figure was not read, not that it is small
        assert 0 < insns <= MAX_VERIFIED_INSNS, (name, insns)
        assert 0 < stack <= MAX_STACK_BYTES, (name, stack)


def test_check_names_the_kernel_and_its_features():
    rc, lines, _ = check()
    assert rc == EXIT_OK
    release = os.uname().release
    assert re.match(r"^kernel %s: tier (full|reduced|core)$" % re.escape(release), lines[0]), \
        lines[0]
    has = {}
    for line in lines[1:]:
        m = re.match(r"^  (\S+) +(yes|no)(: .+)?$", line)
        if m:
            has[m.group(1)] = m.group(2) == "yes"
            # a missing feature says what it costs
            assert m.group(2) == "yes" or m.group(3), line
    assert sorted(has) == sorted(FEATURES), has
    left_out = [line for line in lines if line.startswith("  left out:")]
    tier = lines[0].rsplit(" ", 1)[1]
    assert (tier == "full") == (all(has.values()) and not left_out), (tier, has, left_out)


def test_report_carries_the_kernel_record(run):
    """The same record in the JSON lines, and the run itself exact: the
    target's leak of 3 x 1234 B is there whatever the tier."""
    rc, lines, _ = check()
    has = {m.group(1): m.group(2) == "yes"
           for m in (re.match(r"^  (\S+) +(yes|no)", line) for line in lines) if m}
    lw = run.leakwatch("--json", "-", INTERVAL, "--", str(TARGETS / "exitcode"), "1234", "3",
                       "0", "400", "0")
    assert lw.wait_exit(60) == EXIT_OK, lw.describe()
    summary = lw.summary()
    kernel = summary["kernel"]
    assert kernel["release"] == os.uname().release, kernel
    assert kernel["features"] == has, (kernel, has)
    assert kernel["tier"] in ("full", "reduced", "core"), kernel
    assert kernel["dropped"] == [], kernel
    leaked = sum(s["outstanding_bytes"] for s in summary["stacks"]
                 if any(f.get("function") == "leak_at_start" for f in s["frames"]))
    assert leaked == 3 * 1234, summary["stacks"]


def run_exitcode(run, *options):
    """exitcode under leakwatch with options: the summary, after checking
    its leak of 3 x 1234 B at leak_at_start, exact."""
    lw = run.leakwatch("--json", "-", *options, INTERVAL, "--", str(TARGETS / "exitcode"),
                       "1234", "3", "0", "400", "0")
    assert lw.wait_exit(60) == EXIT_OK, lw.describe()
    summary = lw.summary()
    leaked = [(s["outstanding_bytes"], s["outstanding_allocs"]) for s in summary["stacks"]
              if s["frames"] and s["frames"][0].get("function") == "leak_at_start"]
    assert leaked == [(3 * 1234, 3)], summary["stacks"]
    return lw, summary


def test_without_uprobe_multi(run):
    """A uprobe per function, as on Linux 6.1: the same bytes, and the
    report says which feature was taken as missing."""
    lw, summary = run_exitcode(run, "--kernel-without", "uprobe_multi")
    kernel = summary["kernel"]
    assert kernel["features"]["uprobe_multi"] is False, kernel
    assert kernel["tier"] == "reduced", kernel


# the parts a verifier may refuse, and what shows they are gone
REFUSABLE = {
    "python_walk": [],
    "cfi_unwind": [],
    "verify_stacks": ["--verify-stacks", "1"],
    "follow_forks_execs": [],
}


@pytest.mark.parametrize("part", sorted(REFUSABLE))
def test_refused_part_is_left_out(run, part):
    """The verifier refuses one part (made to, by a test-only switch that
    reads through a number): leakwatch says so in one line, leaves that
    part out, and counts the same bytes with the rest."""
    lw, summary = run_exitcode(run, "--refuse", part, *REFUSABLE[part])
    (dropped,) = summary["kernel"]["dropped"]
    assert dropped["feature"] == part, dropped
    # the verifier's own words, whatever its version
    assert "invalid mem access" in dropped["reason"] or "scalar" in dropped["reason"], dropped
    warnings = [line for line in lw.err.snapshot() if "refused " + part in line]
    assert len(warnings) == 1, lw.describe()
    assert summary["kernel"]["tier"] != "full", summary["kernel"]
    # the loader's side of the part is off too
    if part == "cfi_unwind":
        assert summary["unwind"]["mode"] == "fp", summary["unwind"]
    assert not [line for line in lw.err.snapshot() if "unwind table" in line], lw.describe()


def test_refused_command_hold_ends_a_command_run(run):
    """Without the program that holds a command at its start, a command
    cannot be watched from its first instruction: one line says so and
    what to do instead, exit 1."""
    rc, _, err = run.leakwatch_fails("--refuse", "command_hold", INTERVAL, "--",
                                     str(TARGETS / "exitcode"), "10", "1", "0", "400", "0")
    assert rc == 1, err
    assert any("-p PID" in line for line in err), err
