// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>
#include "common/hashmap.h"
#include "stacks/pystacks.h"
#include "stacks/stacks.h"
#include "kernel/tracer.h"

struct stack_table {
	struct symbolizer *sym;
	struct tracer *tracer;
	struct hashmap *by_raw;  /* (tgid, BPF stack id) -> site */
	struct hashmap *by_id;   /* (pid and category, stack id) -> site */
	struct py_stacks *py;    /* Python frames, merged in when there are */
	double since_s;          /* --since: each site's growth over this span */
};

void stack_table__set_since(struct stack_table *t, double span_s)
{
	t->since_s = span_s;
}

void stack_table__set_python(struct stack_table *t, struct py_stacks *py)
{
	t->py = py;
}

const char *category_name(enum lw_category c)
{
	return c == LW_CAT_MMAP ? "mmap" : c == LW_CAT_PYTHON ? "python" :
	       c == LW_CAT_RESIDENT ? "resident" : "malloc";
}

bool stack_root_function(const char *name)
{
	static const char *const roots[] = {
		"_start", "__libc_start_main", "__libc_start_main_impl", "__libc_start_call_main",
		"start_thread", "clone", "__clone", "clone3", "__clone3", "__GI___clone3",
	};

	if (!name)
		return false;
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		if (!strcmp(name, roots[i]))
			return true;
	return false;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

uint64_t stack_id_of(const struct lw_frame *frames, int nr)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < nr; i++) {
		const struct lw_frame *f = &frames[i];
		uint64_t where = f->module ? f->module_offset : f->addr;

		if (f->python) {
			/* by name, file and line: code objects move between runs */
			int line = f->sym ? f->sym->line : 0;

			h = fnv(h, "py", 2);
			if (f->sym && f->sym->function)
				h = fnv(h, f->sym->function, strlen(f->sym->function) + 1);
			if (f->sym && f->sym->file)
				h = fnv(h, f->sym->file, strlen(f->sym->file) + 1);
			h = fnv(h, &line, sizeof(line));
			if (!f->sym) /* not named: its code object stands for it */
				h = fnv(h, &f->addr, sizeof(f->addr));
			continue;
		}
		if (f->module && f->module->build_id[0])
			h = fnv(h, f->module->build_id, strlen(f->module->build_id));
		else if (f->module)
			h = fnv(h, f->module->path, strlen(f->module->path));
		h = fnv(h, &where, sizeof(where));
	}
	return h;
}

int stack_resolve(struct symbolizer *sym, pid_t pid, const __u64 *ips, int nr,
		  struct lw_frame *frames, int max, bool *truncated, bool first_exact)
{
	bool root = false;
	int kept = 0;

	for (int i = 0; i < nr && kept < max; i++) {
		struct lw_frame f;

		symbolizer__resolve(sym, pid, ips[i], &f);
		/* (a first frame that is not a return address is an
		 * instruction the stack was taken at) */
		if (f.module ? !(f.sym && (f.sym->return_site || (first_exact && !i))) :
			       !f.mapped_exec)
			break;
		/* one frame per function inlined here, then the function itself */
		do {
			frames[kept++] = f;
			/* anything past a root is the runtime's own start-up code */
			root |= f.sym && !f.sym->caller && stack_root_function(f.sym->function);
			f.sym = f.sym ? f.sym->caller : NULL;
		} while (f.sym && kept < max);
	}
	*truncated = !root;
	return kept;
}

struct stack_table *stack_table__new(struct symbolizer *sym, struct tracer *tracer)
{
	struct stack_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->sym = sym;
	t->tracer = tracer;
	t->by_raw = hashmap__new();
	t->by_id = hashmap__new();
	if (!t->by_raw || !t->by_id) {
		stack_table__free(t);
		return NULL;
	}
	return t;
}

void stack_table__free(struct stack_table *t)
{
	struct lw_site *site;
	size_t pos = 0;

	if (!t)
		return;
	while ((site = stack_table__next(t, &pos))) {
		free(site->frames);
		free(site->lookback);
		free(site);
	}
	hashmap__free(t->by_raw);
	hashmap__free(t->by_id);
	free(t);
}

struct lw_site *stack_table__next(struct stack_table *t, size_t *pos)
{
	return t->by_id ? hashmap__next(t->by_id, pos, NULL) : NULL;
}

void stack_table__begin_round(struct stack_table *t)
{
	struct lw_site *site;
	size_t pos = 0;

	while ((site = stack_table__next(t, &pos))) {
		site->bytes = site->allocs = site->alloc_units = 0;
		memset(site->age_bytes, 0, sizeof(site->age_bytes));
		memset(site->age_epoch, 0, sizeof(site->age_epoch));
		site->older_bytes = 0;
		site->total_allocs = site->total_frees = 0;
	}
}

static struct lw_key site_key(pid_t pid, enum lw_category category, uint64_t id)
{
	return (struct lw_key){ (uint64_t)(uint32_t)pid | (uint64_t)category << 32, id };
}

