// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/hashmap.h"
#include "judge/groups.h"
#include "judge/trend.h"

static const char *const group_by_names[] = {
	[GROUP_BY_STACK] = "stack",
	[GROUP_BY_LINE] = "line",
	[GROUP_BY_FUNCTION] = "function",
	[GROUP_BY_FILE] = "file",
	[GROUP_BY_MODULE] = "module",
};

const char *group_by__name(enum group_by by)
{
	return by <= GROUP_BY_MODULE ? group_by_names[by] : "?";
}

int group_by__parse(const char *s, enum group_by *out)
{
	for (int i = 0; i <= GROUP_BY_MODULE; i++) {
		if (!strcmp(s, group_by_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

void group_frame__from(const struct lw_frame *f, struct group_frame *out)
{
	*out = (struct group_frame){
		.python = f->python,
		.module = !f->python && f->module ? f->module->path : NULL,
		.module_offset = f->module_offset,
		.addr = f->addr,
		.function = f->sym ? f->sym->function : NULL,
		.file = f->sym ? f->sym->file : NULL,
		.line = f->sym ? f->sym->line : 0,
	};
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* Modules of the allocators and of the language runtimes, by file name. */
static bool runtime_module(const char *path)
{
	static const char *const prefixes[] = {
		"libc.so", "libc-", "ld-linux", "ld64.so", "libstdc++", "libgcc_s", "libpython",
		"python", "libjemalloc", "libtcmalloc", "libmimalloc", "libpthread",
	};
	const char *base = base_name(path);

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (starts(base, prefixes[i]))
			return true;
	return false;
}

/* Allocator entry points and their wrappers, by function name (they may sit
 * in the program itself: a static libpython, inlined std::allocator). */
static bool runtime_function(const char *name)
{
	static const char *const exact[] = {
		"malloc", "calloc", "realloc", "reallocarray", "free", "memalign",
		"posix_memalign", "aligned_alloc", "valloc", "pvalloc", "strdup", "strndup",
		"mmap", "mmap64", "PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc",
	};
	static const char *const prefixes[] = {
		"operator new", "operator delete", "PyMem_", "_PyMem_", "_PyObject_", "__libc_",
		"_int_malloc", "_int_realloc", "_dl_", "__GI_", "std::allocator<",
		"std::allocator_traits<", "std::__new_allocator<", "__gnu_cxx::new_allocator<",
		"je_",
	};

	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcmp(name, exact[i]))
			return true;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (starts(name, prefixes[i]))
			return true;
	return false;
}

static bool runtime_frame(const struct group_frame *f)
{
	return (f->module && runtime_module(f->module)) ||
	       (f->function && runtime_function(f->function));
}

int group_key_frame(const struct group_frame *frames, int nr)
{
	for (int i = 0; i < nr; i++)
		if (frames[i].python)
			return i;
	for (int i = 0; i < nr; i++)
		if (!runtime_frame(&frames[i]))
			return i;
	return nr > 0 ? 0 : -1;
}

/* "dir/pkg/mod.py" below a package root: "pkg.mod"; else "mod". */
static void python_module(const char *file, char *buf, size_t len)
{
	static const char *const roots[] = { "/site-packages/", "/dist-packages/" };
	const char *from = NULL, *p;
	size_t n;

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]) && !from; i++)
		if ((p = strstr(file, roots[i])))
			from = p + strlen(roots[i]);
	/* the standard library: .../lib/python3.11/json/decoder.py */
	if (!from && (p = strstr(file, "/lib/python")) && (p = strchr(p + 11, '/')))
		from = p + 1;
	if (!from)
		from = base_name(file);
	n = strlen(from);
	if (n > 3 && !strcmp(from + n - 3, ".py"))
		n -= 3;
	if (n > 9 && !strncmp(from + n - 9, "/__init__", 9))
		n -= 9;
	snprintf(buf, len, "%.*s", (int)n, from);
	for (char *c = buf; *c; c++)
		if (*c == '/')
			*c = '.';
}

static void module_key(const struct group_frame *f, char *buf, size_t len)
{
	if (f->python && f->file)
		python_module(f->file, buf, len);
	else if (f->python)
		snprintf(buf, len, "[python]");
	else
		snprintf(buf, len, "%s", f->module ? base_name(f->module) : "[anon]");
}

/* Where a frame is when nothing better is known: module+0xoffset. */
static void place_key(const struct group_frame *f, char *buf, size_t len)
{
	char module[LW_GROUP_KEY_MAX];

	if (!f->python && !f->module) {
		snprintf(buf, len, "[anon]+0x%" PRIx64, f->addr);
		return;
	}
	module_key(f, module, sizeof(module));
	snprintf(buf, len, "%s+0x%" PRIx64, module, f->module_offset);
}

int group_key(enum group_by by, const struct group_frame *frames, int nr, char *buf, size_t len)
{
	int i = group_key_frame(frames, nr);
	const struct group_frame *f;
	char module[LW_GROUP_KEY_MAX];

	if (i < 0) {
		snprintf(buf, len, "[no frames]");
		return i;
	}
	f = &frames[i];
	switch (by) {
	case GROUP_BY_LINE:
		if (f->file)
			snprintf(buf, len, "%s:%d", f->file, f->line);
		else
			place_key(f, buf, len);
		break;
	case GROUP_BY_FUNCTION:
		if (f->function && f->python) {
			module_key(f, module, sizeof(module));
			snprintf(buf, len, "%s.%s", module, f->function);
		} else if (f->function) {
			snprintf(buf, len, "%s", f->function);
		} else {
			place_key(f, buf, len);
		}
		break;
	case GROUP_BY_FILE:
		if (f->file)
			snprintf(buf, len, "%s", f->file);
		else
			module_key(f, buf, len);
		break;
	case GROUP_BY_MODULE:
	default:
		module_key(f, buf, len);
		break;
	}
	return i;
}

struct group_table {
	enum group_by by;
	struct hashmap *by_key; /* (hash, probe) -> struct group */
	unsigned int round;
};

struct group_table *group_table__new(enum group_by by)
{
	struct group_table *t = calloc(1, sizeof(*t));

	if (t && !(t->by_key = hashmap__new())) {
		free(t);
		return NULL;
	}
	if (t)
		t->by = by;
	return t;
}

void group_table__free(struct group_table *t)
{
	struct group *g;
	size_t pos = 0;

	if (!t)
		return;
	while ((g = hashmap__next(t->by_key, &pos, NULL))) {
		free(g->key);
		free(g);
	}
	hashmap__free(t->by_key);
	free(t);
}

enum group_by group_table__by(const struct group_table *t)
{
	return t->by;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* The group of key, made on first sight. NULL when out of memory. */
static struct group *group_of(struct group_table *t, const char *key)
{
	struct lw_key k = { fnv1a(key), 0 };
	struct group *g;

	/* keys whose hashes collide take the next probe number */
	while ((g = hashmap__get(t->by_key, k))) {
		if (!strcmp(g->key, key))
			return g;
		k.b++;
	}
	g = calloc(1, sizeof(*g));
	if (!g || !(g->key = strdup(key)) || hashmap__set(t->by_key, k, g)) {
		if (g)
			free(g->key);
		free(g);
		return NULL;
	}
	return g;
}

static int by_outstanding(const void *pa, const void *pb)
{
	const struct group *a = *(struct group *const *)pa, *b = *(struct group *const *)pb;

	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	if (a->allocs != b->allocs)
		return a->allocs > b->allocs ? -1 : 1;
	return strcmp(a->key, b->key);
}

static int by_leak(const void *pa, const void *pb)
{
	const struct group *a = *(struct group *const *)pa, *b = *(struct group *const *)pb;
	bool ga = a->trend.verdict == VERDICT_GROWING, gb = b->trend.verdict == VERDICT_GROWING;

	if (ga != gb)
		return ga ? -1 : 1;
	if (ga && a->trend.rate != b->trend.rate)
		return a->trend.rate > b->trend.rate ? -1 : 1;
	return by_outstanding(pa, pb);
}

int group_table__report(struct group_table *t, struct lw_site *const *sites, int nr_sites,
			double t_s, double min_gap_s, int top, bool summary,
			struct group ***out)
{
	struct group_frame *frames = NULL;
	struct group **v = NULL, *g;
	char key[LW_GROUP_KEY_MAX];
	int cap_frames = 0, nr = 0;
	size_t pos = 0;

	*out = NULL;
	while ((g = hashmap__next(t->by_key, &pos, NULL))) {
		/* deltas are against the previous report */
		g->reported_bytes = g->bytes;
		g->bytes = g->allocs = 0;
		g->nr_stacks = 0;
	}
	for (int i = 0; i < nr_sites; i++) {
		const struct lw_site *s = sites[i];

		if (s->nr_frames > cap_frames) {
			struct group_frame *f = realloc(frames, s->nr_frames * sizeof(*f));

			if (!f)
				goto nomem;
			frames = f;
			cap_frames = s->nr_frames;
		}
		for (int j = 0; j < s->nr_frames; j++)
			group_frame__from(&s->frames[j], &frames[j]);
		group_key(t->by, frames, s->nr_frames, key, sizeof(key));
		if (!(g = group_of(t, key)))
			goto nomem;
		g->bytes += s->bytes;
		g->allocs += s->allocs;
		if (s->bytes || s->allocs)
			g->nr_stacks++;
	}
	free(frames);
	frames = NULL;
	v = malloc((hashmap__size(t->by_key) + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	pos = 0;
	while ((g = hashmap__next(t->by_key, &pos, NULL))) {
		/* every group has a sample in every report, as every stack has */
		series__add_spaced(&g->series, t_s, g->bytes, min_gap_s);
		if (g->bytes || g->allocs)
			v[nr++] = g;
	}
	t->round++;
	if (summary) {
		for (int i = 0; i < nr; i++)
			series__trend(&v[i]->series, &v[i]->trend);
		if (nr > 1)
			qsort(v, nr, sizeof(*v), by_leak);
		if (nr > top)
			nr = top;
	} else {
		if (nr > 1)
			qsort(v, nr, sizeof(*v), by_outstanding);
		if (nr > top)
			nr = top;
		/* the trend costs O(window^2): only for what is shown */
		for (int i = 0; i < nr; i++)
			series__trend(&v[i]->series, &v[i]->trend);
	}
	*out = v;
	return nr;
nomem:
	free(frames);
	return -ENOMEM;
}
