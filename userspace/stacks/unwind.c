// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "symbols/cfi.h"
#include "common/messages.h"
#include "symbols/oracle.h"
#include "common/proc.h"
#include "stacks/stacks.h"
#include "symbols/symbolize.h"
#include "kernel/tracer.h"
#include "stacks/unwind.h"

/* A module's table in the row store. */
struct table {
	struct lw_module *mod;
	struct unwind_module info;
	__u32 first, nr;   /* rows in the store; nr 0: none placed */
	int refs;          /* processes whose index uses it */
};

/* A free stretch of the row store. */
struct extent {
	__u32 first, nr;
};

/* The tables a process's index uses. */
struct proc_tables {
	pid_t pid;
	size_t *tables;
	size_t n;
};

struct unwinder {
	struct tracer *tracer;
	struct symbolizer *sym;
	enum unwind_mode mode;
	int verbose;
	__u32 max_rows, next_row;
	struct table *tables;
	size_t nr_tables;
	struct unwind_module *infos; /* a copy for unwinder__modules */
	struct extent *free;
	size_t nr_free;
	struct proc_tables *procs;
	size_t nr_procs;
	bool said_full, said_maps;
	bool verifying;
	uint64_t verified, agreed, unverifiable;
	int verbose_mismatches;  /* said on stderr with -v, a few */
	struct lw_cfi_proc scratch;
};

int unwind_mode_parse(const char *s, enum unwind_mode *out)
{
	if (!strcmp(s, "fp"))
		*out = UNWIND_FP;
	else if (!strcmp(s, "auto"))
		*out = UNWIND_AUTO;
	else if (!strcmp(s, "cfi"))
		*out = UNWIND_CFI;
	else
		return -EINVAL;
	return 0;
}

const char *unwind_mode_name(enum unwind_mode m)
{
	return m == UNWIND_CFI ? "cfi" : m == UNWIND_AUTO ? "auto" : "fp";
}

/* Room for n rows: the first free stretch that fits, else the end. */
static int place(struct unwinder *u, __u32 n, __u32 *first)
{
	for (size_t i = 0; i < u->nr_free; i++) {
		struct extent *e = &u->free[i];

		if (e->nr < n)
			continue;
		*first = e->first;
		e->first += n;
		e->nr -= n;
		if (!e->nr)
			u->free[i] = u->free[--u->nr_free];
		return 0;
	}
	if (n > u->max_rows - u->next_row)
		return -ENOSPC;
	*first = u->next_row;
	u->next_row += n;
	return 0;
}

static void unplace(struct unwinder *u, __u32 first, __u32 n)
{
	struct extent *v;

	if (first + n == u->next_row) {
		u->next_row = first;
		return;
	}
	v = realloc(u->free, (u->nr_free + 1) * sizeof(*v));
	if (!v)
		return; /* lost until exit: the store only shrinks less */
	u->free = v;
	u->free[u->nr_free++] = (struct extent){ first, n };
}

/* The table of module m, built and placed on first use. */
static struct table *table_of(struct unwinder *u, struct lw_module *m)
{
	const struct cfi_table *cfi;
	struct table *t, *v;

	for (size_t i = 0; i < u->nr_tables; i++) {
		t = &u->tables[i];
		/* the same file, or the same build in another container */
		if (t->mod == m || (m->build_id[0] && !strcmp(t->mod->build_id, m->build_id)))
			return t;
	}
	v = realloc(u->tables, (u->nr_tables + 1) * sizeof(*v));
	if (!v)
		return NULL;
	u->tables = v;
	t = &u->tables[u->nr_tables++];
	memset(t, 0, sizeof(*t));
	t->mod = m;
	t->info.path = m->path;
	t->info.build_id = m->build_id;
	cfi = symbolizer__cfi(u->sym, m);
	if (!cfi)
		return t;
	t->info.has_cfi = true;
	t->info.has_fp = cfi->has_fp;
	t->info.text_bytes = cfi->text_bytes;
	return t;
}

/* Places t's rows in the store, if it is to be served by CFI. */
static bool load_table(struct unwinder *u, struct table *t)
{
	const struct cfi_table *cfi = t->mod->cfi;
	int err;

	if (t->nr)
		return true;
	if (!cfi || !cfi->nr || cfi->nr > (1U << LW_CFI_SEARCH_STEPS))
		return false;
	err = place(u, cfi->nr, &t->first);
	if (!err)
		err = tracer__unwind_rows(u->tracer, t->first, cfi->rows, cfi->nr);
	if (err) {
		if (!u->said_full)
			lw_say("warning: no room for the unwind table of %s (%s): its frames are "
			       "walked by frame pointers", t->mod->path,
			       err == -ENOSPC ? "row store full" : strerror(-err));
		u->said_full = true;
		return false;
	}
	t->nr = cfi->nr;
	t->info.table_bytes = (uint64_t)t->nr * sizeof(struct lw_cfi_row);
	return true;
}