/* The site of a raw stack, resolving it now. */
static struct lw_site *site_for(struct stack_table *t, pid_t pid, enum lw_category category,
				__u64 raw_id)
{
	static struct lw_stack raw;
	static struct lw_frame frames[4 * LW_MAX_STACK_DEPTH];
	struct lw_site *site;
	bool truncated = true;
	int nr = 0;
	uint64_t id;

	if (raw_id != LW_STACK_NONE && tracer__read_stack(t->tracer, raw_id, &raw) == 0)
		nr = stack_resolve(t->sym, pid, raw.ips, raw.nr, frames,
				   sizeof(frames) / sizeof(frames[0]), &truncated,
				   tracer__growth(t->tracer));
	if (nr && t->py)
		nr = py_stacks__merge(t->py, pid, raw_id, frames, nr,
				      sizeof(frames) / sizeof(frames[0]), &truncated);
	id = nr ? stack_id_of(frames, nr) : 0;

	site = hashmap__get(t->by_id, site_key(pid, category, id));
	if (site)
		return site;
	site = calloc(1, sizeof(*site));
	if (!site)
		return NULL;
	site->pid = pid;
	site->id = id;
	site->category = category;
	site->older_since_s = -1;
	site->oldest_age_s = -1;
	site->truncated = truncated;
	site->nr_frames = nr;
	if (nr) {
		site->frames = malloc(nr * sizeof(*frames));
		if (!site->frames) {
			free(site);
			return NULL;
		}
		memcpy(site->frames, frames, nr * sizeof(*frames));
	}
	if (hashmap__set(t->by_id, site_key(pid, category, id), site)) {
		free(site->frames);
		free(site);
		return NULL;
	}
	return site;
}

void stack_table__add(struct stack_table *t, const struct lw_stats_key *key,
		      const struct lw_stats *val)
{
	struct lw_key raw = site_key(key->tgid, key->category, key->stack_id);
	struct lw_site *site = hashmap__get(t->by_raw, raw);

	if (!site) {
		site = site_for(t, key->tgid, key->category, key->stack_id);
		if (!site || hashmap__set(t->by_raw, raw, site))
			return;
	}
	site->bytes += val->outstanding_bytes;
	site->alloc_units += val->outstanding_allocs;
	site->total_allocs += val->total_allocs;
	site->total_frees += val->total_frees;
	/* merge slot by slot as the kernel does: a newer epoch wins the slot */
	site->older_bytes += val->older_bytes;
	for (int i = 0; i < LW_AGE_SLOTS; i++) {
		if (val->age_epoch[i] == site->age_epoch[i]) {
			site->age_bytes[i] += val->age_bytes[i];
		} else if (val->age_epoch[i] > site->age_epoch[i]) {
			site->older_bytes += site->age_bytes[i];
			site->age_bytes[i] = val->age_bytes[i];
			site->age_epoch[i] = val->age_epoch[i];
		} else {
			site->older_bytes += val->age_bytes[i];
		}
	}
}

void stack_table__ages(struct stack_table *t, double now_s, double t_s, double epoch_s,
		       double min_age_s)
{
	double horizon_s = LW_AGE_SLOTS * epoch_s;
	struct lw_site *site;
	size_t pos = 0;

	while ((site = stack_table__next(t, &pos))) {
		double oldest = -1, older_age;

		site->bytes_older = 0;
		if (site->older_bytes > 0) {
			if (site->older_since_s < 0)
				site->older_since_s = t_s;
			/* older than the slots when first seen, and aging since */
			older_age = horizon_s + (t_s - site->older_since_s);
			oldest = older_age;
			if (older_age >= min_age_s)
				site->bytes_older += site->older_bytes;
		} else {
			site->older_since_s = -1;
		}
		for (int i = 0; i < LW_AGE_SLOTS; i++) {
			double start_s = site->age_epoch[i] * epoch_s, age = now_s - start_s;

			if (site->age_bytes[i] <= 0)
				continue;
			if (age > oldest)
				oldest = age;
			/* counted when the whole epoch is older than the minimum */
			if (now_s - (start_s + epoch_s) >= min_age_s)
				site->bytes_older += site->age_bytes[i];
		}
		/* nothing tracked is older than the watch */
		site->oldest_age_s = oldest > t_s ? t_s : oldest;
	}
}

/* --since: the site's bytes now less those of the report since_s ago
 * (none then: it appeared since, and all it holds is new). */
static void since(struct stack_table *t, struct lw_site *site, double t_s)
{
	int64_t then = 0;

	if (!site->lookback && !(site->lookback = calloc(1, sizeof(*site->lookback)))) {
		site->since_bytes = site->bytes - site->reported_bytes; /* out of memory */
		return;
	}
	lookback__add(site->lookback, t->since_s, t_s, site->bytes);
	lookback__at(site->lookback, t_s - t->since_s, &then);
	site->since_bytes = site->bytes - then;
}

void stack_table__end_round(struct stack_table *t, double t_s, double min_gap_s)
{
	struct lw_site *site;
	size_t pos = 0;

	while ((site = stack_table__next(t, &pos))) {
		int64_t u = site->alloc_units;

		site->allocs = (u >= 0 ? u + LW_ONE / 2 : u - LW_ONE / 2) / LW_ONE;
		series__add_spaced(&site->series, t_s, site->bytes, min_gap_s);
		if (t->since_s > 0)
			since(t, site, t_s);
	}
}
