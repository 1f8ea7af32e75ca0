/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --pprof FILE: the outstanding allocations of every stack as a gzipped
 * pprof profile (proto/profile.proto), for pprof, go tool pprof, speedscope
 * and the like. Written at exit, and at every report with --pprof-every.
 *
 * Sample types inuse_space (bytes) and inuse_objects (count), pprof's names
 * for what leakwatch calls outstanding bytes and allocations; one sample per
 * stack and process, labelled pid (a number), stack_id (the JSON id) and
 * category. One location per code address (module, file offset), with a
 * line per function inlined there, innermost first; one mapping per module,
 * with its path and build-id. Locations' addresses are file offsets: each
 * mapping starts at 0 with file offset 0, so the same code has the same
 * address in every process.
 */
#ifndef LW_PPROF_H
#define LW_PPROF_H

#include <stdio.h>
#include "outputs/exporter.h"
#include "judge/report.h"

extern const struct exporter pprof_exporter;

/* The profile of r, gzipped, to f: 0 or -errno. */
int pprof__write(FILE *f, const struct report *r);

#endif
