// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/elf_symbols.h"

struct elf_symbols {
	Elf *elf;
	Elf_Scn *tables[2]; /* .dynsym, then .symtab */
	Elf_Scn *dynamic;
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
		else if (sh.sh_type == SHT_DYNAMIC)
			es->dynamic = scn;
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

typedef int (*symbol_fn)(const char *name, uint64_t vaddr, uint64_t size, void *ctx);

/* fn for each defined symbol of the given type (STT_FUNC or STT_OBJECT) in
 * .symtab, then .dynsym, until it returns non-zero (returned). */
static int each_symbol(const struct elf_symbols *es, int want, symbol_fn fn, void *ctx)
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
			int ret;

			/* an IFUNC's address is its resolver: never probed */
			if (!gelf_getsym(data, i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value ||
			    GELF_ST_TYPE(sym.st_info) != want)
				continue;
			s = elf_strptr(es->elf, sh.sh_link, sym.st_name);
			if (s && *s && (ret = fn(s, sym.st_value, sym.st_size, ctx)))
				return ret;
		}
	}
	return 0;
}

struct wanted {
	const char *name;
	uint64_t value, size;
};

static int is_wanted(const char *name, uint64_t vaddr, uint64_t size, void *ctx)
{
	struct wanted *w = ctx;

	if (strcmp(name, w->name))
		return 0;
	w->value = vaddr;
	w->size = size;
	return 1;
}

/* The defined symbol name of the given type. */
static int find_symbol(const struct elf_symbols *es, const char *name, int want, uint64_t *value,
		       uint64_t *size)
{
	struct wanted w = { .name = name };

	if (!each_symbol(es, want, is_wanted, &w))
		return -ENOENT;
	*value = w.value;
	if (size)
		*size = w.size;
	return 0;
}

int elf_symbols__func(const struct elf_symbols *es, const char *name, uint64_t *off, uint64_t *size)
{
	uint64_t vaddr;
	int err = find_symbol(es, name, STT_FUNC, &vaddr, size);

	return err ? err : vaddr_to_offset(es->elf, vaddr, off);
}

int elf_symbols__each_func(const struct elf_symbols *es, symbol_fn fn, void *ctx)
{
	return each_symbol(es, STT_FUNC, fn, ctx);
}

int elf_symbols__vaddr_to_offset(const struct elf_symbols *es, uint64_t vaddr, uint64_t *off)
{
	return vaddr_to_offset(es->elf, vaddr, off);
}

bool elf_symbols__has_symbols(const struct elf_symbols *es)
{
	return es->tables[0] || es->tables[1];
}

/* Calls fn on each string-valued entry of the dynamic section with tag. */
static int each_dynamic_string(const struct elf_symbols *es, int64_t tag,
			       int (*fn)(const char *s, void *ctx), void *ctx)
{
	Elf_Data *data;
	GElf_Shdr sh;
	GElf_Dyn dyn;

	if (!es->dynamic || !gelf_getshdr(es->dynamic, &sh) ||
	    !(data = elf_getdata(es->dynamic, NULL)))
		return 0;
	for (size_t i = 0; sh.sh_entsize && i < sh.sh_size / sh.sh_entsize; i++) {
		const char *s;
		int ret;

		if (!gelf_getdyn(data, i, &dyn) || dyn.d_tag == DT_NULL)
			break;
		if (dyn.d_tag != tag || !(s = elf_strptr(es->elf, sh.sh_link, dyn.d_un.d_val)))
			continue;
		if ((ret = fn(s, ctx)))
			return ret;
	}
	return 0;
}

struct copy_ctx {
	char *buf;
	size_t len;
};

static int copy_string(const char *s, void *ctx)
{
	struct copy_ctx *c = ctx;

	snprintf(c->buf, c->len, "%s", s);
	return 1;
}

int elf_symbols__soname(const struct elf_symbols *es, char *buf, size_t len)
{
	struct copy_ctx c = { buf, len };

	return each_dynamic_string(es, DT_SONAME, copy_string, &c) ? 0 : -ENOENT;
}

static int same_string(const char *s, void *ctx)
{
	return !strcmp(s, ctx);
}

bool elf_symbols__needs(const struct elf_symbols *es, const char *soname)
{
	return each_dynamic_string(es, DT_NEEDED, same_string, (void *)soname);
}

