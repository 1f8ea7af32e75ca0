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
#include "cfi.h"
#include "dwarf_lookup.h"
#include "symbolize.h"

struct dwarf_module {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	char *path;
	int debug_fd;   /* debug info handed in, or -1 */
	int fd;         /* a copy of the object's descriptor, for the oracle */
	int stripped;   /* -1: not known yet */
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
	if (!m)
		return;
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

/*
 * The inline chain at vaddr, when calls were inlined there: sym (the
 * innermost frame, already named from the symbol table and given the line
 * of vaddr) becomes the innermost inlined function, and callers are added
 * out to the concrete function, which keeps the symbol's name and offset.
 */
static void expand_inlines(struct dwarf_module *m, uint64_t vaddr, struct lw_sym *sym)
{
	Dwarf_Addr bias;
	Dwarf_Die *cu = dwfl_module_addrdie(m->mod, vaddr, &bias), *scopes = NULL;
	struct lw_sym *inner = sym;
	int n, i;

	n = cu ? dwarf_getscopes(cu, vaddr - bias, &scopes) : 0;
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
	free(scopes);
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
	name = dwfl_module_addrinfo(m->mod, vaddr - 1, &sym_off, &es, NULL, NULL, NULL);
	line = dwfl_module_getsrc(m->mod, vaddr - 1);
	if (!name && !line)
		return NULL;
	sym = calloc(1, sizeof(*sym));
	if (!sym)
		return NULL;
	if (name) {
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
