/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Files replaced whole, never seen half-written (--pprof, --folded, summary
 * files): each version is written to a temporary beside the file,
 * ".NAME.PID.XXXXXX", synced to disk, then renamed over NAME. A crash or a
 * full disk leaves at most a temporary, which the next run removes.
 */
#ifndef LW_ATOMIC_FILE_H
#define LW_ATOMIC_FILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct atomic_file {
	char path[PATH_MAX];  /* the file replaced */
	char tmp[PATH_MAX];   /* the temporary being written */
	FILE *f;              /* write here between begin and commit */
};

/* Opens a temporary for path: 0 or -errno. */
int atomic_file__begin(struct atomic_file *af, const char *path);
/* Flushes and syncs the temporary and renames it over path: 0 or -errno;
 * on failure the temporary is removed and path keeps its old contents. */
int atomic_file__commit(struct atomic_file *af);
/* Drops the temporary. */
void atomic_file__abort(struct atomic_file *af);
/* Whether a file could be written at path so: 0 or -errno. */
int atomic_file__probe(const char *path);
/* Removes the temporaries in dir of files whose name starts with prefix,
 * left by a writer that is gone (killed while writing). */
void atomic_file__clean(const char *dir, const char *prefix);
/* The same for the temporaries of path. */
void atomic_file__clean_path(const char *path);
/* An exporter's file, when it opens: whether path can be written now
 * (else one line naming option, and LW_EXIT_USAGE), and what a killed run
 * was writing there removed. */
int atomic_file__claim(const char *path, const char *option);

/*
 * An exporter whose output is one file, claimed when it opens and replaced
 * whole at each report it writes (--folded, --pprof). Its state begins
 * with this struct; anything else it keeps follows.
 */
struct export_file {
	const char *path;
	const char *option;  /* "--folded": named in every message */
	bool failing;        /* the last write failed: said once until one works */
};

struct report;

/* Claims path for option (atomic_file__claim), then sets *state to size
 * zeroed bytes, a struct export_file of path and option first: 0, or an
 * exit code after one line. */
int export_file__open(void **state, size_t size, const char *path, const char *option);
/* Replaces the file with what write (0 or -errno) puts for r. A failure
 * is said once, until a write works again; again adds that the next
 * report tries again. */
void export_file__write(struct export_file *x, const struct report *r,
			int (*write)(FILE *f, const struct report *r), bool again);
/* The exporter's close: frees the state. */
void export_file__close(void *state);

#endif
