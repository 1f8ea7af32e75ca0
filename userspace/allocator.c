// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "allocator.h"
#include "elf_symbols.h"
#include "exitcodes.h"
#include "proc.h"

static const struct {
	enum lw_func func;
	const char *symbol;
	bool required;
} wanted[] = {
	{ LW_FUNC_MALLOC, "malloc", true },
	{ LW_FUNC_CALLOC, "calloc", false },
	{ LW_FUNC_REALLOC, "realloc", false },
	{ LW_FUNC_FREE, "free", true },
};

static bool is_libc(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5);
}

/* Search order: 0 the executable, 1 other objects, 2 libc. */
static int rank(const struct lw_map *m, const struct stat *exe)
{
	if (exe && m->inode == exe->st_ino &&
	    makedev(m->dev_major, m->dev_minor) == exe->st_dev)
		return 0;
	return is_libc(m->path) ? 2 : 1;
}

static bool first_of_file(const struct lw_maps *maps, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (maps->v[j].path && maps->v[j].inode == maps->v[i].inode &&
		    maps->v[j].dev_major == maps->v[i].dev_major &&
		    maps->v[j].dev_minor == maps->v[i].dev_minor)
			return false;
	return true;
}

/* Fills out from the object at m if it defines every required function. */
static int try_object(pid_t pid, const struct lw_map *m, struct lw_allocator *out)
{
	struct elf_symbols *es;
	int fd, err = 0;

	fd = proc__open_mapped(pid, m, NULL, 0);
	if (fd < 0)
		return fd;
	es = elf_symbols__open(fd);
	if (!es) {
		close(fd);
		return -ENOEXEC;
	}
	out->nr_probes = 0;
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]) && !err; i++) {
		struct lw_probe *p = &out->probes[out->nr_probes];

		if (elf_symbols__func_offset(es, wanted[i].symbol, &p->offset)) {
			err = wanted[i].required ? -ENOENT : 0;
			continue;
		}
		p->func = wanted[i].func;
		p->symbol = wanted[i].symbol;
		out->nr_probes++;
	}
	elf_symbols__close(es);
	close(fd);
	if (err)
		return err;
	snprintf(out->module, sizeof(out->module), "%s", m->path);
	proc__mapped_path(pid, m, out->attach_path, sizeof(out->attach_path));
	return 0;
}

int allocator__find(pid_t pid, struct lw_allocator *out, char *why, size_t len)
{
	struct stat exe_st, *exe = NULL;
	struct lw_maps maps;
	char exe_path[64];
	int err, objects = 0;

	err = maps__read(pid, &maps);
	if (err) {
		snprintf(why, len, "cannot read the memory map of PID %d: %s", pid, strerror(-err));
		return LW_EXIT_TARGET;
	}
	snprintf(exe_path, sizeof(exe_path), "/proc/%d/exe", pid);
	if (stat(exe_path, &exe_st) == 0)
		exe = &exe_st;

	for (int want = 0; want <= 2; want++) {
		for (size_t i = 0; i < maps.n; i++) {
			const struct lw_map *m = &maps.v[i];

			if (!m->path || !first_of_file(&maps, i) || rank(m, exe) != want)
				continue;
			if (want == 0)
				objects++;
			if (try_object(pid, m, out) == 0) {
				maps__free(&maps);
				return 0;
			}
		}
	}
	for (size_t i = 0; i < maps.n; i++)
		objects += maps.v[i].path && first_of_file(&maps, i) && rank(&maps.v[i], exe);
	maps__free(&maps);
	snprintf(why, len,
		 "no allocator found in PID %d: none of its %d mapped files defines malloc and free "
		 "(a static, stripped binary?): leakwatch needs the allocator's symbols",
		 pid, objects);
	return LW_EXIT_TARGET;
}
