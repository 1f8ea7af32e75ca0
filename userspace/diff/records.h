/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reports read back for leakwatch diff: one record (an "interval" or
 * "summary" object, schema 1) picked from a file that --json wrote (JSON
 * lines, lines not starting with '{' skipped: a command's output) or that
 * --summary-dir wrote (one summary). The only place JSON is read (json-c).
 */
#ifndef LW_DIFF_RECORDS_H
#define LW_DIFF_RECORDS_H

#include <stdbool.h>
#include <stdint.h>
#include "judge/groups.h"

/* Which record of a file: the last one, or the last at or before a time. */
struct diff_at {
	enum { DIFF_AT_LAST, DIFF_AT_ELAPSED, DIFF_AT_UTC } kind;
	double seconds;   /* DIFF_AT_ELAPSED: elapsed_s; DIFF_AT_UTC: seconds since the epoch */
	const char *text; /* as given, for messages */
};

/*
 * "last"; a duration since the probes went in (30, 90s, 5m, 1h; what
 * --summary-every takes); or a UTC time as the records' "time" has it,
 * 2026-11-27T01:23:45[.123][Z]. 0, or -EINVAL.
 */
int diff_at__parse(const char *s, struct diff_at *out);

/* Strings point into the parsed record, which the record keeps. */
struct diff_stack {
	const char *id;
	int64_t bytes, allocs;
	struct group_frame *frames;
	int nr_frames;
};

struct diff_group {
	const char *key;
	int64_t bytes, allocs;
};

struct diff_record {
	const char *path;
	int line;              /* its line in the file, from 1 */
	char type[16];         /* "interval" or "summary" */
	const char *time;      /* as written, NULL when absent */
	double elapsed_s;
	int64_t bytes, allocs; /* totals */
	struct diff_stack *stacks;
	int nr_stacks;
	/* with --group-by: what it was grouped by (GROUP_BY_STACK: not
	 * grouped), and the groups */
	enum group_by group_by;
	struct diff_group *groups;
	int nr_groups;
	void *json;            /* private: the parsed record (json-c) */
};

/*
 * Reads the record of path that at picks into out. 0, or an exit code
 * (exitcodes.h) after one line naming the file and the cause: the file
 * cannot be read (LW_EXIT_USAGE), malformed JSON, no report in it, or none
 * at or before the time asked (LW_EXIT_FAILURE).
 */
int diff_record__read(const char *path, const struct diff_at *at, struct diff_record *out);
void diff_record__free(struct diff_record *r);

#endif
