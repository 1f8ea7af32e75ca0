/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One output beside the text table and JSON lines (Prometheus, pprof,
 * folded stacks, HTML, summary files): each reads the same struct report
 * after every interval and at the end. An exporter that fails while
 * running says so once and carries on; it never stops the watch. The
 * registry of them is exports.h.
 */
#ifndef LW_EXPORTER_H
#define LW_EXPORTER_H

#include <stdbool.h>
#include "judge/report.h"

struct env; /* the options (targets/cli.h), read by wanted and open only */

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

#endif
