#!/bin/sh
# What test-kernels runs on each kernel (tests/kernels/run.sh), inside its
# guest or in place: the kernel's tier and every program's verification
# figures, then the core integration tests, exact to the byte.
#   guest.sh REPO BUILD
set -u
repo=$1 build=$2
cd "$repo" || exit 1
uname -r
"$build/leakwatch" --check || exit 1
# the core: the budget and the kernel record; exact bytes of each allocator
# function; threads; a target that exits; a C call chain without frame
# pointers; fork following; -- with arguments; a Python line; CPython's
# collections at its USDT probes and at its collector function; --growth.
# Verbose, so a guest that runs out of time shows the test it was in; a test
# still running after 150 s prints where every thread of pytest is.
exec /usr/bin/python3 -m pytest -v -p no:cacheprovider -rfEs --durations=5 --color=no \
	-o faulthandler_timeout=150 \
	tests/integration/test_kernel.py \
	tests/integration/test_allocs.py \
	tests/integration/test_churn_threads.py::test_threads_leak_exact \
	tests/integration/test_lifecycle.py::test_exiting_target_ends_the_run \
	tests/integration/test_cfi.py::test_c_chains_cfi \
	tests/integration/test_forks.py::test_workers_followed_from_their_fork \
	tests/integration/test_commands.py::test_double_dash_exact_argv \
	tests/integration/test_python.py::test_debian_names_the_leaking_lines \
	tests/integration/test_python_gc.py::test_counts_and_pauses_match_the_interpreter \
	tests/integration/test_python_gc.py::test_growing_uncollectable_garbage \
	"tests/integration/test_python_gc.py::test_each_version_at_the_collector_function[3.12.1]" \
	tests/integration/test_growth.py \
	--deselect tests/integration/test_growth.py::test_exporters_in_growth_mode
