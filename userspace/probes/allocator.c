// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "probes/allocator.h"
#include "common/elf_symbols.h"
#include "common/exitcodes.h"
#include "probes/insn.h"
#include "probes/linkmap.h"
#include "common/proc.h"

/*
 * Every entry point probed, what its arguments mean (leakwatch.h), and
 * flags: W_MALLOC and W_FREE mark the pairs that make an allocator (a
 * process without one is refused), W_THROWS a C++ allocation that may
 * throw (see new_return_probed). Each name is looked up on its own, as the
 * dynamic linker does; aliases of one function (glibc's memalign and
 * aligned_alloc, tcmalloc's tc_* names, mimalloc's mi_malloc and malloc)
 * resolve to one offset and are probed once, under the first name here.
 * A free function other than free itself is LW_FUNC_DELETE: many are
 * thunks into free (mimalloc's cfree, vfree, mi_free_aligned), whose probe
 * then finds the block already taken and must not count it as unknown.
 * Not probed (README, "Allocators"): functions that neither allocate nor
 * free (malloc_usable_size, nallocx, mi_usable_size), and those whose
 * requested size is not among their arguments or whose pointer is passed
 * by address (mi_heap_*, mi_strdup and kin, reallocarr), jemalloc's
 * in-place xallocx.
 */
#define W_MALLOC 1
#define W_FREE 2
#define W_THROWS 4

