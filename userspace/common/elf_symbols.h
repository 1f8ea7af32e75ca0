/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Where a function lives in an ELF file: what a uprobe needs. */
#ifndef LW_ELF_SYMBOLS_H
#define LW_ELF_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct elf_symbols;

/* Reads the dynamic (and, if present, full) symbol table of the ELF file
 * open on fd. fd stays the caller's. NULL on failure with errno set. */
struct elf_symbols *elf_symbols__open(int fd);
void elf_symbols__close(struct elf_symbols *es);
/* File offset of the defined function name, 0 on success or -ENOENT.
 * The exported (dynamic) definition wins, as for the dynamic linker. */
int elf_symbols__func_offset(const struct elf_symbols *es, const char *name, uint64_t *off);
/* The same, with the function's size in bytes. */
int elf_symbols__func(const struct elf_symbols *es, const char *name, uint64_t *off, uint64_t *size);
/* Calls fn for every defined function (IFUNCs excepted), the dynamic
 * table's first, with its link-time address and size, until fn returns
 * non-zero (which is returned); 0 at the end. One pass, for callers that
 * look for many names. */
int elf_symbols__each_func(const struct elf_symbols *es,
			   int (*fn)(const char *name, uint64_t vaddr, uint64_t size, void *ctx),
			   void *ctx);
/* File offset of link-time address vaddr; 0 or -ENOENT. */
int elf_symbols__vaddr_to_offset(const struct elf_symbols *es, uint64_t vaddr, uint64_t *off);
/* Whether the file has any symbol table (a stripped static one has none). */
bool elf_symbols__has_symbols(const struct elf_symbols *es);
/* Its DT_SONAME into buf; 0 or -ENOENT. */
int elf_symbols__soname(const struct elf_symbols *es, char *buf, size_t len);
/* Whether it lists soname as DT_NEEDED. */
bool elf_symbols__needs(const struct elf_symbols *es, const char *soname);
/* Link-time address of the defined data object name; 0 or -ENOENT. */
int elf_symbols__object_vaddr(const struct elf_symbols *es, const char *name, uint64_t *vaddr);
/* Link-time address that file offset off is loaded at; 0 or -ENOENT. */
int elf_symbols__offset_to_vaddr(const struct elf_symbols *es, uint64_t off, uint64_t *vaddr);
/* File offset of the entry point (e_entry); 0 or -ENOENT. */
int elf_symbols__entry_offset(const struct elf_symbols *es, uint64_t *off);
/* The program interpreter (PT_INTERP) into buf; 0, or -ENOENT for a
 * static executable. */
int elf_symbols__interp(const struct elf_symbols *es, char *buf, size_t len);
/* A USDT probe (SystemTap SDT note) provider:name: the file offset of its
 * instruction, and of its semaphore (0: the probe has none). A semaphore
 * must be counted up (a uprobe's ref_ctr_offset) for the probe to run.
 * 0 or -ENOENT. */
int elf_symbols__usdt(const struct elf_symbols *es, const char *provider, const char *name,
		      uint64_t *off, uint64_t *semaphore_off);

#endif
