/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The guardian: a small process of leakwatch's that outlives it, so that a
 * process leakwatch holds stopped (a child at fork, a process at exec, a
 * command before its libraries run) does not stay stopped when leakwatch is
 * killed (SIGKILL, the OOM killer) before it continues it. It keeps nothing
 * but the exec_watch map's descriptor and a pipe from leakwatch: when the
 * pipe closes without leakwatch saying it ended cleanly, every process in
 * exec_watch that is stopped is continued, and stderr says which. A clean
 * exit continues what it held itself (tracer__free) and stands the
 * guardian down.
 */
#ifndef LW_GUARDIAN_H
#define LW_GUARDIAN_H

#include <stdbool.h>
#include <sys/types.h>

struct guardian {
	int fd;     /* the pipe's write end in leakwatch; -1: none */
	pid_t pid;
};

/* Starts the guardian over the exec_watch map's descriptor. 0 or -errno
 * (leakwatch runs on without one, and says so). */
int guardian__start(struct guardian *g, int exec_watch_fd);
/* leakwatch ends cleanly: the guardian exits without touching anything. */
void guardian__stand_down(struct guardian *g);
/* Continues every process exec_watch lists as held (LW_EXEC_HELD, or
 * LW_EXEC_SEEN) that is stopped: the guardian's work, and leakwatch's own
 * on a clean end, once its fork and exec programs are detached. say: one
 * line on stderr for each. Returns how many. */
int guardian__continue_held(int exec_watch_fd, bool say);

#endif