static const struct want {
	const char *symbol;
	enum lw_func func;
	unsigned flags;
} wanted[] = {
	/* the C API: glibc, and every allocator that replaces it */
	{ "malloc", LW_FUNC_MALLOC, W_MALLOC },
	{ "calloc", LW_FUNC_CALLOC, 0 },
	{ "realloc", LW_FUNC_REALLOC, 0 },
	{ "reallocarray", LW_FUNC_REALLOCARRAY, 0 },
	{ "posix_memalign", LW_FUNC_POSIX_MEMALIGN, 0 },
	{ "aligned_alloc", LW_FUNC_MEMALIGN, 0 },
	{ "memalign", LW_FUNC_MEMALIGN, 0 },
	{ "valloc", LW_FUNC_MALLOC, 0 },
	{ "pvalloc", LW_FUNC_MALLOC, 0 },
	{ "free", LW_FUNC_FREE, W_FREE },
	{ "cfree", LW_FUNC_DELETE, 0 },
	{ "mmap", LW_FUNC_MMAP, 0 },
	{ "mmap64", LW_FUNC_MMAP, 0 },
	{ "munmap", LW_FUNC_MUNMAP, 0 },
	{ "mremap", LW_FUNC_MREMAP, 0 },
	/* operator new, new[]: plain, nothrow, aligned, aligned nothrow
	 * (LW_FUNC_NEW in libstdc++, see leakwatch.h; elsewhere a malloc) */
	{ "_Znwm", LW_FUNC_NEW, W_THROWS },
	{ "_Znam", LW_FUNC_NEW, W_THROWS },
	{ "_ZnwmRKSt9nothrow_t", LW_FUNC_NEW, 0 },
	{ "_ZnamRKSt9nothrow_t", LW_FUNC_NEW, 0 },
	{ "_ZnwmSt11align_val_t", LW_FUNC_NEW, W_THROWS },
	{ "_ZnamSt11align_val_t", LW_FUNC_NEW, W_THROWS },
	{ "_ZnwmSt11align_val_tRKSt9nothrow_t", LW_FUNC_NEW, 0 },
	{ "_ZnamSt11align_val_tRKSt9nothrow_t", LW_FUNC_NEW, 0 },
	/* operator delete, delete[]: plain, sized, nothrow, aligned */
	{ "_ZdlPv", LW_FUNC_DELETE, 0 },
	{ "_ZdaPv", LW_FUNC_DELETE, 0 },
	{ "_ZdlPvm", LW_FUNC_DELETE, 0 },
	{ "_ZdaPvm", LW_FUNC_DELETE, 0 },
	{ "_ZdlPvRKSt9nothrow_t", LW_FUNC_DELETE, 0 },
	{ "_ZdaPvRKSt9nothrow_t", LW_FUNC_DELETE, 0 },
	{ "_ZdlPvSt11align_val_t", LW_FUNC_DELETE, 0 },
	{ "_ZdaPvSt11align_val_t", LW_FUNC_DELETE, 0 },
	{ "_ZdlPvmSt11align_val_t", LW_FUNC_DELETE, 0 },
	{ "_ZdaPvmSt11align_val_t", LW_FUNC_DELETE, 0 },
	{ "_ZdlPvSt11align_val_tRKSt9nothrow_t", LW_FUNC_DELETE, 0 },
	{ "_ZdaPvSt11align_val_tRKSt9nothrow_t", LW_FUNC_DELETE, 0 },
	/* BSD and Windows names mimalloc also exports */
	{ "reallocf", LW_FUNC_REALLOC, 0 },
	{ "_aligned_malloc", LW_FUNC_MEMALIGN, 0 },     /* mimalloc 2.0: (alignment, size) */
	{ "vfree", LW_FUNC_DELETE, 0 },
	/* jemalloc's own API (libjemalloc2) */
	{ "mallocx", LW_FUNC_MALLOC, 0 },              /* (size, flags) */
	{ "rallocx", LW_FUNC_REALLOC, 0 },             /* (ptr, size, flags) */
	{ "dallocx", LW_FUNC_DELETE, 0 },
	{ "sdallocx", LW_FUNC_DELETE, 0 },
	/* an allocator built with the je_ prefix (jemalloc's
	 * --with-jemalloc-prefix=je_, as Redis links it into its executable):
	 * only these names, beside libc's unprefixed ones */
	{ "je_malloc", LW_FUNC_MALLOC, W_MALLOC },
	{ "je_calloc", LW_FUNC_CALLOC, 0 },
	{ "je_realloc", LW_FUNC_REALLOC, 0 },
	{ "je_posix_memalign", LW_FUNC_POSIX_MEMALIGN, 0 },
	{ "je_aligned_alloc", LW_FUNC_MEMALIGN, 0 },
	{ "je_memalign", LW_FUNC_MEMALIGN, 0 },
	{ "je_valloc", LW_FUNC_MALLOC, 0 },
	{ "je_free", LW_FUNC_FREE, W_FREE },
	{ "je_mallocx", LW_FUNC_MALLOC, 0 },
	{ "je_rallocx", LW_FUNC_REALLOC, 0 },
	{ "je_dallocx", LW_FUNC_DELETE, 0 },
	{ "je_sdallocx", LW_FUNC_DELETE, 0 },
	/* tcmalloc's (libtcmalloc-minimal4): its tc_* names alias the C and
	 * C++ ones above, but for this one */
	{ "tc_malloc_skip_new_handler", LW_FUNC_MALLOC, 0 },
	{ "tc_malloc", LW_FUNC_MALLOC, W_MALLOC },
	{ "tc_free", LW_FUNC_FREE, W_FREE },
	{ "tc_free_sized", LW_FUNC_DELETE, 0 },
	/* mimalloc's own API (libmimalloc2.0): mi_malloc, mi_free, mi_calloc,
	 * mi_realloc, mi_new, mi_new_aligned alias the names above */
	{ "mi_malloc", LW_FUNC_MALLOC, W_MALLOC },
	{ "mi_zalloc", LW_FUNC_MALLOC, 0 },
	{ "mi_malloc_small", LW_FUNC_MALLOC, 0 },
	{ "mi_zalloc_small", LW_FUNC_MALLOC, 0 },
	{ "mi_malloc_aligned", LW_FUNC_MALLOC, 0 },     /* (size, alignment) */
	{ "mi_malloc_aligned_at", LW_FUNC_MALLOC, 0 },  /* (size, alignment, offset) */
	{ "mi_zalloc_aligned", LW_FUNC_MALLOC, 0 },
	{ "mi_zalloc_aligned_at", LW_FUNC_MALLOC, 0 },
	{ "mi_valloc", LW_FUNC_MALLOC, 0 },
	{ "mi_pvalloc", LW_FUNC_MALLOC, 0 },
	{ "mi_new", LW_FUNC_MALLOC, W_THROWS },
	{ "mi_new_nothrow", LW_FUNC_MALLOC, 0 },
	{ "mi_new_aligned", LW_FUNC_MALLOC, W_THROWS },
	{ "mi_new_aligned_nothrow", LW_FUNC_MALLOC, 0 },
	{ "mi_calloc", LW_FUNC_CALLOC, 0 },
	{ "mi_mallocn", LW_FUNC_CALLOC, 0 },            /* (count, size) */
	{ "mi_calloc_aligned", LW_FUNC_CALLOC, 0 },     /* (count, size, alignment) */
	{ "mi_calloc_aligned_at", LW_FUNC_CALLOC, 0 },
	{ "mi_new_n", LW_FUNC_CALLOC, W_THROWS },
	{ "mi_realloc", LW_FUNC_REALLOC, 0 },
	{ "mi_reallocf", LW_FUNC_REALLOC, 0 },
	{ "mi_rezalloc", LW_FUNC_REALLOC, 0 },
	{ "mi_expand", LW_FUNC_REALLOC, 0 },            /* in place, or NULL */
	{ "mi__expand", LW_FUNC_REALLOC, 0 },
	{ "mi_realloc_aligned", LW_FUNC_REALLOC, 0 },   /* (ptr, size, alignment) */
	{ "mi_realloc_aligned_at", LW_FUNC_REALLOC, 0 },
	{ "mi_rezalloc_aligned", LW_FUNC_REALLOC, 0 },
	{ "mi_rezalloc_aligned_at", LW_FUNC_REALLOC, 0 },
	{ "mi_new_realloc", LW_FUNC_REALLOC, W_THROWS },
	{ "mi_reallocn", LW_FUNC_REALLOCARRAY, 0 },     /* (ptr, count, size) */
	{ "mi_reallocarray", LW_FUNC_REALLOCARRAY, 0 },
	{ "mi_recalloc", LW_FUNC_REALLOCARRAY, 0 },
	{ "mi_recalloc_aligned", LW_FUNC_REALLOCARRAY, 0 },
	{ "mi_recalloc_aligned_at", LW_FUNC_REALLOCARRAY, 0 },
	{ "mi_aligned_recalloc", LW_FUNC_REALLOCARRAY, 0 },
	{ "mi_aligned_offset_recalloc", LW_FUNC_REALLOCARRAY, 0 },
	{ "mi_new_reallocn", LW_FUNC_REALLOCARRAY, W_THROWS },
	{ "mi_memalign", LW_FUNC_MEMALIGN, 0 },         /* (alignment, size) */
	{ "mi_aligned_alloc", LW_FUNC_MEMALIGN, 0 },
	{ "mi_posix_memalign", LW_FUNC_POSIX_MEMALIGN, 0 },
	{ "mi_free", LW_FUNC_FREE, W_FREE },
	{ "mi_cfree", LW_FUNC_DELETE, 0 },
	{ "mi_free_size", LW_FUNC_DELETE, 0 },
	{ "mi_free_aligned", LW_FUNC_DELETE, 0 },
	{ "mi_free_size_aligned", LW_FUNC_DELETE, 0 },
};

