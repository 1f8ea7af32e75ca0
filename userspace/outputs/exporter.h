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

/* What the command line asks of the outputs (filled by the options parser). */
struct output_opts {
	int top;                    /* -T: stacks per report, default 10 */
	const char *html_path;      /* --html FILE: a self-contained HTML report; NULL = none */
	const char *prometheus;     /* --prometheus [ADDR:]PORT; NULL = off */
	const char *pprof_path;     /* --pprof FILE: gzipped pprof profile at exit; NULL = none */
	bool pprof_every;           /* --pprof-every: rewrite it at every report too */
	const char *folded_path;    /* --folded FILE: folded stacks, rewritten every report */
	double summary_every_s;     /* --summary-every DURATION: 0 = no summary files */
	const char *summary_dir;    /* --summary-dir DIR, where they go */
	int summary_keep;           /* --summary-keep N, newest kept (default 24) */
};

struct exporter {
	const char *name;
	/* Whether the options ask for it. */
	bool (*wanted)(const struct output_opts *opts);
	/* Checks its file or address now, before any probe goes in: 0, or an
	 * exit code (exitcodes.h) after one line said why. */
	int (*open)(void **state, const struct output_opts *opts);
	/* Every report, interval and summary alike (r->summary tells). */
	void (*report)(void *state, const struct report *r);
	void (*close)(void *state);
};

#endif
