/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a file offset in an ELF object means, from its symbol tables and
 * DWARF (elfutils' libdwfl): function, source line and the chain of
 * inlined calls. This is the part that parses files leakwatch does not
 * control, so it runs in the symbolizer worker (symbol_worker.h), never in
 * the process that holds the probes; it reads only the descriptors it is
 * given and the standard debug-info places.
 */
#ifndef LW_DWARF_LOOKUP_H
#define LW_DWARF_LOOKUP_H

#include <stdbool.h>
#include <stdint.h>

struct lw_sym;
struct dwarf_module;
typedef struct Dwfl_Module Dwfl_Module;

/* Opens the object in fd (taken over: closed by dwarf_module__free) that
 * its process names path. NULL when it is not an ELF object or on ENOMEM. */
struct dwarf_module *dwarf_module__open(int fd, const char *path);
void dwarf_module__free(struct dwarf_module *m);
/* The GNU build-id in hex into out[41] ("" when none). */
void dwarf_module__build_id(struct dwarf_module *m, char out[41]);
/* The .gnu_debuglink file name, or NULL. */
const char *dwarf_module__debuglink(struct dwarf_module *m);
/* Debug info found elsewhere (inside a container's root), taken over;
 * call before the first lookup. Without it the standard places are
 * searched: build-id and debuglink under /usr/lib/debug, beside the file,
 * debuginfod when DEBUGINFOD_URLS is set. */
void dwarf_module__set_debug_fd(struct dwarf_module *m, int fd);
/* Named from .dynsym alone: neither .symtab nor DWARF. */
bool dwarf_module__stripped(struct dwarf_module *m);
/*
 * The meaning of the return address at file offset off: resolved at off-1
 * (the call), the innermost inlined function first, callers out to the
 * function the code belongs to. Returns a chain the caller frees with
 * lw_sym__free, or NULL when no symbol covers it (or on ENOMEM).
 */
struct lw_sym *dwarf_module__lookup(struct dwarf_module *m, uint64_t off);
struct cfi_table;
/* The module's unwind table (cfi.h): from its .eh_frame, else the
 * .debug_frame of the file or its debug info. 0 or -errno (-ENOENT: no
 * CFI). */
int dwarf_module__cfi(struct dwarf_module *m, struct cfi_table *out);
/* A descriptor of the object (its own, not to be closed), and its path. */
int dwarf_module__fd(struct dwarf_module *m);
const char *dwarf_module__path(struct dwarf_module *m);
/* The file's find_debuginfo callback for another Dwfl reporting it
 * (oracle.h): its debug file handed in, else the standard places. */
int dwarf_module__find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
				 uint64_t base, const char *file_name, const char *debuglink_file,
				 uint32_t debuglink_crc, char **debuginfo_file_name);
/* A chain from dwarf_module__lookup (or any heap-built chain). */
void lw_sym__free(struct lw_sym *sym);

#endif
