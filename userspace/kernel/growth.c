// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "common/hashmap.h"
#include "common/proc.h"
#include "kernel/growth.h"
#include "kernel/tracer_internal.h"

/* /proc/kpageflags: a page frame that is part of a transparent huge page */
#define KPF_THP (1ULL << 22)

void growth__count(const uint64_t *words, unsigned int pages, struct growth_pages *out)
{
	*out = (struct growth_pages){};
	for (unsigned int i = 0; i < pages; i++) {
		if (words[i] & PM_FILE)
			continue;
		out->resident += !!(words[i] & PM_PRESENT);
		out->swapped += !!(words[i] & PM_SWAPPED);
	}
}

void growth__tally(uint64_t addr, const struct growth_pages *pages, uint64_t *huge_block,
		   struct growth_tally *out)
{
	out->empty = !pages->resident && !pages->swapped;
	out->bytes = (uint64_t)pages->resident * GROWTH_PAGE;
	if (pages->huge && pages->resident) {
		uint64_t block = addr & ~(uint64_t)(GROWTH_HUGE - 1);

		/* one fault made the whole huge page resident: its first
		 * toucher holds all of it, once */
		out->bytes = *huge_block == block + 1 ? 0 : GROWTH_HUGE;
		*huge_block = block + 1;
	}
}

