/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --group-by line|function|file|module: stacks summed by a key taken from
 * one frame of each, as tracemalloc's statistics are, so that a leak that
 * several call paths reach reads as one line of code.
 *
 * The frame a key is taken from:
 *  - a stack with Python frames: the innermost Python frame;
 *  - a native stack: the innermost frame outside the allocator and the
 *    language runtime, by module (libc, ld.so, libstdc++, libgcc_s,
 *    libpython and the python executable, jemalloc, tcmalloc, mimalloc)
 *    and by function name (malloc and its family, operator new,
 *    PyMem_*, PyObject_Malloc/Calloc/Realloc, _PyObject_*, _PyMem_*,
 *    std::allocator's), so none of them ever tops the list. When every
 *    frame is such a frame, the innermost is used.
 *
 * The keys (group_key):
 *   line      FILE:LINE; without line info, MODULE+0xOFFSET
 *   function  Python: MODULE.QUALNAME (leaks.make_record); native: the
 *             function name; without a symbol, MODULE+0xOFFSET
 *   file      the source file (Python: the code object's file name);
 *             without line info, the module
 *   module    Python: the module name made from the .py file's path
 *             (below site-packages, dist-packages or lib/pythonX.Y the
 *             dotted package path, json.decoder; else the file's name
 *             without .py, leaks; a package's __init__.py is the
 *             package); native: the module file's name (libfoo.so.1)
 * MODULE in a native key is the module file's name, not its path; a frame
 * in no mapped file is "[anon]", and its place [anon]+0xADDRESS.
 */
#ifndef LW_GROUPS_H
#define LW_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/series.h"
#include "stacks/stacks.h"

enum group_by {
	GROUP_BY_STACK,    /* no groups: today's stacks (the default) */
	GROUP_BY_LINE,
	GROUP_BY_FUNCTION,
	GROUP_BY_FILE,
	GROUP_BY_MODULE,
};

/* "stack", "line", "function", "file", "module". */
const char *group_by__name(enum group_by by);
/* One of those names into *out: 0, or -EINVAL. */
int group_by__parse(const char *s, enum group_by *out);

/*
 * One symbolized frame as a key needs it: what the report's frames
 * (symbols/symbolize.h, struct lw_frame) and the JSON lines' frames (read
 * back by leakwatch diff) both say. Strings are borrowed.
 */
struct group_frame {
	bool python;          /* an interpreter frame: function is its qualname */
	const char *module;   /* native: the module's path; NULL when in no file */
	uint64_t module_offset;
	uint64_t addr;        /* the address itself, for frames in no file */
	const char *function; /* NULL when no symbol covers it */
	const char *file;     /* NULL without line info */
	int line;
};

/* A report's frame as a key needs it. */
void group_frame__from(const struct lw_frame *f, struct group_frame *out);

/* The index of the frame a key is taken from (above), or -1 when nr is 0. */
int group_key_frame(const struct group_frame *frames, int nr);

/*
 * The key of a stack (frames innermost first) into buf (always
 * terminated; cut at len - 1). by must not be GROUP_BY_STACK. Returns the
 * index of the frame used, or -1 for a stack with no frames, whose key is
 * "[no frames]". Pure: no state, no I/O.
 */
int group_key(enum group_by by, const struct group_frame *frames, int nr, char *buf, size_t len);

/* Keys are cut to this many bytes. */
#define LW_GROUP_KEY_MAX 512

/* One group: the sites sharing a key, summed, with a history of its own. */
struct group {
	char *key;
	int64_t bytes, allocs;    /* this report: sums over its sites */
	int nr_stacks;            /* sites holding memory in it this report */
	int64_t reported_bytes;   /* at the previous report (group_table__report) */
	struct series series;     /* one sample per report, kept across reports */
	struct trend trend;
};

/* The groups of a watch: every key ever seen and its history. */
struct group_table;

/* NULL when out of memory; by must not be GROUP_BY_STACK. */
struct group_table *group_table__new(enum group_by by);
void group_table__free(struct group_table *t);
enum group_by group_table__by(const struct group_table *t);

/*
 * One report: sums sites (every site the report holds) into their groups,
 * appends each group's bytes at time t_s to its series (0 for a group;
 * less than min_gap_s after the last sample: in its place
 * with nothing now), judges each group holding memory with series__trend,
 * and returns them in *out (an array the caller frees; the groups stay
 * the table's), ranked as stacks are (most outstanding bytes first; for
 * the summary growing groups first, fastest first), at most top. Returns
 * how many, or -ENOMEM.
 */
int group_table__report(struct group_table *t, struct lw_site *const *sites, int nr_sites,
			double t_s, double min_gap_s, int top, bool summary,
			struct group ***out);

#endif
