/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The stack oracle behind --verify-stacks: a stack unwound again, from the
 * registers and the copy of stack memory the BPF program sent, by libdw's
 * own unwinder (libdwfl, .eh_frame and .debug_frame, its frame-pointer
 * fallback included). Runs in the symbolizer worker: it parses the
 * target's files.
 */
#ifndef LW_ORACLE_H
#define LW_ORACLE_H

#include <stddef.h>
#include <stdint.h>

struct dwarf_module;

/* One executable mapping of the process. */
struct oracle_map {
	uint64_t start, end, pgoff;
	uint32_t module;  /* index into the modules given */
	uint32_t pad;
};

/*
 * Unwinds from regs (DWARF order, leakwatch.h LW_VERIFY_REGS) over the
 * stack bytes copied from regs[7] on; mods[maps[i].module] is the module
 * of each mapping (NULL: not readable). Stores the return addresses, the
 * probed function's own pc left out, into pcs; returns how many (at most
 * max), or -errno. When the unwind needed stack beyond a copy that was
 * cut short (LW_VERIFY_STACK_BYTES, not the end of the stack), the last
 * of them is ORACLE_CUT: the frames before it are libdw's, the rest unknown.
 */
#define ORACLE_CUT UINT64_MAX

int oracle_unwind(struct dwarf_module *const *mods, size_t nr_mods, const struct oracle_map *maps,
		  size_t nr_maps, const uint64_t *regs, const uint8_t *stack, size_t len,
		  uint64_t *pcs, int max);

#endif
