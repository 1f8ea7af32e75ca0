/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One watch: the stages wired together. The options pick the targets;
 * the kernel side is loaded and attached; the stacks, the symbolizer and
 * the Python walker hang off the watch list's hooks; each report is built
 * (judge/) and handed to every output. main.c runs the loop over it.
 */
#ifndef LW_SESSION_H
#define LW_SESSION_H

#include <stdbool.h>
#include <stdio.h>
#include "options/cli.h"
#include "kernel/guardian.h"
#include "kernel/kernel.h"
#include "targets/watchlist.h"

struct session {
	struct env env;
	struct watchlist watch;  /* every process watched */
	struct tracer *tracer;
	struct guardian guardian; /* continues held processes if leakwatch dies */
	struct symbolizer *sym;
	struct stack_table *stacks;
	struct group_table *groups; /* --group-by's groups (judge/groups.h); NULL: none */
	struct zoomer *zoom;        /* --zoom's windows (judge/zoom.h); NULL: none */
	struct unwinder *unwind;
	struct py_stacks *py;   /* Python frames of CPython targets */
	struct exports *exports;
	struct kernel_info kernel; /* what the kernel offers; the parts it refused */
	FILE *json;
	bool text;
	double start_s;          /* when the first report's interval began */
};

/* A monotonic clock in seconds: report times and the loop's deadlines. */
double session__now(void);
/* Opens --json and the exporters the options ask for, before anything is
 * loaded: 0, or an exit code after one line. */
int session__open_outputs(struct session *s);
/* Loads the BPF side, starts the guardian, the symbolizer and the stack
 * tables, and attaches to every target: 0, or an exit code after one line. */
int session__attach(struct session *s);
/* The "watching ..." line on stderr. */
void session__banner(const struct session *s);
/* One report, printed and exported: 0, or an exit code when it cannot be
 * written. */
int session__report(struct session *s, bool summary);
/* Detaches first (the targets run unprobed from then on), then frees all. */
void session__close(struct session *s);

#endif