#define NR_WANTED (sizeof(wanted) / sizeof(wanted[0]))
#define MAX_SCOPE 512

/* An object in lookup order, opened once. */
struct scope_entry {
	const struct lw_map *map;
	int fd;
	struct elf_symbols *es;
	const char *origin; /* how it came to be loaded, for -v */
};

/* Where each wanted function resolves: the first object in lookup order
 * defining it, and the next one (the definition it hides). */
struct resolution {
	int first, next;      /* scope indices, -1 for none */
	uint64_t offset, size;
	int libc;             /* libc's definition, for the mmap family */
	uint64_t libc_offset, libc_size;
};

/* wanted[] indices sorted by name, for one pass over each symbol table */
static size_t by_name[NR_WANTED];

static int cmp_by_name(const void *a, const void *b)
{
	return strcmp(wanted[*(const size_t *)a].symbol, wanted[*(const size_t *)b].symbol);
}

static int want_index(const char *name)
{
	size_t lo = 0, hi = NR_WANTED;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, wanted[by_name[mid]].symbol);

		if (!c)
			return (int)by_name[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

struct pass {
	const struct elf_symbols *es;
	int scope_index;
	bool is_libc;
	bool seen[NR_WANTED]; /* defined here already (the dynamic table wins) */
	struct resolution *res;
};

static int note_symbol(const char *name, uint64_t vaddr, uint64_t size, void *ctx)
{
	struct pass *p = ctx;
	struct resolution *r;
	uint64_t off;
	int w = want_index(name);

	if (w < 0 || p->seen[w] || elf_symbols__vaddr_to_offset(p->es, vaddr, &off))
		return 0;
	p->seen[w] = true;
	r = &p->res[w];
	if (p->is_libc && r->libc < 0) {
		r->libc = p->scope_index;
		r->libc_offset = off;
		r->libc_size = size;
	}
	if (r->first < 0) {
		r->first = p->scope_index;
		r->offset = off;
		r->size = size;
	} else if (r->next < 0) {
		r->next = p->scope_index;
	}
	return 0;
}

static bool same_file(const struct lw_map *a, const struct lw_map *b)
{
	return a->inode == b->inode && a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

static const char *base_name(const char *path)
{
	const char *base = strrchr(path, '/');

	return base ? base + 1 : path;
}

static bool is_libc(const char *path)
{
	return !strncmp(base_name(path), "libc.so", 7) || !strncmp(base_name(path), "libc-", 5);
}

static bool is_libstdcxx(const char *path)
{
	return !strncmp(base_name(path), "libstdc++.so", 12);
}

/* Without the linker's list (a static executable, or one that has not
 * started): the executable first, libc last, the rest in address order. */
static size_t fallback_order(pid_t pid, const struct lw_maps *maps, size_t *order, size_t max)
{
	struct stat exe;
	char path[64];
	size_t n = 0;
	bool have_exe;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	have_exe = stat(path, &exe) == 0;
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < maps->n && n < max; i++) {
			const struct lw_map *m = &maps->v[i];
			bool first = true, is_exe;
			int rank;

			if (!m->path)
				continue;
			for (size_t j = 0; j < i && first; j++)
				first = !(maps->v[j].path && same_file(&maps->v[j], m));
			if (!first)
				continue;
			is_exe = have_exe && m->inode == exe.st_ino &&
				 makedev(m->dev_major, m->dev_minor) == exe.st_dev;
			rank = is_exe ? 0 : is_libc(m->path) ? 2 : 1;
			if (rank == pass)
				order[n++] = i;
		}
	}
	return n;
}

