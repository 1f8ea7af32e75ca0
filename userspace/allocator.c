// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "allocator.h"
#include "elf_symbols.h"
#include "exitcodes.h"
#include "insn.h"
#include "linkmap.h"
#include "proc.h"

/* Every entry point probed, and what its arguments mean. Aliases (glibc's
 * memalign and aligned_alloc, mmap and mmap64) resolve to one offset and
 * are probed once. */
static const struct {
	const char *symbol;
	enum lw_func func;
} wanted[] = {
	{ "malloc", LW_FUNC_MALLOC },
	{ "calloc", LW_FUNC_CALLOC },
	{ "realloc", LW_FUNC_REALLOC },
	{ "reallocarray", LW_FUNC_REALLOCARRAY },
	{ "posix_memalign", LW_FUNC_POSIX_MEMALIGN },
	{ "aligned_alloc", LW_FUNC_MEMALIGN },
	{ "memalign", LW_FUNC_MEMALIGN },
	{ "valloc", LW_FUNC_MALLOC },
	{ "pvalloc", LW_FUNC_MALLOC },
	{ "free", LW_FUNC_FREE },
	{ "mmap", LW_FUNC_MMAP },
	{ "mmap64", LW_FUNC_MMAP },
	{ "munmap", LW_FUNC_MUNMAP },
	{ "mremap", LW_FUNC_MREMAP },
	/* operator new, new[]: plain, nothrow, aligned, aligned nothrow
	 * (LW_FUNC_NEW in libstdc++, see leakwatch.h; elsewhere a malloc) */
	{ "_Znwm", LW_FUNC_NEW },
	{ "_Znam", LW_FUNC_NEW },
	{ "_ZnwmRKSt9nothrow_t", LW_FUNC_NEW },
	{ "_ZnamRKSt9nothrow_t", LW_FUNC_NEW },
	{ "_ZnwmSt11align_val_t", LW_FUNC_NEW },
	{ "_ZnamSt11align_val_t", LW_FUNC_NEW },
	{ "_ZnwmSt11align_val_tRKSt9nothrow_t", LW_FUNC_NEW },
	{ "_ZnamSt11align_val_tRKSt9nothrow_t", LW_FUNC_NEW },
	/* operator delete, delete[]: plain, sized, nothrow, aligned */
	{ "_ZdlPv", LW_FUNC_DELETE },
	{ "_ZdaPv", LW_FUNC_DELETE },
	{ "_ZdlPvm", LW_FUNC_DELETE },
	{ "_ZdaPvm", LW_FUNC_DELETE },
	{ "_ZdlPvRKSt9nothrow_t", LW_FUNC_DELETE },
	{ "_ZdaPvRKSt9nothrow_t", LW_FUNC_DELETE },
	{ "_ZdlPvSt11align_val_t", LW_FUNC_DELETE },
	{ "_ZdaPvSt11align_val_t", LW_FUNC_DELETE },
	{ "_ZdlPvmSt11align_val_t", LW_FUNC_DELETE },
	{ "_ZdaPvmSt11align_val_t", LW_FUNC_DELETE },
	{ "_ZdlPvSt11align_val_tRKSt9nothrow_t", LW_FUNC_DELETE },
	{ "_ZdaPvSt11align_val_tRKSt9nothrow_t", LW_FUNC_DELETE },
};

#define NR_WANTED (sizeof(wanted) / sizeof(wanted[0]))
#define MAX_SCOPE 512

/* An object in lookup order, opened once. */
struct scope_entry {
	const struct lw_map *map;
	int fd;
	struct elf_symbols *es;
};

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
		      const char *symbol, enum lw_func func, uint64_t offset, uint64_t size)
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
	got = pread(e->fd, code, sizeof(code), offset);
	len = got > 0 ? (size_t)got : 0;
	if (size && size < len)
		len = size;
	at = insn_probe_point(code, len, p->placement, sizeof(p->placement));
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

int allocator__plan(pid_t pid, struct lw_plan *plan, char *why, size_t len)
{
	static struct scope_entry scope[MAX_SCOPE];
	size_t order[MAX_SCOPE], n;
	bool have_malloc = false, have_free = false;
	struct lw_maps maps;
	int err;

	memset(plan, 0, sizeof(*plan));
	err = maps__read(pid, &maps);
	if (err) {
		snprintf(why, len, "cannot read the memory map of PID %d: %s", pid, strerror(-err));
		return LW_EXIT_TARGET;
	}
	err = linkmap__order(pid, &maps, order, MAX_SCOPE);
	plan->link_order = err > 0;
	n = err > 0 ? (size_t)err : fallback_order(pid, &maps, order, MAX_SCOPE);
	for (size_t i = 0; i < n; i++) {
		scope[i].map = &maps.v[order[i]];
		scope[i].fd = proc__open_mapped(pid, scope[i].map, NULL, 0);
		scope[i].es = scope[i].fd >= 0 ? elf_symbols__open(scope[i].fd) : NULL;
	}

	for (size_t w = 0; w < NR_WANTED; w++) {
		for (size_t i = 0; i < n; i++) {
			enum lw_func func = wanted[w].func;
			uint64_t off, size;

			if (!scope[i].es || elf_symbols__func(scope[i].es, wanted[w].symbol, &off, &size))
				continue;
			/* only libstdc++'s operator new is known to allocate through
			 * malloc from within its body; an allocator library's own
			 * needs its return probe */
			if (func == LW_FUNC_NEW && !is_libstdcxx(scope[i].map->path))
				func = LW_FUNC_MALLOC;
			add_probe(plan, pid, &scope[i], wanted[w].symbol, func, off, size);
			if (wanted[w].func == LW_FUNC_NEW && func == LW_FUNC_MALLOC)
				plan->new_return_probed = object_for(plan, pid, scope[i].map)->module;
			have_malloc |= !strcmp(wanted[w].symbol, "malloc");
			have_free |= !strcmp(wanted[w].symbol, "free");
			break;
		}
	}
	plan_free_objects(scope, n);
	maps__free(&maps);
	if (!have_malloc || !have_free) {
		snprintf(why, len,
			 "no allocator found in PID %d: none of its %zu mapped objects defines %s "
			 "(a static, stripped binary?): leakwatch needs the allocator's symbols",
			 pid, n, have_malloc ? "free" : "malloc");
		return LW_EXIT_TARGET;
	}
	return 0;
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