static int by_process_and_address(const void *a, const void *b)
{
	const struct growth_granule *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* pagemap words read at once: 4 MiB of address space */
#define PAGEMAP_WORDS 1024

size_t growth__plan(struct growth_granule *v, size_t n, const struct growth_granule *last,
		    size_t nr_last, uint64_t since_ns, unsigned int round,
		    bool (*released)(uint32_t tgid, uint64_t since_ns, void *ctx), void *ctx)
{
	size_t j = 0, nr_read = 0;
	uint32_t asked = 0;
	bool gave_back = false;

	for (size_t i = 0; i < n; i++) {
		struct growth_granule *g = &v[i];
		int c = 1;

		while (j < nr_last && (c = by_process_and_address(&last[j], g)) < 0)
			j++;
		g->read = true;
		/* refreshed by 4 MiB of address space, as they are read */
		if (c == 0 && last[j].time_ns == g->time_ns && last[j].stack_id == g->stack_id &&
		    g->touched_ns < since_ns &&
		    ((g->addr / (PAGEMAP_WORDS * GROWTH_PAGE) + round) % GROWTH_REFRESH_ROUNDS)) {
			if (last[j].pages.huge && asked != g->tgid + 1) {
				asked = g->tgid + 1;
				gave_back = released(g->tgid, since_ns, ctx);
			}
			g->read = last[j].pages.huge && gave_back;
			if (!g->read)
				g->pages = last[j].pages;
		}
		nr_read += g->read;
	}
	return nr_read;
}

void growth__add(struct lw_stats *s, uint64_t bytes, uint64_t time_ns, uint64_t epoch_ns)
{
	uint64_t epoch = time_ns / (epoch_ns ? epoch_ns : 1);
	unsigned int i = epoch % LW_AGE_SLOTS;

	s->outstanding_bytes += bytes;
	s->total_allocs++;
	if (!bytes)
		return;
	if (s->age_epoch[i] == epoch) {
		s->age_bytes[i] += bytes;
	} else if (s->age_epoch[i] > epoch) {
		s->older_bytes += bytes; /* LW_AGE_SLOTS epochs older than the slot's */
	} else {
		s->older_bytes += s->age_bytes[i];
		s->age_epoch[i] = epoch;
		s->age_bytes[i] = bytes;
	}
}

/* The sums of one process, kept so that they outlive it: a process that
 * exited keeps its last figures, as in the per-call mode. A round is summed
 * into the spare arrays and swapped in when it holds. */
struct growth_proc {
	uint32_t tgid;
	bool seen;            /* its pagemap was read this round */
	size_t nr, cap;
	struct lw_stats_key *keys;
	struct lw_stats *vals;
	size_t old_nr, old_cap;
	struct lw_stats_key *old_keys;
	struct lw_stats *old_vals;
};

/* Starts a round: the last one's sums are kept aside. */
static void begin_sums(struct growth_proc *p)
{
	size_t nr = p->nr, cap = p->cap;
	struct lw_stats_key *k = p->keys;
	struct lw_stats *v = p->vals;

	p->nr = p->old_nr;
	p->cap = p->old_cap;
	p->keys = p->old_keys;
	p->vals = p->old_vals;
	p->old_nr = nr;
	p->old_cap = cap;
	p->old_keys = k;
	p->old_vals = v;
	p->nr = 0;
}

/* Drops the round: the last one's sums stand. */
static void undo_sums(struct growth_proc *p)
{
	size_t nr = p->old_nr;

	begin_sums(p);
	p->nr = nr;
}

struct growth_state {
	struct hashmap *procs;   /* tgid -> struct growth_proc */
	struct hashmap *sums;    /* (tgid, stack) -> index + 1 into its proc's arrays */
	int kpageflags;          /* -1: huge pages not told apart (counted by page) */
	/* the last round's granules, sorted, with their pages as read: what
	 * has not changed since is not read again */
	struct growth_granule *last;
	size_t nr_last;
	unsigned int round;
	uint64_t begun_ns[2];    /* when the last round and the one before began */
};

static struct growth_state *state_of(struct tracer *t)
{
	struct growth_state *g = t->growth;

	if (g)
		return g;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->procs = hashmap__new();
	g->sums = hashmap__new();
	g->kpageflags = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (!g->procs || !g->sums) {
		hashmap__free(g->procs);
		hashmap__free(g->sums);
		free(g);
		return NULL;
	}
	t->growth = g;
	return g;
}

void growth__free(struct tracer *t)
{
	struct growth_state *g = t->growth;
	struct growth_proc *p;
	size_t pos = 0;

	if (!g)
		return;
	while ((p = hashmap__next(g->procs, &pos, NULL))) {
		free(p->keys);
		free(p->vals);
		free(p->old_keys);
		free(p->old_vals);
		free(p);
	}
	hashmap__free(g->procs);
	hashmap__free(g->sums);
	free(g->last);
	if (g->kpageflags >= 0)
		close(g->kpageflags);
	free(g);
	t->growth = NULL;
}

static struct lw_stats *sum_of(struct growth_state *g, struct growth_proc *p, uint64_t stack_id)
{
	struct lw_key key = { (uint64_t)p->tgid << 32 | 1, stack_id };
	uintptr_t at = (uintptr_t)hashmap__get(g->sums, key);

	if (at && at <= p->nr && p->keys[at - 1].stack_id == stack_id)
		return &p->vals[at - 1];
	if (p->nr == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct lw_stats_key *k = realloc(p->keys, cap * sizeof(*k));
		struct lw_stats *v;

		if (!k)
			return NULL;
		p->keys = k;
		v = realloc(p->vals, cap * sizeof(*v));
		if (!v)
			return NULL;
		p->vals = v;
		p->cap = cap;
	}
	p->keys[p->nr] = (struct lw_stats_key){ .tgid = p->tgid, .category = LW_CAT_RESIDENT,
					       .stack_id = stack_id };
	memset(&p->vals[p->nr], 0, sizeof(p->vals[0]));
	p->nr++;
	if (hashmap__set(g->sums, key, (void *)(uintptr_t)p->nr))
		return NULL;
	return &p->vals[p->nr - 1];
}

/* Whether the granule at addr is part of a transparent huge page: a huge
 * page's frames are all resident, consecutive and aligned, so only such a
 * granule costs a read of /proc/kpageflags, and only the first of its 2 MiB
 * met: seen notes that block and its first frame. */
static bool page_is_huge(struct growth_state *g, uint64_t addr, const uint64_t *words,
			 unsigned int pages, uint64_t seen[2])
{
	uint64_t flags, pfn = words[0] & PM_PFN_MASK;
	uint64_t block = addr & ~(uint64_t)(GROWTH_HUGE - 1);

	if (g->kpageflags < 0 || !(words[0] & PM_PRESENT) || !pfn)
		return false; /* (PFNs read as 0 without CAP_SYS_ADMIN) */
	/* a huge page's frames are as aligned as its address */
	if ((pfn - (addr - block) / GROWTH_PAGE) % (GROWTH_HUGE / GROWTH_PAGE))
		return false;
	for (unsigned int i = 1; i < pages; i++)
		if (!(words[i] & PM_PRESENT) || (words[i] & PM_PFN_MASK) != pfn + i)
			return false;
	if (seen[0] == block + 1 && seen[1] + (addr - block) / GROWTH_PAGE == pfn)
		return true; /* the rest of a huge page already met */
	if (pread(g->kpageflags, &flags, sizeof(flags), pfn * sizeof(flags)) != sizeof(flags) ||
	    !(flags & KPF_THP))
		return false;
	seen[0] = block + 1;
	seen[1] = pfn - (addr - block) / GROWTH_PAGE;
	return true;
}

#define BATCH 1024

/* Every granule the BPF side knows, read in batches, sorted by process and
 * address. NULL with *n 0 when there is none; NULL with *n 1 when out of
 * memory. */
static struct growth_granule *read_granules(struct tracer *t, size_t *n)
{
	static struct lw_alloc_key keys[BATCH];
	static struct lw_granule vals[BATCH];
	int fd = bpf_map__fd(t->skel->maps.granules);
	struct lw_alloc_key cursor; /* the kernel's; opaque, key-sized */
	struct growth_granule *v = NULL;
	size_t nr = 0, cap = 0;
	bool first = true;
	__u32 count;
	int err;

	*n = 0;
	do {
		count = BATCH;
		err = bpf_map_lookup_batch(fd, first ? NULL : &cursor, &cursor, keys, vals, &count,
					   NULL);
		if (err && errno != ENOENT)
			break;
		first = false;
		if (nr + count > cap) {
			size_t want = cap ? cap * 2 : BATCH;
			struct growth_granule *w;

			while (want < nr + count)
				want *= 2;
			w = realloc(v, want * sizeof(*w));
			if (!w) {
				free(v);
				*n = 1;
				return NULL;
			}
			v = w;
			cap = want;
		}
		for (__u32 i = 0; i < count; i++)
			v[nr++] = (struct growth_granule){ .tgid = keys[i].tgid, .addr = keys[i].addr,
							   .stack_id = vals[i].stack_id,
							   .time_ns = vals[i].time_ns,
							   .touched_ns = vals[i].touched_ns };
	} while (!err);
	if (nr)
		qsort(v, nr, sizeof(*v), by_process_and_address);
	*n = nr;
	return v;
}

static struct growth_proc *proc_of(struct growth_state *g, uint32_t tgid)
{
	struct lw_key key = { tgid, 0 };
	struct growth_proc *p = hashmap__get(g->procs, key);

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p || hashmap__set(g->procs, key, p)) {
		free(p);
		return NULL;
	}
	p->tgid = tgid;
	return p;
}

