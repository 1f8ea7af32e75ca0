/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Code addresses of target processes to module, build-id, file offset,
 * function and source line. Modules are opened through the target's view
 * and shared by every process that maps the same file; their files are
 * parsed by the symbolizer worker, a separate process (symbol_worker.h);
 * what an offset means is cached here per module, so a process that has
 * exited still resolves through the modules it had.
 */
#ifndef LW_SYMBOLIZE_H
#define LW_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "symbols/sym.h"

struct lw_module {
	char *path;          /* as the target names it */
	char build_id[41];   /* hex; "" when the file has none */
	bool stripped;       /* no .symtab and no debug info found */
	/* private */
	int fd;
	uint64_t dev, inode;
	uint32_t id;         /* in the symbolizer worker */
	struct hashmap *syms;
	struct cfi_table *cfi; /* its unwind table once asked for (symbolizer__cfi) */
	int cfi_err;           /* 0, or why there is none (-ENOENT: no CFI) */
};

struct lw_frame {
	uint64_t addr;
	const struct lw_module *module; /* NULL: not in a mapped file */
	uint64_t module_offset;         /* file offset within module */
	const struct lw_sym *sym;       /* NULL when module is NULL */
	bool mapped_exec;               /* addr lies in executable memory */
	bool python;                    /* a Python frame: addr is its code object, sym
					 * its qualname, file and line (pystacks.h) */
};

struct symbolizer;

struct symbolizer *symbolizer__new(void);
void symbolizer__free(struct symbolizer *s);
/* Reads pid's mappings now (call while it is alive; again after it maps
 * new code). 0 or -errno. */
int symbolizer__refresh(struct symbolizer *s, pid_t pid);
/* Resolves a return address of pid. Unknown addresses trigger one refresh
 * of pid's mappings per call to symbolizer__new_round. */
void symbolizer__resolve(struct symbolizer *s, pid_t pid, uint64_t addr, struct lw_frame *out);
/* Allows another refresh per process for addresses not yet mapped. */
void symbolizer__new_round(struct symbolizer *s);
/* Drops pid's view (its modules stay for other processes and the cache). */
void symbolizer__forget(struct symbolizer *s, pid_t pid);
struct lw_maps;
/* Called at the end of every refresh of pid's mappings (attach, exec, new
 * code seen): the unwinder loads what the new mappings need. */
typedef void (*symbolizer_refresh_fn)(void *ctx, pid_t pid);
void symbolizer__on_refresh(struct symbolizer *s, symbolizer_refresh_fn fn, void *ctx);
/* pid's mappings as last read, and the module of each (NULL for anonymous
 * or unreadable ones). 0, or -ENOENT before any refresh. */
int symbolizer__view(struct symbolizer *s, pid_t pid, const struct lw_maps **maps,
		     struct lw_module *const **mods);
/* The unwind table of m, built by the worker on first use and kept with
 * the module (shared by every process mapping it). NULL with m->cfi_err
 * set when it has none. */
struct cfi_table;
const struct cfi_table *symbolizer__cfi(struct symbolizer *s, struct lw_module *m);
/* The --verify-stacks oracle: the stack in v unwound by libdw over pid's
 * mappings as last read (oracle.h). Frames into pcs; count or -errno. */
struct lw_verify;
int symbolizer__oracle(struct symbolizer *s, pid_t pid, const struct lw_verify *v, uint64_t *pcs,
		       int max);
/* How the worker fared: crashes, timeouts, modules given up. */
struct symbol_worker_stats;
void symbolizer__worker_stats(const struct symbolizer *s, struct symbol_worker_stats *out);
/* The worker's PID now, or -1. */
int symbolizer__worker_pid(const struct symbolizer *s);

#endif
