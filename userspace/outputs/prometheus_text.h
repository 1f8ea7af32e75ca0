/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The pure part of --prometheus (prometheus_text.c): listen addresses,
 * label values, and the rendering of a report as Prometheus text
 * exposition (version 0.0.4) or OpenMetrics 1.0.
 */
#ifndef LW_PROMETHEUS_TEXT_H
#define LW_PROMETHEUS_TEXT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include "judge/report.h"

/* Stacks exported per report at most, whatever -T says: each stack is a
 * few series, and a scraper stores every series it ever saw. */
#define PROM_MAX_STACKS 100

/*
 * "PORT" (on 127.0.0.1), "A.B.C.D:PORT" or "[IPV6]:PORT", numeric only,
 * PORT 1 to 65535, into addr: 0, or -EINVAL.
 */
int prom_parse_listen(const char *s, struct sockaddr_storage *addr, socklen_t *len);

/* Writes s as the inside of a label value: backslash, double quote and
 * newline escaped; bytes that are not UTF-8 become U+FFFD, as scrapers
 * reject label values that are not UTF-8. */
void prom_escape(FILE *f, const char *s);

/*
 * The labels of each stack id, fixed the first time the id is exported
 * (function: frames[0]; caller: frames[1]) so a series' label set never
 * changes, even if a later report resolves the same stack differently.
 */
struct prom_labels;

struct prom_labels *prom_labels__new(void);
void prom_labels__free(struct prom_labels *l);

struct prom_render_opts {
	bool openmetrics;  /* OpenMetrics 1.0 (ends with "# EOF"), else text 0.0.4 */
	const char *version; /* leakwatch's, for leakwatch_build_info */
	uint64_t reports;  /* reports made so far, this one included */
};

/*
 * Renders r (NULL before the first report: build info only) to f: per
 * process, then the first PROM_MAX_STACKS of r->stacks. 0, or -ENOMEM
 * when a stack's labels could not be kept (the stack is then left out).
 */
int prom_render(FILE *f, const struct report *r, struct prom_labels *labels,
		const struct prom_render_opts *opts);

#endif