static void forget_granule(struct tracer *t, const struct growth_granule *gr)
{
	struct lw_alloc_key key = { .tgid = gr->tgid, .addr = gr->addr };

	bpf_map_delete_elem(bpf_map__fd(t->skel->maps.granules), &key);
}

/* Reads the pages of the granules of v[0..n) marked to be read, a run of
 * adjacent ones at once: heaps and big mappings are runs, and a read is a
 * system call and a page-table walk. False when the process has no memory
 * left to read (it is exiting, or a zombie). */
static bool read_pages(struct tracer *t, struct growth_state *g, int pagemap,
		       struct growth_granule *v, size_t n)
{
	static uint64_t words[PAGEMAP_WORDS];
	unsigned int pages = t->granule / GROWTH_PAGE;
	uint64_t seen[2] = { 0, 0 };
	bool first = true;

	if (!pages || pages > PAGEMAP_WORDS)
		return false;
	for (size_t i = 0, end; i < n; i = end) {
		size_t want;
		ssize_t got;

		if (!v[i].read) {
			end = i + 1;
			continue;
		}
		for (end = i + 1; end < n && v[end].read &&
		     (end - i + 1) * pages <= PAGEMAP_WORDS &&
		     v[end].addr == v[end - 1].addr + t->granule; end++)
			;
		want = (end - i) * pages * sizeof(words[0]);
		got = pread(pagemap, words, want, v[i].addr / GROWTH_PAGE * sizeof(words[0]));
		if (got <= 0 && first)
			return false; /* no address space any more */
		first = false;
		if (got < 0)
			got = 0;
		if ((size_t)got < want)
			memset((char *)words + got, 0, want - got);
		for (size_t j = i; j < end; j++) {
			const uint64_t *w = &words[(j - i) * pages];

			growth__count(w, pages, &v[j].pages);
			v[j].pages.huge = page_is_huge(g, v[j].addr, w, pages, seen);
		}
	}
	return true;
}

/* How old an empty granule must be to be forgotten: its fault is recorded
 * before it is handled, and a huge page's may take long (compaction). */
