/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --folded FILE: every stack holding memory as one line of folded stacks,
 * the input of flamegraph.pl, inferno and speedscope:
 *
 *   comm-PID;outermost;...;innermost BYTES
 *
 * Frames are function names, inlined calls each their own; an address no
 * symbol covers is MODULE+0xOFFSET (the module's file name and the file
 * offset), anonymous executable memory without a name [jit]. The process
 * is the root frame. Rewritten whole at every report.
 */
#ifndef LW_FOLDED_H
#define LW_FOLDED_H

#include <stddef.h>
#include <stdio.h>
#include "outputs/exporter.h"
#include "judge/report.h"

extern const struct exporter folded_exporter;

/* The text of one frame, with ';' and control characters (which would
 * break the format) replaced by '_'. */
void folded__frame(char *buf, size_t len, const struct lw_frame *f);
/* One stack's line; comm NULL when the process is not known. */
void folded__line(FILE *f, const struct lw_site *s, const char *comm);
/* Every stack of r; 0 or -errno. */
int folded__write(FILE *f, const struct report *r);

#endif
