// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <fcntl.h>
#include <limits.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "symbols/cfi.h"
#include "symbols/dwarf_lookup.h"
#include "leakwatch.h"
#include "symbols/oracle.h"
#include "common/hashmap.h"
#include "probes/insn.h"
#include "common/proc.h"
#include "symbols/symbol_worker.h"
#include "symbols/symbolize.h"

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
	struct symbol_worker *worker;
	struct lw_module **mods;
	size_t nr_mods;
	struct view *views;
	size_t nr_views;
	/* names given to JIT frames, by (pid, address); kept while any stack
	 * may point at them */
	struct hashmap *jit_syms;
	symbolizer_refresh_fn on_refresh;
	void *on_refresh_ctx;
};

struct symbolizer *symbolizer__new(void)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (s && !(s->worker = symbol_worker__new())) {
		free(s);
		return NULL;
	}
	return s;
}

static void module_free(struct lw_module *m)
{
	struct lw_sym *sym;
	size_t pos = 0;

	if (!m)
		return;
	if (m->syms) {
		while ((sym = hashmap__next(m->syms, &pos, NULL)))
			lw_sym__free(sym);
		hashmap__free(m->syms);
	}
	if (m->fd >= 0)
		close(m->fd);
	cfi_table__free(m->cfi);
	free(m->cfi);
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
			lw_sym__free(sym);
		hashmap__free(s->jit_syms);
	}
	symbol_worker__free(s->worker);
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

/*
 * Debug info for m as its process sees the file system (a container keeps
 * its own), opened here so the worker needs no access to the target's
 * root: by build-id under /usr/lib/debug, then by .gnu_debuglink beside the
 * file, in .debug/ there, and under /usr/lib/debug. -1 when none: the
 * worker then looks in the host's places and asks debuginfod if set up.
 */
static int target_debuginfo(pid_t pid, const struct lw_module *m, const char *link)
{
	static const char *const places[] = { "%s/%s", "%s/.debug/%s", "/usr/lib/debug%s/%s" };
	char path[PATH_MAX * 3], dir[PATH_MAX];
	const char *slash = strrchr(m->path, '/');
	int fd = -1;

	if (m->build_id[0]) {
		snprintf(path, sizeof(path), "/proc/%d/root/usr/lib/debug/.build-id/%.2s/%s.debug", pid,
			 m->build_id, m->build_id + 2);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - m->path) : 0, m->path);
	for (size_t i = 0; link[0] && i < sizeof(places) / sizeof(places[0]) && fd < 0; i++) {
		char rel[PATH_MAX * 2];

		snprintf(rel, sizeof(rel), places[i], dir, link);
		/* never the module itself (a debuglink naming its own file) */
		if (!strcmp(rel, m->path))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, rel);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	return fd;
}

/* The module for mapping map of pid: an already open one for the same file
 * (same device and inode), or the file opened through pid's view and
 * handed to the worker. A file the worker cannot read stays a module
 * (frames show module+offset) without build-id or symbols. */
static struct lw_module *module_for(struct symbolizer *s, pid_t pid, const struct lw_map *map)
{
	struct lw_module *m, **grown;
	char link[256];
	struct stat st;
	int fd, debug_fd;

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
	if (grown)
		s->mods = grown;
	if (!m || !grown)
		goto fail;
	m->fd = fd;
	m->dev = st.st_dev;
	m->inode = st.st_ino;
	m->id = s->nr_mods;
	m->path = strdup(map->path);
	m->syms = hashmap__new();
	if (!m->path || !m->syms)
		goto fail;
	if (symbol_worker__open(s->worker, m->id, fd, m->path, m->build_id, link, sizeof(link)) == 0) {
		debug_fd = target_debuginfo(pid, m, link);
		symbol_worker__set_debug(s->worker, m->id, debug_fd, &m->stripped);
		if (debug_fd >= 0)
			close(debug_fd);
	}
	s->mods[s->nr_mods++] = m;
	return m;
fail:
	if (m) {
		m->fd = -1;
		module_free(m);
	}
	close(fd);
	return NULL;
}

int symbolizer__refresh(struct symbolizer *s, pid_t pid)
{
	struct view *v = view_of(s, pid, true);
	struct lw_module **mods;
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
	mods = calloc(maps.n, sizeof(*mods));
	if (!mods) {
		maps__free(&maps);
		return -ENOMEM;
	}
	for (size_t i = 0; i < maps.n; i++) {
		const struct lw_map *m = &maps.v[i], *old;

		if (!m->exec || !m->path)
			continue;
		/* a mapping read before is the same module: no reopening,
		 * and none to fail while the process exits */
		old = v->mods ? maps__find(&v->maps, m->start) : NULL;
		if (old && old->start == m->start && old->end == m->end && old->inode == m->inode &&
		    old->pgoff == m->pgoff && v->mods[old - v->maps.v])
			mods[i] = v->mods[old - v->maps.v];
		else
			mods[i] = module_for(s, pid, m);
	}
	if (v->mods && !proc__alive(pid)) {
		/* exiting: what it maps now may be half torn down */
		free(mods);
		maps__free(&maps);
		return -ESRCH;
	}
	view_clear(v);
	v->maps = maps;
	v->mods = mods;
	v->refreshed_this_round = true;
	if (s->on_refresh)
		s->on_refresh(s->on_refresh_ctx, pid);
	return 0;
}

