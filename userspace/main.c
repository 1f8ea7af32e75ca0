// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* leakwatch: attach, then poll the kernel's aggregates every interval and
 * report, until stopped, COUNT reports, or the last target exits. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "targets/cli.h"
#include "kernel/kernel.h"
#include "kernel/preflight.h"
#include "common/exitcodes.h"
#include "outputs/exports.h"
#include "targets/guardian.h"
#include "targets/memory.h"
#include "common/messages.h"
#include "targets/proc.h"
#include "stacks/pystacks.h"
#include "judge/report.h"
#include "judge/report_build.h"
#include "stacks/stacks.h"
#include "symbols/symbol_worker.h"
#include "symbols/symbolize.h"
#include "targets/targets.h"
#include "targets/watchlist.h"
#include "kernel/tracer.h"

/* How often the loop looks at signals and targets between reports. */
#define TICK_S 0.1

struct session {
	struct env env;
	struct watchlist watch;  /* every process watched */
	struct tracer *tracer;
	struct guardian guardian; /* continues held processes if leakwatch dies */
	struct symbolizer *sym;
	struct stack_table *stacks;
	struct unwinder *unwind;
	struct py_stacks *py;   /* Python frames of CPython targets */
	struct exports *exports;
	struct kernel_info kernel; /* what the kernel offers; the parts it refused */
	FILE *json;
	bool text;
	double start_s;
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static double now_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}


/* What the later stages do when the watched set changes (watchlist.h). */
static void on_mapped(void *ctx, pid_t pid)
{
	struct session *s = ctx;

	symbolizer__refresh(s->sym, pid);
}

static void on_forking(void *ctx, pid_t child, pid_t parent)
{
	struct session *s = ctx;

	/* before the child is let go: its first allocation has Python frames */
	py_stacks__fork(s->py, child, parent);
}

static void on_py_started(void *ctx, pid_t pid)
{
	struct session *s = ctx;

	/* its interpreter is up: walked from the program's first line */
	py_stacks__started(s->py, pid, now_s(CLOCK_MONOTONIC));
}

static void on_py_finalizing(void *ctx, pid_t pid)
{
	struct session *s = ctx;

	py_stacks__finalized(s->py, pid);
}

static void on_execed(void *ctx, pid_t pid)
{
	struct session *s = ctx;

	/* a new program: its mappings were read while it was held (on_held) */
	py_stacks__exec(s->py, pid);
}

static void on_running(void *ctx, pid_t pid)
{
	struct session *s = ctx;

	py_stacks__poll(s->py, pid, now_s(CLOCK_MONOTONIC));
}

/* A held process is about to run: its mappings read now give the CFI
 * unwinder its index before its first allocation, and the start of an
 * interpreter it may run is watched (pystacks.h). */
static void on_held(void *ctx, pid_t pid, bool new_image)
{
	struct session *s = ctx;

	if (new_image) {
		symbolizer__forget(s->sym, pid);
		py_stacks__exec(s->py, pid); /* a new program: no interpreter yet */
	}
	symbolizer__refresh(s->sym, pid);
	py_stacks__held(s->py, pid);
}

