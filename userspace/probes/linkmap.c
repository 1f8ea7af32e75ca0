// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "common/elf_symbols.h"
#include "probes/linkmap.h"

/* glibc's struct r_debug and struct link_map (x86_64), the fields used. */
#define R_DEBUG_R_MAP 8
#define LINK_MAP_L_LD 16
#define LINK_MAP_L_NEXT 24
#define MAX_OBJECTS 1024

static int read_u64(int mem, uint64_t addr, uint64_t *out)
{
	return pread(mem, out, sizeof(*out), addr) == sizeof(*out) ? 0 : -EIO;
}

/* Address of the dynamic linker's r_debug in pid: the mapped object that
 * defines _r_debug, at that object's load bias. */
static int find_r_debug(pid_t pid, const struct lw_maps *maps, uint64_t *addr)
{
	for (size_t i = 0; i < maps->n; i++) {
		const struct lw_map *m = &maps->v[i];
		struct elf_symbols *es;
		uint64_t sym, vaddr;
		int fd, err;

		if (!m->path || !m->exec)
			continue;
		fd = proc__open_mapped(pid, m, NULL, 0);
		if (fd < 0)
			continue;
		es = elf_symbols__open(fd);
		err = !es || elf_symbols__object_vaddr(es, "_r_debug", &sym) ||
		      elf_symbols__offset_to_vaddr(es, m->pgoff, &vaddr);
		elf_symbols__close(es);
		close(fd);
		if (!err) {
			/* bias: where link-time address vaddr is in memory */
			*addr = sym + (m->start - (vaddr & ~0xfffULL));
			return 0;
		}
	}
	return -ENOENT;
}

/* The mapping holding addr, if it belongs to a file. */
static const struct lw_map *file_mapping(const struct lw_maps *maps, uint64_t addr)
{
	const struct lw_map *m = maps__find(maps, addr);

	return m && m->path ? m : NULL;
}

/* Index of the first mapping of the file m maps. */
static size_t first_of_file(const struct lw_maps *maps, const struct lw_map *m)
{
	for (size_t i = 0; i < maps->n; i++)
		if (maps->v[i].inode == m->inode && maps->v[i].dev_major == m->dev_major &&
		    maps->v[i].dev_minor == m->dev_minor && maps->v[i].path)
			return i;
	return m - maps->v;
}

int linkmap__order(pid_t pid, const struct lw_maps *maps, size_t *order, size_t max)
{
	uint64_t r_debug, lm, l_ld;
	char path[64];
	size_t n = 0;
	int mem, err;

	err = find_r_debug(pid, maps, &r_debug);
	if (err)
		return err;
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0)
		return -errno;
	err = read_u64(mem, r_debug + R_DEBUG_R_MAP, &lm);
	if (!err && !lm)
		err = -EAGAIN; /* the linker has not listed anything yet */
	for (int i = 0; !err && lm && i < MAX_OBJECTS && n < max; i++) {
		const struct lw_map *m;
		size_t idx;
		bool seen = false;

		/* each object's dynamic section lies in its own mapping, which
		 * identifies the file whatever name the linker used for it */
		if (read_u64(mem, lm + LINK_MAP_L_LD, &l_ld) == 0 && (m = file_mapping(maps, l_ld))) {
			idx = first_of_file(maps, m);
			for (size_t j = 0; j < n; j++)
				seen |= order[j] == idx;
			if (!seen)
				order[n++] = idx;
		}
		if (read_u64(mem, lm + LINK_MAP_L_NEXT, &lm))
			break;
	}
	close(mem);
	return err ? err : (int)n;
}
