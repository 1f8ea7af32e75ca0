// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "symbols/cfi.h"
#include "symbols/dwarf_lookup.h"
#include "common/hashmap.h"
#include "symbols/sym.h"

/* Where a function's code lies in its CU: found by binary search, so an
 * address does not cost a walk of the whole CU (dwarf_getscopes does that,
 * milliseconds per address in a CU of thousands of functions). */
struct func_range {
	Dwarf_Addr lo, hi;
	Dwarf_Die die;
};

struct cu_index {
	struct func_range *v;
	size_t n;
};

/* A sized function symbol: dwfl_module_addrinfo searches every symbol on
 * each call, which a binary of many functions makes slow; these are
 * sorted once and searched by halves. */
struct func_sym {
	GElf_Addr lo, hi;
	const char *name;  /* in the ELF's string table */
	int rank;          /* binding: global 4, weak 2, local 0; +1 unversioned */
};

/* Namespaces nest; a hostile file could nest them without end. */
#define MAX_NESTING 32
/* Inlined calls and blocks inside one function, the same. */
#define MAX_SCOPES 64

struct dwarf_module {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	char *path;
	int debug_fd;   /* debug info handed in, or -1 */
	int fd;         /* a copy of the object's descriptor, for the oracle */
	int stripped;   /* -1: not known yet */
	struct hashmap *cus; /* CU DIE offset -> struct cu_index */
	struct func_sym *syms; /* sized functions by address, built on first use */
	size_t nr_syms;
	bool syms_read;
};

/* Debug info handed in (found in the target's own root), else the usual
 * places (build-id and debuglink under /usr/lib/debug, beside the file,
 * debuginfod when DEBUGINFOD_URLS is set). */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	struct dwarf_module *m = *userdata;

	if (m && m->debug_fd >= 0) {
		*debuginfo_file_name = strdup(m->path);
		return dup(m->debug_fd);
	}
	return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
					    debuglink_crc, debuginfo_file_name);
}

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

struct dwarf_module *dwarf_module__open(int fd, const char *path)
{
	struct dwarf_module *m = calloc(1, sizeof(*m));
	void **userdata;

	if (!m) {
		close(fd);
		return NULL;
	}
	m->debug_fd = -1;
	m->stripped = -1;
	m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	m->path = strdup(path);
	m->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!m->path || !m->dwfl) {
		close(fd);
		dwarf_module__free(m);
		return NULL;
	}
	dwfl_report_begin(m->dwfl);
	/* placed at its link-time addresses; dwfl owns fd from here */
	m->mod = dwfl_report_elf(m->dwfl, m->path, m->path, fd, 0, true);
	dwfl_report_end(m->dwfl, NULL, NULL);
	if (!m->mod) {
		dwarf_module__free(m);
		return NULL;
	}
	dwfl_module_info(m->mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
	*userdata = m;
	return m;
}

void dwarf_module__free(struct dwarf_module *m)
{
	struct cu_index *ix;
	size_t pos = 0;

	if (!m)
		return;
	while (m->cus && (ix = hashmap__next(m->cus, &pos, NULL))) {
		free(ix->v);
		free(ix);
	}
	hashmap__free(m->cus);
	free(m->syms);
	if (m->dwfl)
		dwfl_end(m->dwfl);
	if (m->debug_fd >= 0)
		close(m->debug_fd);
	if (m->fd >= 0)
		close(m->fd);
	free(m->path);
	free(m);
}

void dwarf_module__build_id(struct dwarf_module *m, char out[41])
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(m->mod, &bits, &vaddr);

	out[0] = 0;
	for (int i = 0; i < n && i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", bits[i]);
}

const char *dwarf_module__debuglink(struct dwarf_module *m)
{
	GElf_Addr bias;
	GElf_Word crc;
	Elf *elf = dwfl_module_getelf(m->mod, &bias);

	return elf ? dwelf_elf_gnu_debuglink(elf, &crc) : NULL;
}

void dwarf_module__set_debug_fd(struct dwarf_module *m, int fd)
{
	if (m->debug_fd >= 0)
		close(m->debug_fd);
	m->debug_fd = fd;
}