int elf_symbols__func_offset(const struct elf_symbols *es, const char *name, uint64_t *off)
{
	return elf_symbols__func(es, name, off, NULL);
}

int elf_symbols__object_vaddr(const struct elf_symbols *es, const char *name, uint64_t *vaddr)
{
	return find_symbol(es, name, STT_OBJECT, vaddr, NULL);
}

int elf_symbols__offset_to_vaddr(const struct elf_symbols *es, uint64_t off, uint64_t *vaddr)
{
	size_t n;
	GElf_Phdr ph;

	if (elf_getphdrnum(es->elf, &n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(es->elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		/* mappings start at page boundaries below p_offset */
		if (off >= (ph.p_offset & ~0xfffULL) && off < ph.p_offset + ph.p_filesz) {
			*vaddr = off - ph.p_offset + ph.p_vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

int elf_symbols__entry_offset(const struct elf_symbols *es, uint64_t *off)
{
	GElf_Ehdr eh;

	if (!gelf_getehdr(es->elf, &eh) || !eh.e_entry)
		return -ENOENT;
	return vaddr_to_offset(es->elf, eh.e_entry, off);
}

int elf_symbols__interp(const struct elf_symbols *es, char *buf, size_t len)
{
	size_t n, size;
	GElf_Phdr ph;
	char *raw;

	if (elf_getphdrnum(es->elf, &n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(es->elf, i, &ph) || ph.p_type != PT_INTERP)
			continue;
		raw = elf_rawfile(es->elf, &size);
		if (!raw || ph.p_offset + ph.p_filesz > size || !ph.p_filesz || ph.p_filesz > len)
			return -EINVAL;
		memcpy(buf, raw + ph.p_offset, ph.p_filesz);
		buf[ph.p_filesz - 1] = 0;
		return 0;
	}
	return -ENOENT;
}

/* A SystemTap SDT note (.note.stapsdt, type 3): the probe's address, the
 * link-time address of .stapsdt.base it was recorded against, its
 * semaphore's address (0: none), then "provider\0name\0arguments\0". */
#define NT_STAPSDT 3

static Elf_Scn *section_named(Elf *elf, const char *want, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (gelf_getshdr(scn, sh) && (name = elf_strptr(elf, shstrndx, sh->sh_name)) &&
		    !strcmp(name, want))
			return scn;
	}
	return NULL;
}

int elf_symbols__usdt(const struct elf_symbols *es, const char *provider, const char *name,
		      uint64_t *off, uint64_t *semaphore_off)
{
	GElf_Shdr sh, base_sh;
	Elf_Scn *scn = section_named(es->elf, ".note.stapsdt", &sh);
	bool have_base = section_named(es->elf, ".stapsdt.base", &base_sh);
	Elf_Data *data = scn ? elf_getdata(scn, NULL) : NULL;
	size_t at = 0, next, name_at, desc_at;
	GElf_Nhdr nh;

	while (data && (next = gelf_getnote(data, at, &nh, &name_at, &desc_at)) > 0) {
		const char *desc = (const char *)data->d_buf + desc_at, *p;
		uint64_t a[3];
		size_t left;

		at = next;
		if (nh.n_type != NT_STAPSDT || nh.n_namesz != sizeof("stapsdt") ||
		    memcmp((const char *)data->d_buf + name_at, "stapsdt", nh.n_namesz) ||
		    nh.n_descsz < sizeof(a) + 2)
			continue;
		memcpy(a, desc, sizeof(a));
		p = desc + sizeof(a);
		left = nh.n_descsz - sizeof(a);
		if (strnlen(p, left) == left || strcmp(p, provider))
			continue;
		left -= strlen(p) + 1;
		p += strlen(p) + 1;
		if (strnlen(p, left) == left || strcmp(p, name))
			continue;
		/* prelink may have moved the file: .stapsdt.base says by how much */
		if (have_base)
			a[0] += base_sh.sh_addr - a[1];
		if (vaddr_to_offset(es->elf, a[0], off))
			return -ENOENT;
		*semaphore_off = 0;
		if (a[2]) {
			if (have_base)
				a[2] += base_sh.sh_addr - a[1];
			if (vaddr_to_offset(es->elf, a[2], semaphore_off))
				return -ENOENT;
		}
		return 0;
	}
	return -ENOENT;
}
