/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * leakwatch diff OLD NEW [--group-by KEY] [--json FILE] [--at TIME] [-T N]:
 * what changed between two reports, as tracemalloc's compare_to says it.
 * Each row is a stack (matched by id: the same code path across processes
 * and restarts, summed over the processes holding it) or a group (matched
 * by key), with its outstanding bytes and allocations in NEW and their
 * change since OLD, most growth first. Reads files only: no privilege, no
 * BPF, handled before anything else in main.
 */
#ifndef LW_DIFF_H
#define LW_DIFF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "diff/records.h"

/* The word that starts the subcommand. */
#define DIFF_COMMAND "diff"

/* One row: a stack or a group, in both records or in one (0 in the other). */
struct diff_row {
	const char *key;                 /* the stack id, or the group's key */
	const struct diff_stack *stack;  /* stacks: its frames (NEW's, else OLD's) */
	int64_t old_bytes, new_bytes;
	int64_t old_allocs, new_allocs;
};

/*
 * The rows between old and new, grouped by by (GROUP_BY_STACK: stacks by
 * id), ranked by growth: bytes added first, then allocations added, then
 * bytes now, then key. Groups come from the records' own groups when both
 * were grouped by by (every stack counted), else from their stacks (the
 * top stacks each record holds). *rows is freed by the caller; sets
 * *from_stacks when groups were made from stacks. Returns how many, or
 * -ENOMEM.
 */
int diff__rows(const struct diff_record *old, const struct diff_record *new, enum group_by by,
	       struct diff_row **rows, bool *from_stacks);

/* The text table and the JSON object of rows (at most top of them). */
void diff__print_text(FILE *f, const struct diff_record *old, const struct diff_record *new,
		      enum group_by by, const struct diff_row *rows, int nr, int top,
		      bool from_stacks);
void diff__print_json(FILE *f, const struct diff_record *old, const struct diff_record *new,
		      enum group_by by, const struct diff_row *rows, int nr, int top,
		      bool from_stacks);

/* argv[0] is "diff": parses, reads, compares, prints; the exit status. */
int diff__main(int argc, char **argv);

#endif
