/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Outputs beside the text table and JSON lines (Prometheus, pprof, folded
 * stacks, HTML, summary files): each reads the same struct report after
 * every interval and at the end. An exporter that fails while running says
 * so once and carries on; it never stops the watch.
 */
#ifndef LW_EXPORTS_H
#define LW_EXPORTS_H

#include <stdbool.h>
#include "targets/cli.h"
#include "judge/report.h"

struct exporter {
	const char *name;
	/* Whether env asks for it. */
	bool (*wanted)(const struct env *env);
	/* Checks its file or address now, before any probe goes in: 0, or an
	 * exit code (exitcodes.h) after one line said why. */
	int (*open)(void **state, const struct env *env);
	/* Every report, interval and summary alike (r->summary tells). */
	void (*report)(void *state, const struct report *r);
	void (*close)(void *state);
};

struct exports;

/* Opens every exporter env asks for: 0, or an exit code after one line. */
int exports__open(struct exports **out, const struct env *env);
void exports__report(struct exports *x, const struct report *r);
void exports__close(struct exports *x);

#endif