static int attach_all(struct session *s)
{
	struct tracer_opts topts = {
		.max_allocs = s->env.max_allocs,
		.max_stacks = s->env.max_stacks,
		.verbose = s->env.verbose,
		.mode = s->env.bench_floor == 1 ? TRACER_FLOOR_ENTRY :
			s->env.bench_floor == 2 ? TRACER_FLOOR_OWN :
			s->env.bench_floor == 3 ? TRACER_FLOOR_FILE : TRACER_TRACK,
		.sample_every = s->env.sample_every,
		.sample_bytes = s->env.sample_bytes,
		/* one age epoch per report */
		.age_epoch_ns = s->env.interval_s * 1e9,
		.unwind_cfi = s->env.unwind != UNWIND_FP,
		.walk_python = !s->env.no_python,
		.unwind_rows = s->env.unwind_rows,
		.verify_every = s->env.verify_every,
		.kernel = &s->kernel,
		.refuse_part = s->env.refuse_part,
	};
	char why[PATH_MAX + 256];
	int err;

	err = tracer__new(&s->tracer, &topts, why, sizeof(why));
	if (err) {
		lw_say("%s", why);
		return err;
	}
	/* what the verifier refused is off on this side too */
	if (tracer__dropped(s->tracer, LW_PART_CFI_UNWIND))
		s->env.unwind = UNWIND_FP;
	if (tracer__dropped(s->tracer, LW_PART_PYTHON_WALK)) {
		s->env.no_python = true;
		s->env.python_objects = false;
	}
	if (tracer__dropped(s->tracer, LW_PART_VERIFY_STACKS))
		s->env.verify_every = 0;
	/* before any process is held */
	err = guardian__start(&s->guardian, tracer__exec_watch_fd(s->tracer));
	if (err)
		lw_say("warning: no guardian process (%s): should leakwatch be killed while it "
		       "holds a process at fork or exec, that process stays stopped", strerror(-err));
	s->sym = symbolizer__new();
	s->stacks = s->sym ? stack_table__new(s->sym, s->tracer) : NULL;
	s->unwind = s->stacks ? unwinder__new(s->tracer, s->sym, s->env.unwind, s->env.unwind_rows,
					      s->env.verify_every > 0, s->env.verbose) : NULL;
	s->py = s->unwind ? py_stacks__new(s->tracer, s->env.verbose, s->env.no_python,
					   s->env.python_objects) : NULL;
	if (!s->py) {
		lw_say("out of memory");
		return LW_EXIT_FAILURE;
	}
	target__on_held(on_held, s);
	stack_table__set_python(s->stacks, s->py);
	s->watch = (struct watchlist){
		.tracer = s->tracer,
		.follow_forks = !s->env.no_follow_forks,
		.verbose = s->env.verbose,
		.cgroup = s->env.has_cgroup ? &s->env.cgroup : NULL,
		.hooks = { s, on_mapped, on_forking, on_py_started, on_py_finalizing, on_execed,
			   on_running },
	};
	err = watchlist__add_pids(&s->watch, s->env.pids, s->env.nr_pids);
	if (!err && s->watch.cgroup)
		err = watchlist__add_cgroup(&s->watch);
	if (!err && s->env.command)
		err = watchlist__start_command(&s->watch, s->env.command);
	if (err)
		return err;
	for (int i = 0; i < s->watch.nr; i++) {
		const struct target *t = &s->watch.targets[i];

		symbolizer__refresh(s->sym, t->pid);
		/* a running interpreter is walked from the first report on */
		py_stacks__poll(s->py, t->pid, now_s(CLOCK_MONOTONIC));
		if (s->env.verbose)
			target__describe(t, stderr);
		if (t->plan->new_return_probed)
			lw_say("warning: PID %d's operator new is in %s, which needs a return probe: "
			       "while watched, a std::bad_alloc it throws cannot be caught and ends "
			       "the program", t->pid, t->plan->new_return_probed);
	}
	if (s->env.verbose) {
		lw_say("stacks: unwinder %s; modules:", unwind_mode_name(s->env.unwind));
		unwinder__describe(s->unwind, stderr);
	}
	return 0;
}

static void banner(const struct session *s)
{
	fprintf(stderr, "leakwatch: watching");
	for (int i = 0; i < s->watch.nr; i++)
		fprintf(stderr, "%s PID %d (%s)", i ? "," : "", s->watch.targets[i].pid,
			s->watch.targets[i].comm);
	fprintf(stderr, " in %s; reports every %g s; Ctrl-C to stop\n",
		allocator__main_object(s->watch.targets[0].plan)->module, s->env.interval_s);
}

/* One report: built from the kernel's aggregates (judge/report_build.h),
 * then printed and exported. */
