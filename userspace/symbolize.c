// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <limits.h>
#include <errno.h>
#include <inttypes.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hashmap.h"
#include "insn.h"
#include "proc.h"
#include "symbolize.h"

/* A perf map entry: JIT code a process names for profilers. */
struct perf_entry {
	uint64_t start, size;
	char *name;
};

/* One process's address space as last read. */
struct view {
	pid_t pid;
	struct perf_entry *perf;  /* sorted by start */
	size_t nr_perf;
	struct timespec perf_mtime;
	off_t perf_size;
	bool perf_checked_this_round;
	struct lw_maps maps;
	struct lw_module **mods; /* per mapping; NULL for anonymous or unreadable */
	bool refreshed_this_round;
};

struct symbolizer {
	struct lw_module **mods;
	size_t nr_mods;
	struct view *views;
	size_t nr_views;
	/* names given to JIT frames, by (pid, address); kept while any stack
	 * may point at them */
	struct hashmap *jit_syms;
};

/* Debug info found inside the target's root when the module was opened,
 * else the usual places (build-id and debuglink under /usr/lib/debug,
 * beside the file, debuginfod when DEBUGINFOD_URLS is set). */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	struct lw_module *m = *userdata;

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

struct symbolizer *symbolizer__new(void)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	return s;
}

/* A sym and the inline chain it owns. */
static void sym_free(struct lw_sym *sym)
{
	while (sym) {
		struct lw_sym *caller = (struct lw_sym *)sym->caller;

		free((char *)sym->function);
		free((char *)sym->file);
		free(sym);
		sym = caller;
	}
}

static void module_free(struct lw_module *m)
{
	struct lw_sym *sym;
	size_t pos = 0;

	if (!m)
		return;
	if (m->syms) {
		while ((sym = hashmap__next(m->syms, &pos, NULL)))
			sym_free(sym);
		hashmap__free(m->syms);
	}
	if (m->dwfl)
		dwfl_end(m->dwfl);
	if (m->fd >= 0)
		close(m->fd);
	if (m->debug_fd >= 0)
		close(m->debug_fd);
	free(m->path);
	free(m);
}

static void perf_clear(struct view *v)
{
	for (size_t i = 0; i < v->nr_perf; i++)
		free(v->perf[i].name);
	free(v->perf);
	v->perf = NULL;
	v->nr_perf = 0;
}

static void view_clear(struct view *v)
{
	maps__free(&v->maps);
	free(v->mods);
	v->mods = NULL;
	perf_clear(v);
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nr_views; i++)
		view_clear(&s->views[i]);
	free(s->views);
	for (size_t i = 0; i < s->nr_mods; i++)
		module_free(s->mods[i]);
	free(s->mods);
	if (s->jit_syms) {
		struct lw_sym *sym;
		size_t pos = 0;

		while ((sym = hashmap__next(s->jit_syms, &pos, NULL)))
			sym_free(sym);
		hashmap__free(s->jit_syms);
	}
	free(s);
}

static struct view *view_of(struct symbolizer *s, pid_t pid, bool create)
{
	struct view *v;

	for (size_t i = 0; i < s->nr_views; i++)
		if (s->views[i].pid == pid)
			return &s->views[i];
	if (!create)
		return NULL;
	v = realloc(s->views, (s->nr_views + 1) * sizeof(*v));
	if (!v)
		return NULL;
	s->views = v;
	v = &s->views[s->nr_views++];
	memset(v, 0, sizeof(*v));
	v->pid = pid;
	return v;
}

static void read_build_id(struct lw_module *m)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n;

	n = dwfl_module_build_id(m->dwfl_mod, &bits, &vaddr);
	for (int i = 0; i < n && i < 20; i++)
		sprintf(m->build_id + 2 * i, "%02x", bits[i]);
}