static struct lw_object *object_for(struct lw_plan *plan, pid_t pid, const struct lw_map *m)
{
	struct lw_object *o;

	for (int i = 0; i < plan->nr_objects; i++)
		if (!strcmp(plan->objects[i].module, m->path))
			return &plan->objects[i];
	if (plan->nr_objects == LW_MAX_OBJECTS)
		return NULL;
	o = &plan->objects[plan->nr_objects++];
	memset(o, 0, sizeof(*o));
	snprintf(o->module, sizeof(o->module), "%s", m->path);
	proc__mapped_path(pid, m, o->attach_path, sizeof(o->attach_path));
	return o;
}

static void add_probe(struct lw_plan *plan, pid_t pid, const struct scope_entry *e,
		      const char *symbol, enum lw_func func, uint64_t offset, uint64_t size,
		      const char *chosen)
{
	struct lw_object *o = object_for(plan, pid, e->map);
	struct lw_probe *p;
	uint8_t code[512];
	ssize_t got;
	size_t len, at;

	if (!o || o->nr_probes == LW_MAX_PROBES)
		return;
	for (int i = 0; i < o->nr_probes; i++)
		if (o->probes[i].entry_offset == offset)
			return; /* an alias of a function already probed */
	p = &o->probes[o->nr_probes++];
	p->func = func;
	p->symbol = symbol;
	p->entry_offset = offset;
	p->size = size;
	snprintf(p->chosen, sizeof(p->chosen), "%s", chosen);
	got = pread(e->fd, code, sizeof(code), offset);
	len = got > 0 ? (size_t)got : 0;
	if (size && size < len)
		len = size;
	/* all six: what alloc_enter reads differs by function and allocator */
	at = insn_probe_point(code, len, 6, p->placement, sizeof(p->placement));
	p->offset = offset + at;
	p->single_step = !insn_emulated(code + at, len - at, p->first_insn, sizeof(p->first_insn));
	/* libstdc++'s operator delete only jumps on to free (or to another
	 * delete that does): free's probe sees the block, a probe here would
	 * only cost a trap */
	if (func == LW_FUNC_DELETE && is_libstdcxx(e->map->path) && insn_is_thunk(code, len)) {
		p->skipped = true;
		snprintf(p->placement, sizeof(p->placement), "not probed: jumps on to free");
	}
}