#define STALE_EPOCHS 10
#define STALE_MIN_NS 10000000000ULL

/*
 * One process's granules v[0..n), their pages read, summed per stack. A
 * granule read empty (its memory given back in a way not seen, or
 * reclaimed) long after its first touch is forgotten: its next toucher owns
 * it. (A young one may be empty only because its fault is still being
 * handled.)
 */
static void sum_process(struct tracer *t, struct growth_state *g, struct growth_proc *p,
			const struct growth_granule *v, size_t n, uint64_t now_ns)
{
	uint64_t huge_block = 0;
	uint64_t stale_ns = t->age_epoch_ns * STALE_EPOCHS > STALE_MIN_NS ?
			    t->age_epoch_ns * STALE_EPOCHS : STALE_MIN_NS;

	for (size_t j = 0; j < n; j++) {
		struct growth_tally tally;
		struct lw_stats *s;

		growth__tally(v[j].addr, &v[j].pages, &huge_block, &tally);
		/* (a granule first touched while this read began is younger
		 * than now_ns) */
		if (tally.empty && v[j].read && v[j].time_ns + stale_ns < now_ns) {
			forget_granule(t, &v[j]);
			continue;
		}
		s = sum_of(g, p, v[j].stack_id);
		if (s)
			growth__add(s, tally.bytes, v[j].time_ns, t->age_epoch_ns);
	}
}

/* Whether tgid gave memory back since since_ns (growth__plan's question). */
static bool released_since(uint32_t tgid, uint64_t since_ns, void *ctx)
{
	struct lw_proc_counters c;

	return tracer__read_proc(ctx, tgid, &c) || c.released_ns >= since_ns;
}

int growth__read(struct tracer *t, tracer_stats_fn fn, void *ctx)
{
	struct growth_state *g = state_of(t);
	struct growth_granule *v;
	struct growth_proc *p;
	struct timespec ts;
	uint64_t now_ns;
	size_t n = 0, pos = 0;

	if (!g)
		return -ENOMEM;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ns = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	v = read_granules(t, &n);
	if (!v && n)
		return -ENOMEM;
	if (!v)
		n = 0;
	/* a granule touched since the round before last began may have been
	 * read while its fault was still being handled: it is read again */
	growth__plan(v, n, g->last, g->nr_last, g->begun_ns[1], g->round++, released_since, t);
	g->begun_ns[1] = g->begun_ns[0];
	g->begun_ns[0] = now_ns;
	while ((p = hashmap__next(g->procs, &pos, NULL)))
		p->seen = false;
	for (size_t i = 0, end; i < n; i = end) {
		char path[64];
		int fd;

		for (end = i + 1; end < n && v[end].tgid == v[i].tgid; end++)
			;
		p = proc_of(g, v[i].tgid);
		if (!p)
			continue;
		snprintf(path, sizeof(path), "/proc/%u/pagemap", v[i].tgid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		/* a process exiting gives its memory back as it is read: what it
		 * held stays as last read */
		begin_sums(p);
		if (fd >= 0 && !proc__exiting(p->tgid) && read_pages(t, g, fd, &v[i], end - i) &&
		    !proc__exiting(p->tgid)) {
			sum_process(t, g, p, &v[i], end - i, now_ns);
			p->seen = true;
		} else {
			undo_sums(p);
			/* gone: its last figures stay, its granules go */
			for (size_t j = i; j < end; j++)
				forget_granule(t, &v[j]);
		}
		if (fd >= 0)
			close(fd);
	}
	free(g->last);
	g->last = v;
	g->nr_last = n;
	/* a live process with no granule left holds nothing */
	pos = 0;
	while ((p = hashmap__next(g->procs, &pos, NULL)))
		if (!p->seen && !proc__exiting(p->tgid))
			p->nr = 0;
	/* each process's sums, the gone ones' as they were last read */
	pos = 0;
	while ((p = hashmap__next(g->procs, &pos, NULL)))
		for (size_t i = 0; i < p->nr; i++)
			fn(&p->keys[i], &p->vals[i], ctx);
	return 0;
}

void growth__forget(struct tracer *t, uint32_t tgid)
{
	struct growth_state *g = t->growth;
	struct lw_key key = { tgid, 0 };
	struct growth_proc *p = g ? hashmap__get(g->procs, key) : NULL;

	if (p)
		p->nr = 0;
}