static int report(struct session *s, bool summary)
{
	struct report_inputs in = {
		.targets = s->watch.targets,
		.nr_targets = s->watch.nr,
		.tracer = s->tracer,
		.stacks = s->stacks,
		.sym = s->sym,
		.py = s->py,
		.unwind = s->unwind,
		.kernel = &s->kernel,
		.now_s = now_s(CLOCK_MONOTONIC),
		.interval_s = s->env.interval_s,
		.min_age_s = s->env.min_age_s,
		.top = s->env.top,
		.wide = s->env.wide,
		.sample_every = s->env.sample_every,
		.sample_bytes = s->env.sample_bytes,
	};
	struct report r;
	int err;

	/* liveness as of this report, so rss_bytes and alive agree */
	watchlist__poll(&s->watch);
	in.elapsed_s = in.now_s - s->start_s;
	err = report__build(&r, &in, summary);
	if (err)
		return err;
	if (s->text)
		report_text__print(stdout, &r);
	if (s->json)
		report_json__print(s->json, &r);
	exports__report(s->exports, &r);
	report__done(&r, s->stacks);
	if ((s->json && ferror(s->json)) || (s->text && ferror(stdout))) {
		lw_say("cannot write the report (output closed?); stopping");
		return LW_EXIT_FAILURE;
	}
	return 0;
}

static int run(struct session *s)
{
	long reports = 0;
	int err;

	s->start_s = now_s(CLOCK_MONOTONIC);
	banner(s);
	for (;;) {
		double due = s->start_s + (reports + 1) * s->env.interval_s;
		bool alive = true;

		while (!stop_signal && (alive = watchlist__poll(&s->watch))) {
			double left = due - now_s(CLOCK_MONOTONIC);

			if (left <= 0)
				break;
			if (left > TICK_S)
				left = TICK_S;
			/* a fork wakes it at once: the child waits, stopped */
			tracer__wait_events(s->tracer, (int)(left * 1000) + 1, watchlist__on_event,
					    &s->watch);
		}
		if (stop_signal || !alive)
			break;
		err = report(s, false);
		if (err)
			return err;
		if (++reports == s->env.count)
			break;
	}
	return report(s, true);
}

int main(int argc, char **argv)
{
	struct session s = { .guardian = { .fd = -1 } };
	/* SA_RESTART: a signal during a blocked write must not fail the write */
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	double t0;
	int err;

	/* leakwatch's own symbolizer process, started by symbol_worker.c */
	if (argc == 2 && !strcmp(argv[1], SYMBOL_WORKER_ARG))
		return symbol_worker__serve(3);
	env__parse(&s.env, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	err = preflight__privilege();
	if (!err)
		err = targets__preflight(s.env.pids, s.env.nr_pids, s.env.command);
	if (err)
		return err;
	kernel__probe(&s.kernel);
	for (int f = 0; f < KF_NR; f++)
		if (s.env.kernel_without & (1u << f))
			s.kernel.has[f] = false;
	if (s.env.check)
		return preflight__check(&s.kernel, s.env.max_allocs, s.env.max_stacks,
					s.env.verify_every, s.env.refuse_part);

	s.text = !s.env.json_path || strcmp(s.env.json_path, "-");
	if (s.env.json_path) {
		s.json = strcmp(s.env.json_path, "-") ? fopen(s.env.json_path, "we") : stdout;
		if (!s.json) {
			lw_say("cannot write --json %s: %s", s.env.json_path, strerror(errno));
			return LW_EXIT_USAGE;
		}
	}
	err = exports__open(&s.exports, &s.env);
	if (err) {
		exports__close(s.exports);
		return err;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	t0 = now_s(CLOCK_MONOTONIC);
	err = attach_all(&s);
	if (s.env.verbose && !err)
		lw_say("attached in %.1f ms (BPF load included)", (now_s(CLOCK_MONOTONIC) - t0) * 1e3);
	if (!err)
		err = run(&s);

	/* detach before anything else: the target runs unprobed from here */
	t0 = now_s(CLOCK_MONOTONIC);
	tracer__free(s.tracer);
	if (s.env.verbose)
		lw_say("detached in %.1f ms", (now_s(CLOCK_MONOTONIC) - t0) * 1e3);
	/* what was held is continued (tracer__free): a clean end */
	guardian__stand_down(&s.guardian);
	exports__close(s.exports);
	stack_table__free(s.stacks);
	py_stacks__free(s.py);
	unwinder__free(s.unwind);
	symbolizer__free(s.sym);
	watchlist__free(&s.watch);
	if (s.json && s.json != stdout)
		fclose(s.json);
	return err;
}