/* Named from .dynsym alone: the file has neither .symtab nor DWARF. */
static bool module_stripped(struct lw_module *m)
{
	Dwarf_Addr bias;
	GElf_Addr ebias;
	Elf *elf;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (dwfl_module_getdwarf(m->dwfl_mod, &bias))
		return false;
	elf = dwfl_module_getelf(m->dwfl_mod, &ebias);
	while (elf && (scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			return false;
	return true;
}

/* Whether pid sees another root than ours (a container, a chroot). */
static bool own_root(pid_t pid)
{
	struct stat ours, theirs;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/root/", pid);
	return stat("/", &ours) == 0 && stat(path, &theirs) == 0 &&
	       (ours.st_dev != theirs.st_dev || ours.st_ino != theirs.st_ino);
}

/*
 * Debug info a container keeps for its own files, looked for while the
 * process is alive (its root goes with it): by build-id under its
 * /usr/lib/debug, then by .gnu_debuglink beside the file, in .debug/
 * there, and under its /usr/lib/debug. The host's places are the
 * fallback (find_debuginfo).
 */
static int container_debuginfo(pid_t pid, struct lw_module *m)
{
	char path[PATH_MAX * 3], dir[PATH_MAX];
	const char *link, *slash;
	GElf_Addr bias;
	GElf_Word crc;
	Elf *elf;
	int fd = -1;

	if (m->build_id[0]) {
		snprintf(path, sizeof(path), "/proc/%d/root/usr/lib/debug/.build-id/%.2s/%s.debug", pid,
			 m->build_id, m->build_id + 2);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	elf = fd < 0 ? dwfl_module_getelf(m->dwfl_mod, &bias) : NULL;
	link = elf ? dwelf_elf_gnu_debuglink(elf, &crc) : NULL;
	slash = strrchr(m->path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - m->path) : 0, m->path);
	if (fd < 0 && link) {
		static const char *const places[] = { "%s/%s", "%s/.debug/%s", "/usr/lib/debug%s/%s" };

		for (size_t i = 0; i < sizeof(places) / sizeof(places[0]) && fd < 0; i++) {
			char rel[PATH_MAX * 2];

			snprintf(rel, sizeof(rel), places[i], dir, link);
			snprintf(path, sizeof(path), "/proc/%d/root%s", pid, rel);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
	}
	return fd;
}

/* The module for mapping map of pid: an already open one for the same file
 * (same device and inode), or the file opened through pid's view. */
static struct lw_module *module_for(struct symbolizer *s, pid_t pid, const struct lw_map *map)
{
	struct lw_module *m, **grown;
	struct stat st;
	int fd;

	fd = proc__open_mapped(pid, map, NULL, 0);
	if (fd < 0 || fstat(fd, &st)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (size_t i = 0; i < s->nr_mods; i++) {
		if (s->mods[i]->dev == st.st_dev && s->mods[i]->inode == st.st_ino) {
			close(fd);
			return s->mods[i];
		}
	}
	m = calloc(1, sizeof(*m));
	grown = realloc(s->mods, (s->nr_mods + 1) * sizeof(*grown));
	if (!m || !grown)
		goto fail;
	s->mods = grown;
	m->fd = fd;
	m->debug_fd = -1;
	m->dev = st.st_dev;
	m->inode = st.st_ino;
	m->path = strdup(map->path);
	m->syms = hashmap__new();
	m->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!m->path || !m->syms || !m->dwfl)
		goto fail;
	dwfl_report_begin(m->dwfl);
	/* placed at its link-time addresses; dwfl takes the duplicate fd */
	m->dwfl_mod = dwfl_report_elf(m->dwfl, m->path, m->path, dup(fd), 0, true);
	dwfl_report_end(m->dwfl, NULL, NULL);
	if (m->dwfl_mod) {
		void **userdata;

		dwfl_module_info(m->dwfl_mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
		*userdata = m;
		read_build_id(m);
		if (own_root(pid))
			m->debug_fd = container_debuginfo(pid, m);
		m->stripped = module_stripped(m);
	}
	s->mods[s->nr_mods++] = m;
	return m;
fail:
	if (m) {
		m->fd = m->debug_fd = -1;
		module_free(m);
	}
	close(fd);
	return NULL;
}

int symbolizer__refresh(struct symbolizer *s, pid_t pid)
{
	struct view *v = view_of(s, pid, true);
	struct lw_maps maps;
	int err;

	if (!v)
		return -ENOMEM;
	err = maps__read(pid, &maps);
	if (err)
		return err;
	if (!maps.n) {
		/* a zombie's maps are empty: keep what was read while alive */
		maps__free(&maps);
		return -ESRCH;
	}
	view_clear(v);
	v->maps = maps;
	v->mods = calloc(maps.n, sizeof(*v->mods));
	if (!v->mods)
		return -ENOMEM;
	for (size_t i = 0; i < maps.n; i++)
		if (maps.v[i].exec && maps.v[i].path)
			v->mods[i] = module_for(s, pid, &maps.v[i]);
	v->refreshed_this_round = true;
	return 0;
}

void symbolizer__new_round(struct symbolizer *s)
{
	for (size_t i = 0; i < s->nr_views; i++) {
		s->views[i].refreshed_this_round = false;
		s->views[i].perf_checked_this_round = false;
	}
}

/* The PID of pid inside its own PID namespace (the last of NSpid). */
static pid_t ns_pid(pid_t pid)
{
	char path[64], line[256];
	pid_t inner = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return pid;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;

		if (strncmp(line, "NSpid:", 6))
			continue;
		for (p += 6; *p;) {
			char *end;
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			inner = v;
			p = end;
		}
		break;
	}
	fclose(f);
	return inner;
}

static int perf_cmp(const void *a, const void *b)
{
	const struct perf_entry *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

/*
 * Reads the perf map the process publishes for its JIT code (python -X perf,
 * node --perf-basic-prof, JVM agents): /tmp/perf-PID.map as the process
 * sees it, under its root and named by its PID in its namespace. Read again
 * when the file changed, at most once per round.
 */
static void perf_load(struct view *v)
{
	char path[96], line[1024];
	struct stat st;
	size_t cap = 0;
	FILE *f;

	if (v->perf_checked_this_round)
		return;
	v->perf_checked_this_round = true;
	snprintf(path, sizeof(path), "/proc/%d/root/tmp/perf-%d.map", v->pid, ns_pid(v->pid));
	if (stat(path, &st) || (st.st_size == v->perf_size &&
				st.st_mtim.tv_sec == v->perf_mtime.tv_sec &&
				st.st_mtim.tv_nsec == v->perf_mtime.tv_nsec))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	perf_clear(v);
	v->perf_size = st.st_size;
	v->perf_mtime = st.st_mtim;
	while (fgets(line, sizeof(line), f)) {
		struct perf_entry e = {};
		int name_at = 0;

		/* "START SIZE name", both hex */
		if (sscanf(line, "%" SCNx64 " %" SCNx64 " %n", &e.start, &e.size, &name_at) < 2 ||
		    !name_at || !e.size)
			continue;
		line[strcspn(line, "\n")] = 0;
		e.name = strdup(line + name_at);
		if (!e.name)
			break;
		if (v->nr_perf == cap) {
			size_t want = cap ? cap * 2 : 64;
			struct perf_entry *grown = realloc(v->perf, want * sizeof(*grown));

			if (!grown) {
				free(e.name);
				break;
			}
			v->perf = grown;
			cap = want;
		}
		v->perf[v->nr_perf++] = e;
	}
	fclose(f);
	qsort(v->perf, v->nr_perf, sizeof(*v->perf), perf_cmp);
}

/* The name the perf map gives addr, as a sym, or NULL. */
static const struct lw_sym *perf_sym(struct symbolizer *s, struct view *v, uint64_t addr)
{
	struct lw_key key = { (uint64_t)v->pid, addr };
	struct lw_sym *sym;
	struct perf_entry *e;
	size_t lo = 0, hi;

	if (!s->jit_syms && !(s->jit_syms = hashmap__new()))
		return NULL;
	sym = hashmap__get(s->jit_syms, key);
	if (sym)
		return sym;
	perf_load(v);
	hi = v->nr_perf;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->perf[mid].start <= addr - 1)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* the last entry starting at or before the call (a return address
	 * names the call before it) */
	if (!lo || addr - 1 >= v->perf[lo - 1].start + v->perf[lo - 1].size)
		return NULL;
	e = &v->perf[lo - 1];
	sym = calloc(1, sizeof(*sym));
	if (!sym || !(sym->function = strdup(e->name)) || hashmap__set(s->jit_syms, key, sym)) {
		sym_free(sym);
		return NULL;
	}
	sym->offset = addr - e->start;
	sym->return_site = true; /* JIT code cannot be checked against a file */
	return sym;
}

void symbolizer__forget(struct symbolizer *s, pid_t pid)
{
	struct view *v = view_of(s, pid, false);

	if (!v)
		return;
	view_clear(v);
	*v = s->views[--s->nr_views];
}

/* File offset to the address dwfl uses for the module (its link-time
 * vaddr), through the PT_LOAD segment holding the offset. */
static bool offset_to_vaddr(struct lw_module *m, uint64_t off, uint64_t *vaddr)
{
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(m->dwfl_mod, &bias);
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

/* A return address follows a call instruction: frames from a frame-pointer
 * walk through code without frame pointers fail this. */
static bool is_return_site(struct lw_module *m, uint64_t off)
{
	uint8_t buf[8];

	return off >= sizeof(buf) && pread(m->fd, buf, sizeof(buf), off - sizeof(buf)) == sizeof(buf) &&
	       insn_call_before(buf, sizeof(buf));
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
static void expand_inlines(struct lw_module *m, uint64_t vaddr, struct lw_sym *sym)
{
	Dwarf_Addr bias;
	Dwarf_Die *cu = dwfl_module_addrdie(m->dwfl_mod, vaddr, &bias), *scopes = NULL;
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

static struct lw_sym *sym_for(struct symbolizer *s, struct lw_module *m, uint64_t off)
{
	struct lw_key key = { 0, off };
	struct lw_sym *sym = hashmap__get(m->syms, key);
	uint64_t vaddr;

	if (sym)
		return sym;
	sym = calloc(1, sizeof(*sym));
	if (!sym)
		return NULL;
	sym->return_site = is_return_site(m, off);
	if (m->dwfl_mod && offset_to_vaddr(m, off, &vaddr)) {
		/* a return address names the call before it: look up addr - 1 */
		GElf_Off sym_off;
		GElf_Sym es;
		const char *name = dwfl_module_addrinfo(m->dwfl_mod, vaddr - 1, &sym_off, &es,
							NULL, NULL, NULL);
		Dwfl_Line *line = dwfl_module_getsrc(m->dwfl_mod, vaddr - 1);

		if (name) {
			sym->function = demangle(name);
			sym->offset = sym_off + 1;
			sym->stripped = m->stripped;
		}
		if (line) {
			const char *file = dwfl_lineinfo(line, NULL, &sym->line, NULL, NULL, NULL);

			sym->file = file ? strdup(file) : NULL;
		}
		if (name)
			expand_inlines(m, vaddr - 1, sym);
	}
	if (hashmap__set(m->syms, key, sym)) {
		sym_free(sym);
		return NULL;
	}
	return sym;
}

void symbolizer__resolve(struct symbolizer *s, pid_t pid, uint64_t addr, struct lw_frame *out)
{
	struct view *v = view_of(s, pid, true);
	const struct lw_map *map = NULL;
	struct lw_module *m = NULL;

	memset(out, 0, sizeof(*out));
	out->addr = addr;
	if (!v)
		return;
	map = maps__find(&v->maps, addr);
	if (!map && !v->refreshed_this_round && symbolizer__refresh(s, pid) == 0)
		map = maps__find(&v->maps, addr);
	if (!map)
		return;
	out->mapped_exec = map->exec;
	m = v->mods[map - v->maps.v];
	if (!m) {
		/* anonymous executable memory: JIT code, named if a perf map says */
		if (map->exec && !map->path)
			out->sym = perf_sym(s, v, addr);
		return;
	}
	out->module = m;
	out->module_offset = addr - map->start + map->pgoff;
	out->sym = sym_for(s, m, out->module_offset);
}
