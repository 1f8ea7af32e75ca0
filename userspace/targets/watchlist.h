/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every process watched: the -p processes, the -C cgroup's members (found
 * again at each poll), the command, and the children followed from their
 * fork; and the events the kernel side sends about them (forks, holds,
 * code mapped since). What the later stages do when the set changes comes
 * through hooks, so this stage names none of them.
 */
#ifndef LW_WATCHLIST_H
#define LW_WATCHLIST_H

#include <stdbool.h>
#include <sys/types.h>
#include "leakwatch.h"
#include "kernel/tracer.h"
#include "targets/cgroup.h"
#include "targets/targets.h"

/* Followed children beyond this are let run unwatched (and said once). */
#define MAX_TARGETS 4096

struct watch_hooks {
	void *ctx;
	/* pid is watched now, or met code mapped since: read its mappings */
	void (*mapped)(void *ctx, pid_t pid);
	/* a child of parent is about to be let go: its first allocation may
	 * come at once */
	void (*forking)(void *ctx, pid_t child, pid_t parent);
	/* pid, held, has its interpreter up / begins finalizing it */
	void (*py_started)(void *ctx, pid_t pid);
	void (*py_finalizing)(void *ctx, pid_t pid);
	/* at each poll: pid became a new program / runs on */
	void (*execed)(void *ctx, pid_t pid);
	void (*running)(void *ctx, pid_t pid);
};

struct watchlist {
	struct target *targets; /* the -p processes, the cgroup's, the command, then children */
	int nr, cap;
	bool said_too_many;
	pid_t *unwatchable;     /* cgroup members that could not be attached */
	size_t nr_unwatchable;
	struct tracer *tracer;
	bool follow_forks;
	int verbose;
	const struct lw_cgroup *cgroup; /* -C or --container, else NULL */
	struct watch_hooks hooks;
};

/* Each adds and attaches; 0, or an exit code after one line saying why. */
int watchlist__add_pids(struct watchlist *w, const pid_t *pids, int n);
int watchlist__add_cgroup(struct watchlist *w);
int watchlist__start_command(struct watchlist *w, char *const argv[]);
/* The target of pid, or NULL. */
struct target *watchlist__find(struct watchlist *w, pid_t pid);
/* An event of the kernel side's (tracer__wait_events); ctx is the list. */
void watchlist__on_event(const struct lw_event *e, void *ctx);
/* Notices exits and execs (and the cgroup's comings and goings): true
 * while any target is alive, or the cgroup is there to bring more. */
bool watchlist__poll(struct watchlist *w);
void watchlist__free(struct watchlist *w);

#endif
