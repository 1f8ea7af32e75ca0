// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "session.h"
#include "common/exitcodes.h"
#include "common/messages.h"
#include "judge/groups.h"
#include "judge/report.h"
#include "judge/report_build.h"
#include "judge/zoom.h"
#include "kernel/tracer.h"
#include "outputs/exports.h"
#include "outputs/report_json.h"
#include "outputs/report_text.h"
#include "stacks/pystacks.h"
#include "stacks/stacks.h"
#include "symbols/symbolize.h"
#include "targets/targets.h"

static double now_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}


double session__now(void)
{
	return now_s(CLOCK_MONOTONIC);
}

int session__open_outputs(struct session *s)
{
	const char *path = s->env.json_path;
	int err;

	s->text = !path || strcmp(path, "-");
	if (path) {
		s->json = strcmp(path, "-") ? fopen(path, "we") : stdout;
		if (!s->json) {
			lw_say("cannot write --json %s: %s", path, strerror(errno));
			return LW_EXIT_USAGE;
		}
	}
	err = exports__open(&s->exports, &s->env.out);
	if (err) {
		exports__close(s->exports);
		s->exports = NULL;
	}
	return err;
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
	py_stacks__started(s->py, pid, session__now());
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

	py_stacks__poll(s->py, pid, session__now());
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

int session__attach(struct session *s)
{
	struct tracer_opts topts = {
		.max_allocs = s->env.max_allocs,
		.max_stacks = s->env.max_stacks,
		.verbose = s->env.verbose,
		.mode = s->env.bench_floor == 1 ? TRACER_FLOOR_ENTRY :
			s->env.bench_floor == 2 ? TRACER_FLOOR_OWN :
			s->env.bench_floor == 3 ? TRACER_FLOOR_FILE :
			s->env.growth ? TRACER_GROWTH : TRACER_TRACK,
		.growth_granule = s->env.granule,
		.zoom = s->env.zoom_s > 0,
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
	if (s->stacks)
		stack_table__set_since(s->stacks, s->env.since_s);
	s->unwind = s->stacks ? unwinder__new(s->tracer, s->sym, s->env.unwind, s->env.unwind_rows,
					      s->env.verify_every > 0, s->env.verbose) : NULL;
	s->py = s->unwind ? py_stacks__new(s->tracer, s->env.verbose, s->env.no_python,
					   s->env.python_objects) : NULL;
	if (s->py && s->env.group_by != GROUP_BY_STACK)
		s->groups = group_table__new(s->env.group_by);
	if (s->py && s->env.zoom_s > 0)
		s->zoom = zoomer__new(s->env.zoom_s, s->env.zoom_per ? s->env.zoom_per : 50);
	if (!s->py || (s->env.group_by != GROUP_BY_STACK && !s->groups) ||
	    (s->env.zoom_s > 0 && !s->zoom)) {
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
		py_stacks__poll(s->py, t->pid, session__now());
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

void session__banner(const struct session *s)
{
	enum { NAMED = 8 }; /* a cgroup, or --all, may hold hundreds */

	fprintf(stderr, "leakwatch: watching");
	for (int i = 0; i < s->watch.nr && i < NAMED; i++)
		fprintf(stderr, "%s PID %d (%s)", i ? "," : "", s->watch.targets[i].pid,
			s->watch.targets[i].comm);
	if (s->watch.nr > NAMED)
		fprintf(stderr, " and %d more processes", s->watch.nr - NAMED);
	if (s->env.growth)
		fprintf(stderr, " for growth (page faults, %lu KiB granules)", s->env.granule >> 10);
	else
		fprintf(stderr, " in %s", allocator__main_object(s->watch.targets[0].plan)->module);
	fprintf(stderr, "; reports every %g s; Ctrl-C to stop\n", s->env.interval_s);
}

/* One report: built from the kernel's aggregates (judge/report_build.h),
 * then printed and exported. */
int session__report(struct session *s, bool summary)
{
	struct report_inputs in = {
		.targets = s->watch.targets,
		.nr_targets = s->watch.nr,
		.tracer = s->tracer,
		.stacks = s->stacks,
		.groups = s->groups,
		.sym = s->sym,
		.py = s->py,
		.unwind = s->unwind,
		.kernel = &s->kernel,
		.now_s = session__now(),
		.interval_s = s->env.interval_s,
		.min_age_s = s->env.min_age_s,
		.since_s = s->env.since_s,
		.top = s->env.out.top,
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
	if (s->zoom) {
		/* windows open on what grows now, and close when over */
		if (!summary)
			zoomer__step(s->zoom, s->tracer, s->watch.targets, s->watch.nr, &r,
				     r.elapsed_s, s->env.verbose);
		for (int i = 0; i < r.nr_procs; i++)
			r.procs[i].zoom = zoomer__window(s->zoom, r.procs[i].pid);
	}
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


void session__close(struct session *s)
{
	double t0 = session__now();

	tracer__free(s->tracer);
	zoomer__free(s->zoom);
	if (s->env.verbose)
		lw_say("detached in %.1f ms", (session__now() - t0) * 1e3);
	/* what was held is continued (tracer__free): a clean end */
	guardian__stand_down(&s->guardian);
	exports__close(s->exports);
	stack_table__free(s->stacks);
	group_table__free(s->groups);
	py_stacks__free(s->py);
	unwinder__free(s->unwind);
	symbolizer__free(s->sym);
	watchlist__free(&s->watch);
	if (s->json && s->json != stdout)
		fclose(s->json);
}
