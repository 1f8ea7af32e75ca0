/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Inside python.c, python_layout.c and python_find.c: the interpreter of a
 * process as leakwatch reads it from outside. python_layout.c holds each
 * version's layout and checks it against the binary; python_find.c finds
 * where the thread states, the TSD key, the TLS and pymalloc's arenas are,
 * and what to probe; python.c opens the target, walks frames and names
 * them. Nothing outside these three includes this.
 */
#ifndef LW_PYTHON_TARGET_H
#define LW_PYTHON_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/hashmap.h"
#include "probes/allocator.h"
#include "common/elf_symbols.h"
#include "common/proc.h"
#include "stacks/python.h"

#define ABSENT PY_NO_OFFSET /* no such field in this version */
#define MAX_MEMBERS 64
#define MAX_LINETABLE (1 << 16)
#define MAX_WALK 256
/* glibc x86-64: the thread pointer's dtv at tcbhead_t + 8 */
#define TCB_DTV 8
/* Py_tss_t: int _is_initialized; pthread_key_t _key */
#define TSS_KEY_IN_TSS 4

/*
 * Each supported version's layout, from its CPython headers (offsetof on
 * 3.10.13, 3.11.7, 3.12.1, 3.13.0). The binary's own tables replace what
 * they cover and are compared with these. Columns beyond struct py_offsets:
 * where _PyRuntime keeps the autoTSSkey (a Py_tss_t) and the GIL holder.
 */
struct py_layout {
	uint32_t minor;
	uint32_t runtime_tss;
	uint32_t runtime_tstate_current;
	struct py_offsets o;
};

/* The layout of version_hex's minor version, or NULL when not supported. */
const struct py_layout *py_layout_of(uint32_t version_hex);

/* glibc 2.36 x86-64: specific_1stblock at 0x310 in struct pthread, data at +8 */
#define GLIBC_TSD_SLOT_FALLBACK 0x318

/* What a cached code object looked like, and its names and lines. */
struct code_entry {
	uint64_t type, name, qualname, filename, linetable;
	int32_t firstlineno;
	char qualname_s[256];
	char filename_s[512];
	uint8_t *table;
	size_t table_len;
};

struct py_target {
	pid_t pid;
	int mem;
	char module[PATH_MAX];
	struct py_offsets o;
	char *checks;
	size_t checks_len;
	struct hashmap *codes;
};

/* A mapped ELF object: symbols, and where its link-time addresses are. */
struct module {
	struct elf_symbols *es;
	int fd;
	uint64_t bias;
	char path[PATH_MAX];
};

void py_add_check(struct py_target *t, const char *fmt, ...);
int py_check_debug_offsets(struct py_target *t);
int py_check_members(struct py_target *t, const struct module *m);
void py_find_arena(struct py_target *t, const struct module *m);
void py_find_tls(struct py_target *t, const struct module *m);
void py_find_tsd_slot(struct py_target *t, const struct lw_maps *maps);
void py_find_tss_key(struct py_target *t, const struct module *m, const struct py_layout *l);
int py_find_version(struct py_target *t, const struct module *m, uint32_t *hex);
bool py_is_first_of_file(const struct lw_maps *maps, size_t i);
bool py_maybe_python(const struct lw_maps *maps, size_t i);
int py_mem_read(void *ctx, uint64_t addr, void *buf, size_t len);
void py_module_close(struct module *m);
int py_module_func(const struct module *m, const char *name, uint64_t *addr);
int py_module_object(const struct module *m, const char *name, uint64_t *addr);
int py_module_open(pid_t pid, const struct lw_maps *maps, size_t i, struct module *out);
int py_read_u64(struct py_target *t, uint64_t addr, uint64_t *v);

#endif
