/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The terminal table: a header line per report, one line per process, then
 * the top stacks, each with its frames beneath it. Fits 100 columns. */
#ifndef LW_REPORT_TEXT_H
#define LW_REPORT_TEXT_H

#include <stdio.h>
#include "judge/report.h"

/* r as the table on f: the first frames of each stack, all of them when
 * r->wide or in the summary. */
void report_text__print(FILE *f, const struct report *r);

#endif
