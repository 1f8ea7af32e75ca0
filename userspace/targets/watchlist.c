// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/exitcodes.h"
#include "common/messages.h"
#include "common/proc.h"
#include "targets/watchlist.h"

/* A new slot at the end of the targets; NULL when full or out of memory. */
static struct target *new_target(struct watchlist *w)
{
	if (w->nr == w->cap) {
		int cap = w->cap ? w->cap * 2 : 64;
		struct target *v;

		if (cap > MAX_TARGETS || !(v = realloc(w->targets, cap * sizeof(*v))))
			return NULL;
		w->targets = v;
		w->cap = cap;
	}
	return &w->targets[w->nr];
}

struct target *watchlist__find(struct watchlist *w, pid_t pid)
{
	for (int i = 0; i < w->nr; i++)
		if (w->targets[i].pid == pid)
			return &w->targets[i];
	return NULL;
}

/* A watched process forked: its child, stopped, is watched too. */
void watchlist__on_event(const struct lw_event *e, void *ctx)
{
	struct watchlist *w = ctx;
	char why[PATH_MAX + 256];
	struct target *parent, *t;

	if (e->kind == LW_EVENT_MAPS) {
		/* the unwinder met code it has no table for (dlopen) */
		if (watchlist__find(w, e->pid))
			w->hooks.mapped(w->hooks.ctx, e->pid);
		return;
	}
	if (e->kind == LW_EVENT_PYMAIN) {
		/* its interpreter is up: walked from the program's first line */
		w->hooks.py_started(w->hooks.ctx, e->pid);
		tracer__continue(w->tracer, e->pid);
		return;
	}
	if (e->kind == LW_EVENT_FINALIZE) {
		/* the interpreter starts freeing what the program held: its
		 * probes go, so its counts stay as they are now */
		tracer__detach_pid(w->tracer, e->pid);
		w->hooks.py_finalizing(w->hooks.ctx, e->pid);
		if (w->verbose)
			lw_say("PID %d: its interpreter is finalizing: counted as it was until now",
			       e->pid);
		tracer__continue(w->tracer, e->pid); /* (its held mark goes, held or not) */
		return;
	}
	if (e->kind != LW_EVENT_FORK)
		return; /* execs are followed from the targets' own polling */
	parent = watchlist__find(w, e->parent);
	t = parent && !watchlist__find(w, e->pid) ? new_target(w) : NULL;
	if (!t) {
		if (parent && !watchlist__find(w, e->pid) && !w->said_too_many) {
			lw_say("warning: more than %d processes to watch; PID %d and later children "
			       "run unwatched", MAX_TARGETS, e->pid);
			w->said_too_many = true;
		}
		tracer__unwatch(w->tracer, e->pid); /* not at its exec either */
		kill(e->pid, SIGCONT);
		return;
	}
	/* the parent may have moved with the array */
	parent = watchlist__find(w, e->parent);
	/* before the child is let go: its first allocation has Python frames */
	w->hooks.forking(w->hooks.ctx, e->pid, e->parent);
	if (target__adopt_child(t, e->pid, parent, w->tracer, why, sizeof(why))) {
		/* the Python allocator's probes, if any; and not held at exec */
		tracer__detach_pid(w->tracer, e->pid);
		tracer__unwatch(w->tracer, e->pid);
		if (w->verbose)
			lw_say("child PID %d of PID %d not watched: %s", e->pid, e->parent, why);
		return;
	}
	/* (--growth holds nothing: its BPF side watches the child from its fork) */
	t->ran_unwatched = !e->held && !tracer__growth(w->tracer);
	w->nr++;
	w->hooks.mapped(w->hooks.ctx, t->pid);
	if (w->verbose)
		lw_say("watching PID %d (%s), forked by PID %d%s", t->pid, t->comm, t->parent,
		       e->held || tracer__growth(w->tracer) ? "" :
		       " (not held at fork: its first calls may be missed)");
}

int watchlist__add_pids(struct watchlist *w, const pid_t *pids, int n)
{
	char why[PATH_MAX + 256];
	int err;

	for (int i = 0; i < n; i++) {
		struct target *t = new_target(w);
		bool dup = false;

		if (!t) {
			lw_say("out of memory");
			return LW_EXIT_FAILURE;
		}
		err = target__attach_pid(t, pids[i], w->tracer, w->follow_forks, why, sizeof(why));
		if (err) {
			lw_say("%s", why);
			return err;
		}
		for (int j = 0; j < w->nr; j++)
			dup |= w->targets[j].pid == t->pid;
		if (!dup)
			w->nr++;
	}
	return 0;
}

/* The -C cgroup's processes now, each like a -p PID; one it cannot watch
 * (a kernel thread, no allocator, gone) is skipped, not fatal. */
