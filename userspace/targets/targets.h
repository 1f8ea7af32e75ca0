/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The processes watched: attached by PID or started as a command, and
 * followed until they exit. */
#ifndef LW_TARGETS_H
#define LW_TARGETS_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "probes/allocator.h"
#include "kernel/tracer.h"
#include "common/series.h"

struct target {
	pid_t pid;
	char comm[16];
	char exe[256];     /* its executable, as /proc/PID/exe names it */
	pid_t ns_pid;      /* its PID in its own PID namespace */
	bool alive;
	bool started;      /* a command leakwatch started (-c, --) */
	pid_t parent;      /* a child followed from this watched process, else 0 */
	bool follow_forks; /* its children are watched too */
	bool ran_unwatched; /* ran a while before its probes were in (a child not held at
			     * fork, a process that entered the cgroup): calls missed */
	bool from_cgroup;  /* found in the -C cgroup: unwatched when it leaves it */
	bool left;         /* left the cgroup: detached, its numbers final */
	int exit_status;   /* started and ended: its exit code, or 128 + signal */
	int exit_signal;   /* started and killed: the signal, else 0 */
	struct lw_plan *plan;    /* shared with the children it forked (same image) */
	struct series rss;       /* resident bytes, one sample per report */
	struct series heap;      /* tracked outstanding bytes, the same */
};

/* Checks pid (a thread id stands for its process), finds its allocator
 * functions and attaches to them; follows its exec, and its children
 * with follow_forks. 0, or an exit code with why set. */
int target__attach_pid(struct target *t, pid_t pid, struct tracer *tracer, bool follow_forks,
		       char *why, size_t len);
/* Starts argv held until its libraries are mapped, attaches, lets it run.
 * 0, or an exit code with why set (the command is then not left running). */
int target__start_command(struct target *t, char *const argv[], struct tracer *tracer,
			  bool follow_forks, char *why, size_t len);
/* A child of the watched process parent, stopped by the kernel at its
 * fork: it runs parent's image, so parent's probes are attached to it too;
 * then it is continued, attached or not. 0, or an exit code with why set. */
int target__adopt_child(struct target *t, pid_t pid, const struct target *parent,
			struct tracer *tracer, char *why, size_t len);
enum target_state {
	TARGET_RUNNING,
	TARGET_EXECED,  /* it became a new program, probed anew */
	TARGET_GONE,
};

/* Notices an exit (reaping a started command for its status), or an exec,
 * which it follows: the old image's allocations are dropped and the new
 * one is probed before its libraries run. */
enum target_state target__poll(struct target *t, struct tracer *tracer);
/*
 * Called while a process leakwatch holds (a started command, a child at its
 * fork, a process at its exec) has its probes in and before it is let run:
 * what must be ready before its first allocation (the CFI unwinder's index
 * of its mappings) is made there. new_image: it exec'd.
 */
typedef void (*target_held_fn)(void *ctx, pid_t pid, bool new_image);
void target__on_held(target_held_fn fn, void *ctx);
/* Lets go of what the target holds (its plan). */
void target__release(struct target *t);
/* What is attached where, for -v. */
void target__describe(const struct target *t, FILE *f);

/* Targets that cannot be watched fail here, before any BPF is loaded: a
 * PID that does not exist, a command that cannot be found. 0, or
 * LW_EXIT_TARGET after one line saying which. */
int targets__preflight(const pid_t *pids, int nr_pids, char *const *command);

#endif