static void plan_free_objects(struct scope_entry *scope, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		elf_symbols__close(scope[i].es);
		if (scope[i].fd >= 0)
			close(scope[i].fd);
	}
}

/* Reads at most len - 1 bytes of a small file of pid's into buf (NUL
 * terminated); the byte count, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -1;
	got = read(fd, buf, len - 1);
	close(fd);
	if (got < 0)
		return -1;
	buf[got] = 0;
	return got;
}

/* Whether m is one of the entries of list (blank or colon separated, as
 * ld.so reads LD_PRELOAD): a path, compared as a file in pid's root, or a
 * bare name, which the linker searched for. */
static bool listed(pid_t pid, const char *list, const struct lw_map *m)
{
	const char *base = base_name(m->path);
	char entry[PATH_MAX], path[PATH_MAX + 32];
	struct stat st;

	while (*list) {
		size_t n = strcspn(list, " \t\n:");

		if (n && n < sizeof(entry)) {
			memcpy(entry, list, n);
			entry[n] = 0;
			if (strchr(entry, '/')) {
				snprintf(path, sizeof(path), "/proc/%d/root%s%s", pid,
					 entry[0] == '/' ? "" : "/", entry);
				if (stat(path, &st) == 0 && st.st_ino == m->inode &&
				    st.st_dev == makedev(m->dev_major, m->dev_minor))
					return true;
			} else if (!strncmp(base, entry, n) && (!base[n] || base[n] == '.')) {
				return true;
			}
		}
		list += n;
		list += strspn(list, " \t\n:");
	}
	return false;
}

/* LD_PRELOAD as pid started with it (its initial environment). */
static bool preloaded_by_env(pid_t pid, const struct lw_map *m)
{
	static char env[65536];
	char path[64];
	ssize_t got;

	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	got = read_small(path, env, sizeof(env));
	for (ssize_t i = 0; i < got; i += strlen(env + i) + 1)
		if (!strncmp(env + i, "LD_PRELOAD=", 11))
			return listed(pid, env + i + 11, m);
	return false;
}

static bool preloaded_by_file(pid_t pid, const struct lw_map *m)
{
	char path[64], list[4096];

	snprintf(path, sizeof(path), "/proc/%d/root/etc/ld.so.preload", pid);
	return read_small(path, list, sizeof(list)) > 0 && listed(pid, list, m);
}