bool dwarf_module__stripped(struct dwarf_module *m)
{
	Dwarf_Addr bias;
	GElf_Addr ebias;
	Elf *elf;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (m->stripped >= 0)
		return m->stripped;
	m->stripped = 0;
	if (dwfl_module_getdwarf(m->mod, &bias))
		return false;
	elf = dwfl_module_getelf(m->mod, &ebias);
	while (elf && (scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			return false;
	m->stripped = 1;
	return true;
}

/* File offset to the address dwfl uses for the module (its link-time
 * vaddr), through the PT_LOAD segment holding the offset. */
static bool offset_to_vaddr(struct dwarf_module *m, uint64_t off, uint64_t *vaddr)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(m->mod, &bias);
	size_t n;
	GElf_Phdr ph;

	if (!elf || elf_getphdrnum(elf, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (off >= ph.p_offset && off < ph.p_offset + ph.p_filesz) {
			*vaddr = off - ph.p_offset + ph.p_vaddr + bias;
			return true;
		}
	}
	return false;
}

/* libstdc++'s demangler, callable from C */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* A C++ name as people write it ("leak_new()"); others as they are. */
static char *demangle(const char *name)
{
	int status = -1;
	char *plain = strncmp(name, "_Z", 2) ? NULL : __cxa_demangle(name, NULL, NULL, &status);

	return status == 0 && plain ? plain : strdup(name);
}

/* A function DIE's name as people write it: the demangled linkage name
 * (qualified, with parameters, for C++), else its plain name. */
static char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name = NULL;

	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
		name = dwarf_formstring(&attr);
	if (!name)
		name = dwarf_diename(die);
	return name ? demangle(name) : NULL;
}

/* Where an inlined call was made: its DW_AT_call_file and DW_AT_call_line. */
static void call_site(Dwarf_Die *cu, Dwarf_Die *inlined, struct lw_sym *into)
{
	Dwarf_Attribute attr;
	Dwarf_Word file = 0, line = 0;
	Dwarf_Files *files;
	size_t nfiles;
	const char *name;

	if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &line) == 0)
		into->line = line;
	if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &file) == 0 &&
	    dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && file < nfiles &&
	    (name = dwarf_filesrc(files, file, NULL, NULL)))
		into->file = strdup(name);
}

