// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What the python files share (python_target.h): reading the target's
 * memory, noting what the checks found, and the interpreter's modules. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "stacks/python_target.h"

int py_mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct py_target *t = ctx;

	return pread(t->mem, buf, len, addr) == (ssize_t)len ? 0 : -1;
}

int py_read_u64(struct py_target *t, uint64_t addr, uint64_t *v)
{
	return py_mem_read(t, addr, v, sizeof(*v)) ? -EIO : 0;
}

/* Adds a line to what the checks of t found (python.h: checks). */
void py_add_check(struct py_target *t, const char *fmt, ...)
{
	va_list ap;
	char line[512];
	char *grown;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	grown = realloc(t->checks, t->checks_len + n + 2);
	if (!grown)
		return;
	t->checks = grown;
	memcpy(t->checks + t->checks_len, line, n);
	t->checks_len += n;
	t->checks[t->checks_len++] = '\n';
	t->checks[t->checks_len] = 0;
}


void py_module_close(struct module *m)
{
	elf_symbols__close(m->es);
	if (m->fd >= 0)
		close(m->fd);
	m->es = NULL;
	m->fd = -1;
}

/* Opens the file of the first mapping of maps->v[i]'s file. */
int py_module_open(pid_t pid, const struct lw_maps *maps, size_t i, struct module *out)
{
	const struct lw_map *m = &maps->v[i];
	uint64_t vaddr;

	out->fd = proc__open_mapped(pid, m, NULL, 0);
	out->es = NULL;
	if (out->fd < 0)
		return out->fd;
	out->es = elf_symbols__open(out->fd);
	if (!out->es || elf_symbols__offset_to_vaddr(out->es, m->pgoff, &vaddr)) {
		py_module_close(out);
		return -ENOEXEC;
	}
	out->bias = m->start - (vaddr & ~0xfffULL);
	snprintf(out->path, sizeof(out->path), "%s", m->path);
	return 0;
}

int py_module_object(const struct module *m, const char *name, uint64_t *addr)
{
	uint64_t v;

	if (elf_symbols__object_vaddr(m->es, name, &v))
		return -ENOENT;
	*addr = v + m->bias;
	return 0;
}

int py_module_func(const struct module *m, const char *name, uint64_t *addr)
{
	uint64_t off, v;

	if (elf_symbols__func_offset(m->es, name, &off) || elf_symbols__offset_to_vaddr(m->es, off, &v))
		return -ENOENT;
	*addr = v + m->bias;
	return 0;
}

bool py_is_first_of_file(const struct lw_maps *maps, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (maps->v[k].path && !strcmp(maps->v[k].path, maps->v[i].path))
			return false;
	return true;
}

/* Candidates for the interpreter: the executable, and objects whose name
 * says python (libpython3.X.so, an embedding's copy of it). */
bool py_maybe_python(const struct lw_maps *maps, size_t i)
{
	const char *path = maps->v[i].path, *base;

	if (!path || !py_is_first_of_file(maps, i))
		return false;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return i == 0 || strstr(base, "python");
}