/* How each object came into the lookup order, in the words -v uses. */
static void set_origins(pid_t pid, struct scope_entry *scope, size_t n, bool link_order)
{
	const struct elf_symbols *exe_es = NULL;
	char path[64], soname[256];
	struct stat exe;
	bool have_exe;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	have_exe = stat(path, &exe) == 0;
	for (size_t i = 0; i < n; i++) {
		const struct lw_map *m = scope[i].map;

		if (have_exe && m->inode == exe.st_ino &&
		    makedev(m->dev_major, m->dev_minor) == exe.st_dev) {
			scope[i].origin = "the executable";
			exe_es = scope[i].es;
		} else if (!link_order) {
			scope[i].origin = "mapped";
		} else if (preloaded_by_env(pid, m)) {
			scope[i].origin = "LD_PRELOAD";
		} else if (preloaded_by_file(pid, m)) {
			scope[i].origin = "/etc/ld.so.preload";
		} else if (exe_es && scope[i].es && !elf_symbols__soname(scope[i].es, soname, sizeof(soname)) &&
			   elf_symbols__needs(exe_es, soname)) {
			scope[i].origin = "linked by the executable";
		} else {
			scope[i].origin = "loaded";
		}
	}
}

/* The PID's executable when nothing can name its allocator: statically
 * linked (no dynamic linker list) and without any symbol table. */
static const char *static_stripped(const struct scope_entry *scope, size_t n, bool link_order)
{
	for (size_t i = 0; i < n && !link_order; i++)
		if (!strncmp(scope[i].origin, "the executable", 14) && scope[i].es &&
		    !elf_symbols__has_symbols(scope[i].es))
			return scope[i].map->path;
	return NULL;
}

