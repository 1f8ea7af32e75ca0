/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Where a function lives in an ELF file: what a uprobe needs. */
#ifndef LW_ELF_SYMBOLS_H
#define LW_ELF_SYMBOLS_H

#include <stdint.h>

struct elf_symbols;

/* Reads the dynamic (and, if present, full) symbol table of the ELF file
 * open on fd. fd stays the caller's. NULL on failure with errno set. */
struct elf_symbols *elf_symbols__open(int fd);
void elf_symbols__close(struct elf_symbols *es);
/* File offset of the defined function name, 0 on success or -ENOENT.
 * The exported (dynamic) definition wins, as for the dynamic linker. */
int elf_symbols__func_offset(const struct elf_symbols *es, const char *name, uint64_t *off);

#endif