static void unref(struct unwinder *u, struct proc_tables *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct table *t = &u->tables[p->tables[i]];

		if (--t->refs == 0 && t->nr) {
			/* no process maps it any more */
			unplace(u, t->first, t->nr);
			t->nr = 0;
			t->info.table_bytes = 0;
		}
	}
	free(p->tables);
	p->tables = NULL;
	p->n = 0;
}

static struct proc_tables *proc_of(struct unwinder *u, pid_t pid, bool create)
{
	struct proc_tables *v;

	for (size_t i = 0; i < u->nr_procs; i++)
		if (u->procs[i].pid == pid)
			return &u->procs[i];
	if (!create)
		return NULL;
	v = realloc(u->procs, (u->nr_procs + 1) * sizeof(*v));
	if (!v)
		return NULL;
	u->procs = v;
	v = &u->procs[u->nr_procs++];
	memset(v, 0, sizeof(*v));
	v->pid = pid;
	return v;
}

/* Builds pid's index from its mappings as the symbolizer last read them. */
static void load_proc_index(void *ctx, pid_t pid)
{
	struct unwinder *u = ctx;
	struct lw_cfi_proc *ix = &u->scratch;
	struct lw_module *const *mods;
	const struct lw_maps *maps;
	struct proc_tables *p, now = { .pid = pid };
	size_t cap = 0;

	if (u->mode == UNWIND_FP) {
		/* frame pointers only: the modules are classified, for -v and
		 * the report, and nothing is loaded */
		if (!symbolizer__view(u->sym, pid, &maps, &mods))
			for (size_t i = 0; i < maps->n; i++)
				if (maps->v[i].exec && mods[i])
					table_of(u, mods[i]);
		return;
	}
	p = proc_of(u, pid, false);
	if (symbolizer__view(u->sym, pid, &maps, &mods)) {
		/* forgotten: gone, or not watched any more */
		if (p) {
			unref(u, p);
			*p = u->procs[--u->nr_procs];
		}
		tracer__unwind_proc(u->tracer, pid, NULL);
		return;
	}
	memset(ix, 0, sizeof(*ix));
	for (size_t i = 0; i < maps->n; i++) {
		const struct lw_map *m = &maps->v[i];
		struct lw_cfi_map *e;
		struct table *t;

		if (!m->exec)
			continue;
		if (ix->nr == LW_CFI_MAX_MAPS) {
			if (!u->said_maps)
				lw_say("warning: PID %d has more than %d executable mappings; stacks "
				       "through the others are not kept", pid, LW_CFI_MAX_MAPS);
			u->said_maps = true;
			break;
		}
		e = &ix->maps[ix->nr++];
		e->start = m->start;
		e->end = m->end;
		e->pgoff = m->pgoff;
		e->kind = LW_UNWIND_FP; /* JIT code, or a file without a table */
		if (!mods[i] || !(t = table_of(u, mods[i])))
			continue;
		if (u->mode == UNWIND_AUTO && t->info.has_fp)
			continue;
		if (!load_table(u, t))
			continue;
		e->kind = LW_UNWIND_CFI;
		e->first_row = t->first;
		e->nr_rows = t->nr;
		t->info.by_cfi = true;
		if (now.n == cap) {
			size_t *grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(now.tables, cap * sizeof(*grown));
			if (!grown)
				break;
			now.tables = grown;
		}
		now.tables[now.n++] = t - u->tables;
		t->refs++;
	}
	if (tracer__unwind_proc(u->tracer, pid, ix) && u->verbose)
		lw_say("cannot load PID %d's unwind index", pid);
	/* the old references go only now: a table still mapped stays put */
	if (!p)
		p = proc_of(u, pid, true);
	if (p) {
		unref(u, p);
		p->tables = now.tables;
		p->n = now.n;
	} else {
		unref(u, &now);
	}
}

struct unwinder *unwinder__new(struct tracer *t, struct symbolizer *sym, enum unwind_mode mode,
			       unsigned int max_rows, bool verifying, int verbose)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->tracer = t;
	u->sym = sym;
	u->mode = mode;
	u->max_rows = max_rows;
	u->verbose = verbose;
	u->verifying = verifying;
	symbolizer__on_refresh(sym, load_proc_index, u);
	return u;
}