int allocator__plan(pid_t pid, struct lw_plan *plan, char *why, size_t len)
{
	static struct scope_entry scope[MAX_SCOPE];
	static struct resolution res[NR_WANTED];
	static struct pass pass;
	size_t order[MAX_SCOPE], n;
	bool have_malloc = false, have_free = false;
	const char *stripped;
	struct lw_maps maps;
	int err;

	/* the objects are cleared as they are used: a plan is large */
	plan->nr_objects = 0;
	plan->link_order = false;
	plan->new_return_probed = NULL;
	if (!by_name[NR_WANTED - 1]) {
		for (size_t w = 0; w < NR_WANTED; w++)
			by_name[w] = w;
		qsort(by_name, NR_WANTED, sizeof(by_name[0]), cmp_by_name);
	}
	err = maps__read(pid, &maps);
	if (err) {
		snprintf(why, len, "cannot read the memory map of PID %d: %s", pid, strerror(-err));
		return LW_EXIT_TARGET;
	}
	err = linkmap__order(pid, &maps, order, MAX_SCOPE);
	plan->link_order = err > 0;
	n = err > 0 ? (size_t)err : fallback_order(pid, &maps, order, MAX_SCOPE);
	for (size_t w = 0; w < NR_WANTED; w++)
		res[w] = (struct resolution){ .first = -1, .next = -1, .libc = -1 };
	for (size_t i = 0; i < n; i++) {
		scope[i].map = &maps.v[order[i]];
		scope[i].fd = proc__open_mapped(pid, scope[i].map, NULL, 0);
		scope[i].es = scope[i].fd >= 0 ? elf_symbols__open(scope[i].fd) : NULL;
		if (!scope[i].es)
			continue;
		/* one pass over its symbols for every wanted name */
		memset(&pass, 0, sizeof(pass));
		pass.es = scope[i].es;
		pass.scope_index = (int)i;
		pass.is_libc = is_libc(scope[i].map->path);
		pass.res = res;
		elf_symbols__each_func(scope[i].es, note_symbol, &pass);
	}
	set_origins(pid, scope, n, plan->link_order);

	for (size_t w = 0; w < NR_WANTED; w++) {
		const struct resolution *r = &res[w];
		const struct scope_entry *e;
		enum lw_func func = wanted[w].func;
		char chosen[sizeof(((struct lw_probe *)0)->chosen)];

		if (r->first < 0)
			continue;
		e = &scope[r->first];
		if (r->next >= 0)
			snprintf(chosen, sizeof(chosen), "%s, before %s", e->origin,
				 base_name(scope[r->next].map->path));
		else
			snprintf(chosen, sizeof(chosen), "%s, the only object defining it", e->origin);
		/* only libstdc++'s operator new is known to allocate through
		 * malloc from within its body; an allocator library's own
		 * needs its return probe */
		if (func == LW_FUNC_NEW && !is_libstdcxx(e->map->path))
			func = LW_FUNC_MALLOC;
		add_probe(plan, pid, e, wanted[w].symbol, func, r->offset, r->size, chosen);
		if ((wanted[w].func == LW_FUNC_NEW || wanted[w].flags & W_THROWS) &&
		    !is_libstdcxx(e->map->path) && object_for(plan, pid, e->map))
			plan->new_return_probed = object_for(plan, pid, e->map)->module;
		/* an allocator library's mmap (tcmalloc's) serves the program;
		 * libc's own calls (thread stacks, stdio) still go to libc's */
		if ((func == LW_FUNC_MMAP || func == LW_FUNC_MUNMAP || func == LW_FUNC_MREMAP) &&
		    r->libc >= 0 && r->libc != r->first) {
			snprintf(chosen, sizeof(chosen), "libc's own calls; the program's go to %s",
				 base_name(e->map->path));
			add_probe(plan, pid, &scope[r->libc], wanted[w].symbol, func, r->libc_offset,
				  r->libc_size, chosen);
		}
		have_malloc |= wanted[w].flags & W_MALLOC;
		have_free |= wanted[w].flags & W_FREE;
	}
	stripped = static_stripped(scope, n, plan->link_order);
	if (!have_malloc || !have_free) {
		if (stripped)
			snprintf(why, len,
				 "no allocator found in PID %d: its executable %s is statically linked "
				 "and stripped, so no symbol names its malloc; leakwatch needs the "
				 "allocator's symbols (link it without -s)", pid, stripped);
		else
			snprintf(why, len,
				 "no allocator found in PID %d: none of its %zu mapped objects defines "
				 "%s (a static, stripped binary?): leakwatch needs the allocator's symbols",
				 pid, n, have_malloc ? "free" : "malloc");
	}
	plan_free_objects(scope, n);
	maps__free(&maps);
	return have_malloc && have_free ? 0 : LW_EXIT_TARGET;
}

const struct lw_object *allocator__main_object(const struct lw_plan *plan)
{
	for (int i = 0; i < plan->nr_objects; i++)
		for (int j = 0; j < plan->objects[i].nr_probes; j++)
			if (plan->objects[i].probes[j].func == LW_FUNC_MALLOC &&
			    !strcmp(plan->objects[i].probes[j].symbol, "malloc"))
				return &plan->objects[i];
	return &plan->objects[0];
}

void allocator__describe_object(const struct lw_object *o, FILE *f)
{
	fprintf(f, "leakwatch:   %s (via %s):\n", o->module, o->attach_path);
	for (int j = 0; j < o->nr_probes; j++) {
		const struct lw_probe *p = &o->probes[j];

		fprintf(f, "leakwatch:     %-36s 0x%-8lx %-28s %s%s\n", p->symbol,
			(unsigned long)p->offset, p->skipped ? "-" : p->first_insn, p->placement,
			!p->skipped && p->single_step ? "; single-stepped: a second trap per call" : "");
	}
}

void allocator__describe(const struct lw_plan *plan, FILE *f)
{
	fprintf(f, "leakwatch:   each function from the first object in lookup order defining it:\n");
	for (int i = 0; i < plan->nr_objects; i++) {
		const struct lw_object *o = &plan->objects[i];

		for (int j = 0; j < o->nr_probes; j++)
			fprintf(f, "leakwatch:   %s: %s (%s)\n", o->probes[j].symbol,
				base_name(o->module), o->probes[j].chosen);
	}
}
