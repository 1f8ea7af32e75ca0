/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --zoom DURATION, in a growth run: when a process's growth turns
 * "growing", its allocator is probed for a window, every call counted as
 * the default mode does, and then the probes come out again. The window's
 * stacks stay in the reports, as it left them (stacks[].zoom). At most one
 * window at a time per --zoom-per processes watched, so a fleet-wide leak
 * cannot turn everything into full tracking.
 */
#ifndef LW_ZOOM_H
#define LW_ZOOM_H

#include <stdbool.h>
#include <sys/types.h>
#include "judge/report.h"
#include "kernel/tracer.h"
#include "targets/targets.h"

enum zoom_state {
	ZOOM_NONE = 0,
	ZOOM_ACTIVE,       /* its allocator is probed now */
	ZOOM_DONE,         /* the window is over: its stacks are as it ended */
	ZOOM_UNAVAILABLE,  /* it grew, but its allocator could not be probed */
};

/* One process's window, for the reports. */
struct zoom_window {
	enum zoom_state state;
	double start_s, end_s;    /* report time (elapsed_s) it began and ended */
	char why[160];            /* ZOOM_UNAVAILABLE: the reason */
};

struct zoomer;

/* window_s: each window's length; per: one window at a time per this many
 * processes watched. NULL when out of memory. */
struct zoomer *zoomer__new(double window_s, int per);
void zoomer__free(struct zoomer *z);
/*
 * After the report r (its processes' verdicts), at report time t_s: ends
 * the windows that are over (or whose process is gone) and opens one on
 * each process now growing that never had one, while the limit allows,
 * fastest growing first.
 */
void zoomer__step(struct zoomer *z, struct tracer *tracer, const struct target *targets,
		  int nr_targets, const struct report *r, double t_s, int verbose);
/* pid's window, or NULL when it never had one. */
const struct zoom_window *zoomer__window(const struct zoomer *z, pid_t pid);
/* Ends every window open (leakwatch is stopping). */
void zoomer__end_all(struct zoomer *z, struct tracer *tracer, double t_s);

#endif
