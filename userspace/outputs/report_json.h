/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The JSON lines (schema 1, DESIGN.md), and the writers of the members
 * they are made of, for the other outputs that carry the same members (the
 * HTML report's data): one spelling of each for all of them.
 */
#ifndef LW_REPORT_JSON_H
#define LW_REPORT_JSON_H

#include <stdio.h>
#include "judge/report.h"

/* r as one JSON line on f, flushed. */
void report_json__print(FILE *f, const struct report *r);

struct jw;

/* Starts r's object on f with its "type": "interval" or "summary". */
void report_json__begin(struct jw *w, FILE *f, const struct report *r);
/* "time" (UTC, milliseconds) and "elapsed_s". */
void report_json__time_members(struct jw *w, const struct report *r);
/* What every set of counts says first: outstanding bytes and allocations,
 * calls seen and events lost (growth: granules instead of calls). */
void report_json__count_members(struct jw *w, const struct report_counts *c, bool growth);
/* A process's "pid" and "comm". */
void report_json__process_id_members(struct jw *w, const struct report_process *p);
/* A process's "rss_bytes" (null when unknown) and "alive". */
void report_json__process_state_members(struct jw *w, const struct report_process *p);
/* A stack's members (its frames included), and a frame's. */
void report_json__stack_members(struct jw *w, const struct lw_site *s, const struct report *r);
void report_json__frame_members(struct jw *w, const struct lw_frame *f);

#endif
