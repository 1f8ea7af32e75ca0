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
#include "kernel/tracer.h"

/* How often the loop looks at signals and targets between reports. */
#define TICK_S 0.1

/* Followed children beyond this are let run unwatched (and said once). */
#define MAX_TARGETS 4096

struct session {
	struct env env;
	struct target *targets; /* the -p processes, the command, then children */
	int nr_targets, cap_targets;
	bool said_too_many;
	pid_t *unwatchable;     /* cgroup members that could not be attached */
	size_t nr_unwatchable;
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


/* A new slot at the end of the targets; NULL when full or out of memory. */
static struct target *new_target(struct session *s)
{
	if (s->nr_targets == s->cap_targets) {
		int cap = s->cap_targets ? s->cap_targets * 2 : 64;
		struct target *v;

		if (cap > MAX_TARGETS || !(v = realloc(s->targets, cap * sizeof(*v))))
			return NULL;
		s->targets = v;
		s->cap_targets = cap;
	}
	return &s->targets[s->nr_targets];
}

static struct target *target_of(struct session *s, pid_t pid)
{
	for (int i = 0; i < s->nr_targets; i++)
		if (s->targets[i].pid == pid)
			return &s->targets[i];
	return NULL;
}

/* A watched process forked: its child, stopped, is watched too. */
static void on_event(const struct lw_event *e, void *ctx)
{
	struct session *s = ctx;
	char why[PATH_MAX + 256];
	struct target *parent, *t;

	if (e->kind == LW_EVENT_MAPS) {
		/* the unwinder met code it has no table for (dlopen) */
		if (target_of(s, e->pid))
			symbolizer__refresh(s->sym, e->pid);
		return;
	}
	if (e->kind == LW_EVENT_PYMAIN) {
		/* its interpreter is up: walked from the program's first line */
		py_stacks__started(s->py, e->pid, now_s(CLOCK_MONOTONIC));
		tracer__continue(s->tracer, e->pid);
		return;
	}
	if (e->kind == LW_EVENT_FINALIZE) {
		/* the interpreter starts freeing what the program held: its
		 * probes go, so its counts stay as they are now */
		tracer__detach_pid(s->tracer, e->pid);
		py_stacks__finalized(s->py, e->pid);
		if (s->env.verbose)
			lw_say("PID %d: its interpreter is finalizing: counted as it was until now",
			       e->pid);
		tracer__continue(s->tracer, e->pid); /* (its held mark goes, held or not) */
		return;
	}
	if (e->kind != LW_EVENT_FORK)
		return; /* execs are followed from the targets' own polling */
	parent = target_of(s, e->parent);
	t = parent && !target_of(s, e->pid) ? new_target(s) : NULL;
	if (!t) {
		if (parent && !target_of(s, e->pid) && !s->said_too_many) {
			lw_say("warning: more than %d processes to watch; PID %d and later children "
			       "run unwatched", MAX_TARGETS, e->pid);
			s->said_too_many = true;
		}
		tracer__unwatch(s->tracer, e->pid); /* not at its exec either */
		kill(e->pid, SIGCONT);
		return;
	}
	/* the parent may have moved with the array */
	parent = target_of(s, e->parent);
	/* before the child is let go: its first allocation has Python frames */
	py_stacks__fork(s->py, e->pid, e->parent);
	if (target__adopt_child(t, e->pid, parent, s->tracer, why, sizeof(why))) {
		/* the Python allocator's probes, if any; and not held at exec */
		tracer__detach_pid(s->tracer, e->pid);
		tracer__unwatch(s->tracer, e->pid);
		if (s->env.verbose)
			lw_say("child PID %d of PID %d not watched: %s", e->pid, e->parent, why);
		return;
	}
	t->ran_unwatched = !e->held;
	s->nr_targets++;
	symbolizer__refresh(s->sym, t->pid);
	if (s->env.verbose)
		lw_say("watching PID %d (%s), forked by PID %d%s", t->pid, t->comm, t->parent,
		       e->held ? "" : " (not held at fork: its first calls may be missed)");
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
	for (int i = 0; i < s->env.nr_pids; i++) {
		struct target *t = new_target(s);
		bool dup = false;

		if (!t) {
			lw_say("out of memory");
			return LW_EXIT_FAILURE;
		}
		err = target__attach_pid(t, s->env.pids[i], s->tracer, !s->env.no_follow_forks,
					 why, sizeof(why));
		if (err) {
			lw_say("%s", why);
			return err;
		}
		for (int j = 0; j < s->nr_targets; j++)
			dup |= s->targets[j].pid == t->pid;
		if (!dup)
			s->nr_targets++;
	}
	if (s->env.has_cgroup) {
		/* its processes now, each like a -p PID; one it cannot watch (a
		 * kernel thread, no allocator, gone) is skipped, not fatal */
		const struct lw_cgroup *cg = &s->env.cgroup;
		int found = 0, skipped = 0, watched = 0, given = 0;
		pid_t *pids, self = getpid();
		size_t n;

		err = cgroup__members(cg, &pids, &n);
		if (err) {
			lw_say("cannot list the processes of cgroup %s: %s", cg->dir, strerror(-err));
			return LW_EXIT_TARGET;
		}
		if (s->env.verbose)
			lw_say("cgroup %s (%s%s%s, id %llu): %zu processes", cg->dir,
			       cg->container[0] ? "container " : "", cg->container[0] ? cg->container : "",
			       cg->container[0] ? "" : cg->path, (unsigned long long)cg->id, n);
		if (cg->v1)
			lw_say("note: container %.12s is in the cgroup v1 hierarchy %s only (hybrid "
			       "host): its processes are read there", cg->container, cg->v1_controllers);
		for (size_t i = 0; i < n; i++) {
			struct target *t;
			bool dup = false;
			pid_t inner;

			/* leakwatch and its own helpers, when run inside the cgroup */
			if (pids[i] == self || proc__ppid(pids[i]) == self)
				continue;
			found++;
			for (int j = 0; j < s->nr_targets; j++)
				dup |= s->targets[j].pid == pids[i];
			if (dup) {
				watched++, given++; /* given with -p too */
				continue;
			}
			t = new_target(s);
			if (!t)
				continue; /* said below */
			err = target__attach_pid(t, pids[i], s->tracer, !s->env.no_follow_forks,
						 why, sizeof(why));
			if (err == LW_EXIT_TARGET) {
				if (s->env.verbose)
					lw_say("cgroup: skipping PID %d: %s", pids[i], why);
				skipped++;
				continue;
			}
			if (err) {
				lw_say("%s", why);
				free(pids);
				return err;
			}
			t->from_cgroup = true;
			inner = proc__ns_pid(t->pid);
			if (s->env.verbose && inner != t->pid)
				lw_say("cgroup: PID %d (%s) is PID %d in its namespace", t->pid, t->comm, inner);
			s->nr_targets++;
			watched++;
		}
		free(pids);
		if (found == skipped) {
			lw_say("%s %s: %s", cg->container[0] ? "container" : "cgroup",
			       cg->container[0] ? cg->container : cg->dir,
			       found ? "none of its processes can be watched (kernel threads, no "
			       "allocator found, or gone; -v says why for each)" :
			       "it has no processes: start the service first, or give another cgroup");
			return LW_EXIT_TARGET;
		}
		if (skipped)
			lw_say("cgroup %s: watching %d of its %d processes; %d skipped (kernel threads, "
			       "no allocator found, or gone%s)", cg->dir, watched, found, skipped,
			       s->env.verbose ? "" : "; -v says why for each");
		if (found - skipped > watched)
			lw_say("cgroup %s: watching the first %d of its %d processes (by PID): "
			       "leakwatch watches at most %d processes", cg->dir, watched, found,
			       MAX_TARGETS);
	}
	if (s->env.command) {
		struct target *t = new_target(s);

		if (!t) {
			lw_say("out of memory");
			return LW_EXIT_FAILURE;
		}
		err = target__start_command(t, s->env.command, s->tracer, !s->env.no_follow_forks,
					    why, sizeof(why));
		if (err) {
			lw_say("%s", why);
			return err;
		}
		s->nr_targets++;
	}
	for (int i = 0; i < s->nr_targets; i++) {
		const struct target *t = &s->targets[i];

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
	for (int i = 0; i < s->nr_targets; i++)
		fprintf(stderr, "%s PID %d (%s)", i ? "," : "", s->targets[i].pid, s->targets[i].comm);
	fprintf(stderr, " in %s; reports every %g s; Ctrl-C to stop\n",
		allocator__main_object(s->targets[0].plan)->module, s->env.interval_s);
}

static bool unwatchable(const struct session *s, pid_t pid)
{
	for (size_t i = 0; i < s->nr_unwatchable; i++)
		if (s->unwatchable[i] == pid)
			return true;
	return false;
}

/*
 * The -C cgroup now: processes that entered it since (by exec from outside,
 * or moved in) are watched from here on, their first moments missed and
 * counted; those that left it are detached, their numbers final. Children
 * of watched processes are already followed from their fork. False once
 * the cgroup is gone.
 */
static bool rescan_cgroup(struct session *s)
{
	char why[PATH_MAX + 256];
	pid_t *pids, self = getpid();
	size_t n;

	/* forks first: a child stopped at its fork is adopted, not rescanned */
	tracer__wait_events(s->tracer, 0, on_event, s);
	if (cgroup__members(&s->env.cgroup, &pids, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		struct target *t;

		if (pids[i] == self || proc__ppid(pids[i]) == self || target_of(s, pids[i]) ||
		    unwatchable(s, pids[i]))
			continue;
		t = new_target(s);
		if (!t)
			break;
		if (target__attach_pid(t, pids[i], s->tracer, !s->env.no_follow_forks, why,
				       sizeof(why))) {
			pid_t *v = realloc(s->unwatchable, (s->nr_unwatchable + 1) * sizeof(*v));

			if (s->env.verbose)
				lw_say("cgroup: not watching PID %d: %s", pids[i], why);
			if (v) {
				s->unwatchable = v;
				s->unwatchable[s->nr_unwatchable++] = pids[i];
			}
			continue;
		}
		t->from_cgroup = true;
		t->ran_unwatched = true;
		s->nr_targets++;
		symbolizer__refresh(s->sym, t->pid);
		if (s->env.verbose)
			lw_say("cgroup: watching PID %d (%s), which entered it", t->pid, t->comm);
	}
	for (int i = 0; i < s->nr_targets; i++) {
		struct target *t = &s->targets[i];
		bool member = false;

		if (!t->from_cgroup || !t->alive || t->left)
			continue;
		for (size_t j = 0; j < n && !member; j++)
			member = pids[j] == t->pid;
		if (member || !proc__alive(t->pid))
			continue;
		tracer__detach_pid(s->tracer, t->pid);
		tracer__unwatch(s->tracer, t->pid);
		t->left = true;
		if (s->env.verbose)
			lw_say("cgroup: PID %d (%s) left it; no longer watched", t->pid, t->comm);
	}
	free(pids);
	return true;
}

/* Marks exited targets; true while any is alive (or the -C cgroup is there
 * to bring more). */
static bool any_alive(struct session *s)
{
	bool any = s->env.has_cgroup && rescan_cgroup(s);

	for (int i = 0; i < s->nr_targets; i++) {
		struct target *t = &s->targets[i];

		if (t->left)
			continue;
		switch (target__poll(t, s->tracer)) {
		case TARGET_EXECED:
			/* a new program: its mappings were read while it
			 * was held (on_held) */
			py_stacks__exec(s->py, t->pid);
			if (s->env.verbose)
				target__describe(t, stderr);
			any = true;
			break;
		case TARGET_RUNNING:
			py_stacks__poll(s->py, t->pid, now_s(CLOCK_MONOTONIC));
			any = true;
			break;
		case TARGET_GONE:
			break;
		}
	}
	return any;
}

/* One report: built from the kernel's aggregates (judge/report_build.h),
 * then printed and exported. */
static int report(struct session *s, bool summary)
{
	struct report_inputs in = {
		.targets = s->targets,
		.nr_targets = s->nr_targets,
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
	any_alive(s);
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

		while (!stop_signal && (alive = any_alive(s))) {
			double left = due - now_s(CLOCK_MONOTONIC);

			if (left <= 0)
				break;
			if (left > TICK_S)
				left = TICK_S;
			/* a fork wakes it at once: the child waits, stopped */
			tracer__wait_events(s->tracer, (int)(left * 1000) + 1, on_event, s);
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
	for (int i = 0; i < s.nr_targets; i++)
		target__release(&s.targets[i]);
	free(s.targets);
	free(s.unwatchable);
	if (s.json && s.json != stdout)
		fclose(s.json);
	return err;
}