int watchlist__add_cgroup(struct watchlist *w)
{
	char why[PATH_MAX + 256];
	int err;

	const struct lw_cgroup *cg = w->cgroup;
	int found = 0, skipped = 0, watched = 0, given = 0;
	pid_t *pids, self = getpid();
	size_t n;

	err = cgroup__members(cg, &pids, &n);
	if (err) {
		lw_say("cannot list the processes of cgroup %s: %s", cg->dir, strerror(-err));
		return LW_EXIT_TARGET;
	}
	if (w->verbose)
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
		for (int j = 0; j < w->nr; j++)
			dup |= w->targets[j].pid == pids[i];
		if (dup) {
			watched++, given++; /* given with -p too */
			continue;
		}
		t = new_target(w);
		if (!t)
			continue; /* said below */
		err = target__attach_pid(t, pids[i], w->tracer, w->follow_forks,
					 why, sizeof(why));
		if (err == LW_EXIT_TARGET) {
			if (w->verbose)
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
		if (w->verbose && inner != t->pid)
			lw_say("cgroup: PID %d (%s) is PID %d in its namespace", t->pid, t->comm, inner);
		w->nr++;
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
		       w->verbose ? "" : "; -v says why for each");
	if (found - skipped > watched)
		lw_say("cgroup %s: watching the first %d of its %d processes (by PID): "
		       "leakwatch watches at most %d processes", cg->dir, watched, found,
		       MAX_TARGETS);
	return 0;
}

int watchlist__start_command(struct watchlist *w, char *const argv[])
{
	char why[PATH_MAX + 256];
	int err;

	struct target *t = new_target(w);

	if (!t) {
		lw_say("out of memory");
		return LW_EXIT_FAILURE;
	}
	err = target__start_command(t, argv, w->tracer, w->follow_forks,
				    why, sizeof(why));
	if (err) {
		lw_say("%s", why);
		return err;
	}
	w->nr++;
	return 0;
}

static bool unwatchable(const struct watchlist *w, pid_t pid)
{
	for (size_t i = 0; i < w->nr_unwatchable; i++)
		if (w->unwatchable[i] == pid)
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
static bool rescan_cgroup(struct watchlist *w)
{
	char why[PATH_MAX + 256];
	pid_t *pids, self = getpid();
	size_t n;

	/* forks first: a child stopped at its fork is adopted, not rescanned */
	tracer__wait_events(w->tracer, 0, watchlist__on_event, w);
	if (cgroup__members(w->cgroup, &pids, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		struct target *t;

		if (pids[i] == self || proc__ppid(pids[i]) == self || watchlist__find(w, pids[i]) ||
		    unwatchable(w, pids[i]))
			continue;
		t = new_target(w);
		if (!t)
			break;
		if (target__attach_pid(t, pids[i], w->tracer, w->follow_forks, why,
				       sizeof(why))) {
			pid_t *v = realloc(w->unwatchable, (w->nr_unwatchable + 1) * sizeof(*v));

			if (w->verbose)
				lw_say("cgroup: not watching PID %d: %s", pids[i], why);
			if (v) {
				w->unwatchable = v;
				w->unwatchable[w->nr_unwatchable++] = pids[i];
			}
			continue;
		}
		t->from_cgroup = true;
		t->ran_unwatched = true;
		w->nr++;
		w->hooks.mapped(w->hooks.ctx, t->pid);
		if (w->verbose)
			lw_say("cgroup: watching PID %d (%s), which entered it", t->pid, t->comm);
	}
	for (int i = 0; i < w->nr; i++) {
		struct target *t = &w->targets[i];
		bool member = false;

		if (!t->from_cgroup || !t->alive || t->left)
			continue;
		for (size_t j = 0; j < n && !member; j++)
			member = pids[j] == t->pid;
		if (member || !proc__alive(t->pid))
			continue;
		tracer__detach_pid(w->tracer, t->pid);
		tracer__unwatch(w->tracer, t->pid);
		t->left = true;
		if (w->verbose)
			lw_say("cgroup: PID %d (%s) left it; no longer watched", t->pid, t->comm);
	}
	free(pids);
	return true;
}

/* Marks exited targets; true while any is alive (or the -C cgroup is there
 * to bring more). */
bool watchlist__poll(struct watchlist *w)
{
	bool any = w->cgroup && rescan_cgroup(w);

	for (int i = 0; i < w->nr; i++) {
		struct target *t = &w->targets[i];

		if (t->left)
			continue;
		switch (target__poll(t, w->tracer)) {
		case TARGET_EXECED:
			/* a new program: its mappings were read while it
			 * was held (on_held) */
			w->hooks.execed(w->hooks.ctx, t->pid);
			if (w->verbose)
				target__describe(t, stderr);
			any = true;
			break;
		case TARGET_RUNNING:
			w->hooks.running(w->hooks.ctx, t->pid);
			any = true;
			break;
		case TARGET_GONE:
			break;
		}
	}
	return any;
}

void watchlist__free(struct watchlist *w)
{
	for (int i = 0; i < w->nr; i++)
		target__release(&w->targets[i]);
	free(w->targets);
	free(w->unwatchable);
}