static int range_cmp(const void *a, const void *b)
{
	const struct func_range *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Every function defined under parent (through namespaces and classes,
 * whose member functions may be defined there). */
static void index_functions(Dwarf_Die *parent, struct cu_index *ix, size_t *cap, int depth)
{
	Dwarf_Die child;

	if (depth > MAX_NESTING || dwarf_child(parent, &child) != 0)
		return;
	do {
		int tag = dwarf_tag(&child);
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;

		if (tag == DW_TAG_namespace || tag == DW_TAG_class_type ||
		    tag == DW_TAG_structure_type || tag == DW_TAG_union_type) {
			index_functions(&child, ix, cap, depth + 1);
			continue;
		}
		if (tag != DW_TAG_subprogram)
			continue;
		/* a function split into hot and cold parts has several ranges */
		while ((off = dwarf_ranges(&child, off, &base, &lo, &hi)) > 0) {
			if (ix->n == *cap) {
				size_t want = *cap ? *cap * 2 : 64;
				struct func_range *v = realloc(ix->v, want * sizeof(*v));

				if (!v)
					return;
				ix->v = v;
				*cap = want;
			}
			ix->v[ix->n++] = (struct func_range){ lo, hi, child };
		}
	} while (dwarf_siblingof(&child, &child) == 0);
}

/* The index of cu's functions, built on first use. */
static struct cu_index *cu_index(struct dwarf_module *m, Dwarf_Die *cu)
{
	struct lw_key key = { dwarf_dieoffset(cu), 0 };
	struct cu_index *ix;
	size_t cap = 0;

	if (!m->cus && !(m->cus = hashmap__new()))
		return NULL;
	ix = hashmap__get(m->cus, key);
	if (ix)
		return ix;
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return NULL;
	index_functions(cu, ix, &cap, 0);
	qsort(ix->v, ix->n, sizeof(*ix->v), range_cmp);
	if (hashmap__set(m->cus, key, ix)) {
		free(ix->v);
		free(ix);
		return NULL;
	}
	return ix;
}

/*
 * The scopes holding pc in cu, innermost first, out to the function (as
 * dwarf_getscopes gives them, without walking the whole CU): the function
 * by binary search in the CU's index, then down through its blocks and
 * inlined calls. Returns how many, 0 when no function holds pc.
 */
static int scopes_at(struct dwarf_module *m, Dwarf_Die *cu, Dwarf_Addr pc, Dwarf_Die *out)
{
	struct cu_index *ix = cu_index(m, cu);
	Dwarf_Die path[MAX_SCOPES];
	size_t lo = 0, hi;
	int n = 0;

	if (!ix)
		return 0;
	hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->v[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || pc >= ix->v[lo - 1].hi)
		return 0;
	path[n++] = ix->v[lo - 1].die;
	while (n < MAX_SCOPES) {
		Dwarf_Die child;
		bool deeper = false;

		if (dwarf_child(&path[n - 1], &child) != 0)
			break;
		do {
			int tag = dwarf_tag(&child);

			if ((tag == DW_TAG_inlined_subroutine || tag == DW_TAG_lexical_block ||
			     tag == DW_TAG_try_block || tag == DW_TAG_catch_block) &&
			    dwarf_haspc(&child, pc) > 0) {
				path[n++] = child;
				deeper = true;
				break;
			}
		} while (dwarf_siblingof(&child, &child) == 0);
		if (!deeper)
			break;
	}
	for (int i = 0; i < n; i++)
		out[i] = path[n - 1 - i];
	return n;
}

/*
 * The inline chain at vaddr, when calls were inlined there: sym (the
 * innermost frame, already named from the symbol table and given the line
 * of vaddr) becomes the innermost inlined function, and callers are added
 * out to the concrete function, which keeps the symbol's name and offset.
 */
static void expand_inlines(struct dwarf_module *m, uint64_t vaddr, struct lw_sym *sym)
{
	Dwarf_Addr bias;
	Dwarf_Die *cu = dwfl_module_addrdie(m->mod, vaddr, &bias), scopes[MAX_SCOPES];
	struct lw_sym *inner = sym;
	int n, i;

	n = cu ? scopes_at(m, cu, vaddr - bias, scopes) : 0;
	if (cu && !n) {
		/* code of a function the index has not (defined inside another
		 * function: a lambda, a local class): the whole walk */
		Dwarf_Die *all = NULL;

		n = dwarf_getscopes(cu, vaddr - bias, &all);
		if (n > MAX_SCOPES)
			n = MAX_SCOPES;
		for (i = 0; i < n; i++)
			scopes[i] = all[i];
		free(all);
	}
	/* scopes[0] is the innermost; the chain ends at the first subprogram */
	for (i = 0; i < n && dwarf_tag(&scopes[i]) != DW_TAG_subprogram; i++) {
		struct lw_sym *outer;
		char *name;

		if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine)
			continue;
		outer = calloc(1, sizeof(*outer));
		name = die_name(&scopes[i]);
		if (!outer || !name) {
			free(outer);
			free(name);
			break;
		}
		/* the outer frame is what inner used to be: the symbol's function */
		outer->function = inner->function;
		outer->offset = inner->offset;
		outer->stripped = inner->stripped;
		call_site(cu, &scopes[i], outer);
		inner->function = name;
		inner->offset = 0;
		inner->caller = outer;
		inner = outer;
	}
}

static int sym_cmp(const void *a, const void *b)
{
	const struct func_sym *x = a, *y = b;

	return (x->lo > y->lo) - (x->lo < y->lo);
}

static void read_syms(struct dwarf_module *m)
{
	int n = dwfl_module_getsymtab(m->mod);
	size_t cap = 0;

	m->syms_read = true;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		Elf *elf;
		Dwarf_Addr bias;
		const char *name = dwfl_module_getsym_info(m->mod, i, &sym, &addr, &shndx, &elf, &bias);
		int type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);

		if (!name || !name[0] || !sym.st_size || shndx == SHN_UNDEF ||
		    (type != STT_FUNC && type != STT_GNU_IFUNC))
			continue;
		if (m->nr_syms == cap) {
			size_t want = cap ? cap * 2 : 256;
			struct func_sym *v = realloc(m->syms, want * sizeof(*v));

			if (!v)
				break;
			m->syms = v;
			cap = want;
		}
		/* of equal bindings, a versioned alias (name@VERSION) last */
		m->syms[m->nr_syms++] = (struct func_sym){ addr, addr + sym.st_size, name,
							   (bind == STB_GLOBAL ? 4 : bind == STB_WEAK ? 2 : 0) +
							   !strchr(name, '@') };
	}
	qsort(m->syms, m->nr_syms, sizeof(*m->syms), sym_cmp);
}

