/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --summary-every DURATION --summary-dir DIR [--summary-keep N]: for long
 * unattended runs, the JSON summary line (verdicts, growing stacks first)
 * as one file in DIR every DURATION and at exit, the newest N kept. Names
 * sort by time: leakwatch-YYYYMMDDTHHMMSS.mmmZ-PID.json (UTC, when the
 * report was read; PID is leakwatch's own).
 *
 * The files come with the interval reports: the first report at or after
 * each multiple of DURATION writes one, from the data that report read (a
 * read of its own would add a sample to every stack's series and skew the
 * trends). A DURATION below INTERVAL means one per report.
 */
#ifndef LW_SUMMARY_FILES_H
#define LW_SUMMARY_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include "outputs/exports.h"

extern const struct exporter summary_files_exporter;

/* "30s", "5m", "1h", "1d", "250ms", or plain seconds ("90", "0.5"):
 * 0 and *out in seconds, or -EINVAL. From 1 ms to 365 days. */
int parse_duration(const char *s, double *out);

/* The file name of a summary read at when by leakwatch pid. */
void summary_files__name(char *buf, size_t len, const struct timespec *when, pid_t pid);
/* Whether name is one of those (what pruning may remove). */
bool summary_files__is_name(const char *name);

#endif
