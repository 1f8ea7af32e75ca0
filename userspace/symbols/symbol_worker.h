/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The symbolizer worker: a separate process of leakwatch's, without
 * privileges, that parses ELF and DWARF files (dwarf_lookup.h) handed to it
 * as descriptors. A malformed or hostile file can crash libdw or make it
 * spin; then the worker dies (or is killed after a timeout), the module it
 * was reading is given up (its frames stay module+offset), the event is
 * counted, and a new worker takes over the other modules at the next
 * request.
 */
#ifndef LW_SYMBOL_WORKER_H
#define LW_SYMBOL_WORKER_H

#include <stdbool.h>
#include <stdint.h>

struct lw_sym;
struct symbol_worker;

struct symbol_worker_stats {
	unsigned int crashes;        /* the worker died */
	unsigned int timeouts;       /* it took too long and was killed */
	unsigned int modules_failed; /* modules given up because of either */
};

/* The argument that makes leakwatch serve as the worker (main.c). */
#define SYMBOL_WORKER_ARG "--symbol-worker"

struct symbol_worker *symbol_worker__new(void);
void symbol_worker__free(struct symbol_worker *w);
/*
 * Registers module id (small, dense from 0) for the object in fd (dup'ed;
 * the caller keeps its own), named path in its process, and reads its
 * build-id (hex, "" when none) and .gnu_debuglink name ("" when none).
 * 0, or -errno when the worker could not read it (given up for good).
 */
int symbol_worker__open(struct symbol_worker *w, uint32_t id, int fd, const char *path,
			char build_id[41], char *debuglink, size_t debuglink_len);
/* Debug info for module id found by the caller (fd dup'ed), or -1 for the
 * standard places; then whether the module is stripped. 0 or -errno. */
int symbol_worker__set_debug(struct symbol_worker *w, uint32_t id, int fd, bool *stripped);
/* The meaning of the return address at file offset off of module id (see
 * dwarf_module__lookup): *out is a heap chain (lw_sym__free) or NULL. 0,
 * or -errno when the module is given up. */
int symbol_worker__lookup(struct symbol_worker *w, uint32_t id, uint64_t off, struct lw_sym **out);
struct cfi_table;
/* The unwind table of module id (cfi.h), built by the worker; *out is the
 * caller's to free (cfi_table__free). 0, or -errno (-ENOENT: no CFI). */
int symbol_worker__cfi(struct symbol_worker *w, uint32_t id, struct cfi_table *out);
struct oracle_map;
/* The oracle (oracle.h) in the worker: maps name modules by id. Returns
 * the frames stored in pcs (at most max), or -errno. */
int symbol_worker__unwind(struct symbol_worker *w, const struct oracle_map *maps, size_t nr_maps,
			  const uint64_t *regs, const uint8_t *stack, size_t len, uint64_t *pcs,
			  int max);
void symbol_worker__stats(const struct symbol_worker *w, struct symbol_worker_stats *out);
/* The worker's PID now, or -1 (tests make it crash). */
int symbol_worker__pid(const struct symbol_worker *w);

/* The worker's side: serves requests on the socket fd until it closes.
 * Returns the process's exit status. */
int symbol_worker__serve(int fd);

#endif