/* The function symbol holding pc and pc's offset in it: of those holding
 * it, the closest start, then the strongest binding (malloc over
 * __libc_malloc's local alias), then unversioned before versioned. NULL
 * when no sized symbol holds it. */
static const char *sym_at(struct dwarf_module *m, GElf_Addr pc, GElf_Off *off)
{
	const struct func_sym *best = NULL;
	size_t lo = 0, hi;

	if (!m->syms_read)
		read_syms(m);
	hi = m->nr_syms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->syms[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* aliases share a start; an enclosing symbol starts earlier */
	for (size_t i = lo; i-- > 0 && lo - i <= 32;) {
		const struct func_sym *c = &m->syms[i];

		if (pc >= c->hi)
			continue;
		if (!best || c->lo > best->lo || (c->lo == best->lo && c->rank > best->rank))
			best = c;
	}
	if (!best)
		return NULL;
	*off = pc - best->lo;
	return best->name;
}

struct lw_sym *dwarf_module__lookup(struct dwarf_module *m, uint64_t off)
{
	const char *name, *file;
	struct lw_sym *sym;
	Dwfl_Line *line;
	GElf_Off sym_off;
	uint64_t vaddr;
	GElf_Sym es;

	if (!off || !offset_to_vaddr(m, off, &vaddr))
		return NULL;
	/* a return address names the call before it: look up addr - 1 */
	name = sym_at(m, vaddr - 1, &sym_off);
	if (!name) /* sizeless symbols (assembly): libdwfl's nearest */
		name = dwfl_module_addrinfo(m->mod, vaddr - 1, &sym_off, &es, NULL, NULL, NULL);
	line = dwfl_module_getsrc(m->mod, vaddr - 1);
	if (!name && !line)
		return NULL;
	sym = calloc(1, sizeof(*sym));
	if (!sym)
		return NULL;
	if (name) {
		/* "__libc_start_main@GLIBC_2.2.5": the version is not the name */
		char plain[512];
		const char *at = strchr(name, '@');

		if (at && at > name && (size_t)(at - name) < sizeof(plain)) {
			snprintf(plain, sizeof(plain), "%.*s", (int)(at - name), name);
			name = plain;
		}
		sym->function = demangle(name);
		sym->offset = sym_off + 1;
		sym->stripped = dwarf_module__stripped(m);
	}
	if (line) {
		file = dwfl_lineinfo(line, NULL, &sym->line, NULL, NULL, NULL);
		sym->file = file ? strdup(file) : NULL;
	}
	if (name)
		expand_inlines(m, vaddr - 1, sym);
	return sym;
}

void lw_sym__free(struct lw_sym *sym)
{
	while (sym) {
		struct lw_sym *caller = (struct lw_sym *)sym->caller;

		free((char *)sym->function);
		free((char *)sym->file);
		free(sym);
		sym = caller;
	}
}

int dwarf_module__cfi(struct dwarf_module *m, struct cfi_table *out)
{
	Dwarf_Addr bias;
	Elf *elf = dwfl_module_getelf(m->mod, &bias);
	Dwarf_CFI *eh = dwfl_module_eh_cfi(m->mod, &bias);

	/* .debug_frame only without .eh_frame: it may mean loading debug info */
	return cfi_table__build(elf, eh, eh ? NULL : dwfl_module_dwarf_cfi(m->mod, &bias), out);
}

int dwarf_module__fd(struct dwarf_module *m)
{
	return m->fd;
}

const char *dwarf_module__path(struct dwarf_module *m)
{
	return m->path;
}

int dwarf_module__find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
				 uint64_t base, const char *file_name, const char *debuglink_file,
				 uint32_t debuglink_crc, char **debuginfo_file_name)
{
	return find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
			      debuglink_crc, debuginfo_file_name);
}