void unwinder__free(struct unwinder *u)
{
	if (!u)
		return;
	symbolizer__on_refresh(u->sym, NULL, NULL);
	for (size_t i = 0; i < u->nr_procs; i++)
		free(u->procs[i].tables);
	free(u->procs);
	free(u->tables);
	free(u->infos);
	free(u->free);
	free(u);
}

const struct unwind_module *unwinder__modules(const struct unwinder *u, size_t *n)
{
	struct unwinder *w = (struct unwinder *)u;
	struct unwind_module *v = realloc(w->infos, (u->nr_tables + 1) * sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	w->infos = v;
	for (size_t i = 0; i < u->nr_tables; i++)
		v[i] = u->tables[i].info;
	*n = u->nr_tables;
	return v;
}

uint64_t unwinder__table_bytes(const struct unwinder *u)
{
	uint64_t b = 0;

	for (size_t i = 0; i < u->nr_tables; i++)
		b += u->tables[i].info.table_bytes;
	return b;
}

void unwinder__describe(const struct unwinder *u, FILE *f)
{
	for (size_t i = 0; i < u->nr_tables; i++) {
		const struct unwind_module *m = &u->tables[i].info;

		fprintf(f, "  %s: %s, %s; unwound by %s", m->path,
			m->has_fp ? "frame pointers" : "no frame pointers",
			m->has_cfi ? "CFI" : "no CFI", m->by_cfi ? "CFI" : "frame pointers");
		if (m->table_bytes)
			fprintf(f, " (%llu KiB of rows for %llu KiB of code)",
				(unsigned long long)(m->table_bytes + 1023) / 1024,
				(unsigned long long)(m->text_bytes + 1023) / 1024);
		fputc('\n', f);
	}
}

/* One --verify-stacks record: the BPF stack against libdw's. */
static void verify_one(const struct lw_verify *v, void *ctx)
{
	struct unwinder *u = ctx;
	uint64_t pcs[LW_MAX_STACK_DEPTH];
	int n = symbolizer__oracle(u->sym, v->tgid, v, pcs, LW_MAX_STACK_DEPTH);
	__u32 nr = v->nr < LW_MAX_STACK_DEPTH ? v->nr : LW_MAX_STACK_DEPTH;
	bool same;

	if (n < 0) {
		u->unverifiable++;
		return;
	}
	if (n > 0 && pcs[n - 1] == ORACLE_CUT) {
		/* deeper than the copy: libdw's frames are a prefix, and only
		 * a prefix that differs says something */
		n--;
		if ((__u32)n <= nr && !memcmp(pcs, v->ips, n * sizeof(pcs[0]))) {
			u->unverifiable++;
			return;
		}
	}
	u->verified++;
	same = (__u32)n == nr && !memcmp(pcs, v->ips, nr * sizeof(pcs[0]));
	if (same) {
		u->agreed++;
		return;
	}
	if (u->verbose && u->verbose_mismatches++ < 5) {
		char a[64 * 19] = "", b[64 * 19] = "";
		size_t la = 0, lb = 0;

		for (__u32 i = 0; i < nr && i < 64; i++)
			la += snprintf(a + la, sizeof(a) - la, " %llx", (unsigned long long)v->ips[i]);
		for (int i = 0; i < n && i < 64; i++)
			lb += snprintf(b + lb, sizeof(b) - lb, " %llx", (unsigned long long)pcs[i]);
		lw_say("stack of PID %u differs from libdw's:\n  bpf  :%s\n  libdw:%s", v->tgid, a, b);
	}
}

void unwinder__stats(struct unwinder *u, struct lw_site *const *sites, int nr,
		     struct report_unwind *ru)
{
	tracer__consume_verify(u->tracer, verify_one, u);
	ru->mode = unwind_mode_name(u->mode);
	ru->modules = unwinder__modules(u, &ru->nr_modules);
	ru->table_bytes = unwinder__table_bytes(u);
	ru->stacks = ru->complete = 0;
	for (int i = 0; i < nr; i++) {
		const struct lw_site *s = sites[i];

		ru->stacks++;
		ru->complete += s->nr_frames && !s->truncated;
	}
	ru->stack_quality = ru->stacks ? (double)ru->complete / ru->stacks : -1;
	ru->verified = u->verified;
	ru->agreed = u->agreed;
	ru->unverifiable = u->unverifiable;
	ru->dropped = tracer__verify_dropped(u->tracer);
	ru->verifying = u->verifying;
}
