// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include "elf_symbols.h"

struct elf_symbols {
	Elf *elf;
	Elf_Scn *tables[2]; /* .dynsym, then .symtab */
};

struct elf_symbols *elf_symbols__open(int fd)
{
	struct elf_symbols *es;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = EINVAL;
		return NULL;
	}
	es = calloc(1, sizeof(*es));
	if (!es)
		return NULL;
	es->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!es->elf || elf_kind(es->elf) != ELF_K_ELF) {
		elf_symbols__close(es);
		errno = ENOEXEC;
		return NULL;
	}
	while ((scn = elf_nextscn(es->elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNSYM)
			es->tables[0] = scn;
		else if (sh.sh_type == SHT_SYMTAB)
			es->tables[1] = scn;
	}
	return es;
}

void elf_symbols__close(struct elf_symbols *es)
{
	if (!es)
		return;
	if (es->elf)
		elf_end(es->elf);
	free(es);
}

/* Link-time address to file offset, through the PT_LOAD that holds it. */
static int vaddr_to_offset(Elf *elf, uint64_t vaddr, uint64_t *off)
{
	size_t n;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return 0;
		}
	}
	return -ENOENT;
}

int elf_symbols__func_offset(const struct elf_symbols *es, const char *name, uint64_t *off)
{
	for (int t = 0; t < 2; t++) {
		Elf_Scn *scn = es->tables[t];
		Elf_Data *data;
		GElf_Shdr sh;
		GElf_Sym sym;

		if (!scn || !gelf_getshdr(scn, &sh) || !(data = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
			const char *s;
			int type;

			if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
				continue;
			type = GELF_ST_TYPE(sym.st_info);
			if (type != STT_FUNC)
				continue;
			s = elf_strptr(es->elf, sh.sh_link, sym.st_name);
			if (s && !strcmp(s, name))
				return vaddr_to_offset(es->elf, sym.st_value, off);
		}
	}
	return -ENOENT;
}