void symbolizer__on_refresh(struct symbolizer *s, symbolizer_refresh_fn fn, void *ctx)
{
	s->on_refresh = fn;
	s->on_refresh_ctx = ctx;
}

int symbolizer__view(struct symbolizer *s, pid_t pid, const struct lw_maps **maps,
		     struct lw_module *const **mods)
{
	struct view *v = view_of(s, pid, false);

	if (!v || !v->mods)
		return -ENOENT;
	*maps = &v->maps;
	*mods = v->mods;
	return 0;
}

const struct cfi_table *symbolizer__cfi(struct symbolizer *s, struct lw_module *m)
{
	if (m->cfi || m->cfi_err)
		return m->cfi;
	m->cfi = calloc(1, sizeof(*m->cfi));
	if (!m->cfi) {
		m->cfi_err = -ENOMEM;
		return NULL;
	}
	m->cfi_err = symbol_worker__cfi(s->worker, m->id, m->cfi);
	if (m->cfi_err) {
		free(m->cfi);
		m->cfi = NULL;
	}
	return m->cfi;
}

void symbolizer__new_round(struct symbolizer *s)
{
	for (size_t i = 0; i < s->nr_views; i++) {
		s->views[i].refreshed_this_round = false;
		s->views[i].perf_checked_this_round = false;
	}
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
	snprintf(path, sizeof(path), "/proc/%d/root/tmp/perf-%d.map", v->pid, proc__ns_pid(v->pid));
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
		lw_sym__free(sym);
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
	if (s->on_refresh)
		s->on_refresh(s->on_refresh_ctx, pid);
}

/* A return address follows a call instruction: frames from a frame-pointer
 * walk through code without frame pointers fail this. */
static bool is_return_site(struct lw_module *m, uint64_t off)
{
	uint8_t buf[8];

	return off >= sizeof(buf) && pread(m->fd, buf, sizeof(buf), off - sizeof(buf)) == sizeof(buf) &&
	       insn_call_before(buf, sizeof(buf));
}

/* What offset off of m means, asked of the worker once. A frame it could
 * not resolve (no symbol, or the module given up) still gets a sym, with
 * no function: shown as module+offset. */
static struct lw_sym *sym_for(struct symbolizer *s, struct lw_module *m, uint64_t off)
{
	struct lw_key key = { 0, off };
	struct lw_sym *sym = hashmap__get(m->syms, key);

	if (sym)
		return sym;
	if (symbol_worker__lookup(s->worker, m->id, off, &sym) || !sym)
		sym = calloc(1, sizeof(*sym));
	if (!sym)
		return NULL;
	sym->return_site = is_return_site(m, off);
	if (hashmap__set(m->syms, key, sym)) {
		lw_sym__free(sym);
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

void symbolizer__worker_stats(const struct symbolizer *s, struct symbol_worker_stats *out)
{
	symbol_worker__stats(s->worker, out);
}

int symbolizer__worker_pid(const struct symbolizer *s)
{
	return symbol_worker__pid(s->worker);
}

int symbolizer__oracle(struct symbolizer *s, pid_t pid, const struct lw_verify *v, uint64_t *pcs,
		       int max)
{
	struct view *vw = view_of(s, pid, false);
	struct oracle_map *maps;
	size_t n = 0;
	int err;

	if (!vw || !vw->mods)
		return -ENOENT;
	maps = calloc(vw->maps.n + 1, sizeof(*maps));
	if (!maps)
		return -ENOMEM;
	for (size_t i = 0; i < vw->maps.n; i++) {
		const struct lw_map *m = &vw->maps.v[i];

		if (!m->exec || !vw->mods[i])
			continue;
		maps[n++] = (struct oracle_map){ .start = m->start, .end = m->end, .pgoff = m->pgoff,
						 .module = vw->mods[i]->id };
	}
	err = symbol_worker__unwind(s->worker, maps, n, (const uint64_t *)v->regs, v->stack,
				    v->stack_len < LW_VERIFY_STACK_BYTES ? v->stack_len :
				    LW_VERIFY_STACK_BYTES, pcs, max);
	free(maps);
	return err;
}
