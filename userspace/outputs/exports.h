/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The exporters (exporter.h) the options ask for, opened, fed every
 * report, and closed: main.c's one handle on them. */
#ifndef LW_EXPORTS_H
#define LW_EXPORTS_H

#include <stdbool.h>
#include "judge/report.h"
#include "outputs/exporter.h"

struct exports;

/* Opens every exporter env asks for: 0, or an exit code after one line. */
int exports__open(struct exports **out, const struct output_opts *opts);
void exports__report(struct exports *x, const struct report *r);
void exports__close(struct exports *x);

#endif
