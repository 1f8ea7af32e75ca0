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

void growth__tally(uint64_t addr, const uint64_t *words, unsigned int pages, bool huge,
		   uint64_t *huge_block, struct growth_tally *out)
{
	unsigned int resident = 0, swapped = 0;

	for (unsigned int i = 0; i < pages; i++) {
		if (words[i] & PM_FILE)
			continue;
		resident += !!(words[i] & PM_PRESENT);
		swapped += !!(words[i] & PM_SWAPPED);
	}
	out->empty = !resident && !swapped;
	out->bytes = (uint64_t)resident * GROWTH_PAGE;
	if (huge && resident) {
		uint64_t block = addr & ~(uint64_t)(GROWTH_HUGE - 1);

		/* one fault made the whole huge page resident: its first
		 * toucher holds all of it, once */
		out->bytes = *huge_block == block + 1 ? 0 : GROWTH_HUGE;
		*huge_block = block + 1;
	}
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

/* Whether the granule's pages are part of a transparent huge page: a huge
 * page's frames are all resident and consecutive, so only such a granule
 * costs a read of /proc/kpageflags. */
static bool page_is_huge(struct growth_state *g, const uint64_t *words, unsigned int pages)
{
	uint64_t flags, pfn = words[0] & PM_PFN_MASK;

	if (g->kpageflags < 0 || !(words[0] & PM_PRESENT) || !pfn)
		return false; /* (PFNs read as 0 without CAP_SYS_ADMIN) */
	for (unsigned int i = 1; i < pages; i++)
		if (!(words[i] & PM_PRESENT) || (words[i] & PM_PFN_MASK) != pfn + i)
			return false;
	return pread(g->kpageflags, &flags, sizeof(flags), pfn * sizeof(flags)) == sizeof(flags) &&
	       (flags & KPF_THP);
}

static int by_process_and_address(const void *a, const void *b)
{
	const struct growth_granule *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
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
			v[nr++] = (struct growth_granule){ keys[i].tgid, keys[i].addr, vals[i].stack_id,
							   vals[i].time_ns };
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

/* pagemap words read at once: 4 MiB of address space */
#define PAGEMAP_WORDS 1024

/* How old an empty granule must be to be forgotten: its fault is recorded
 * before it is handled, and a huge page's may take long (compaction). */
#define STALE_EPOCHS 10
#define STALE_MIN_NS 10000000000ULL

/*
 * One process's granules v[0..n) against its pagemap. A granule found
 * empty (its memory given back in a way not seen, or reclaimed) long after
 * its first touch is forgotten: its next toucher owns it. (A young one may
 * be empty only because its fault is still being handled.)
 * False when the process has no memory left to read (it is exiting, or a
 * zombie): its last sums stand.
 */
static bool tally_process(struct tracer *t, struct growth_state *g, struct growth_proc *p,
			  int pagemap, const struct growth_granule *v, size_t n, uint64_t now_ns)
{
	/* a run of adjacent granules is read at once: heaps and big mappings
	 * are runs, and a read is a system call and a page-table walk */
	static uint64_t words[PAGEMAP_WORDS];
	unsigned int pages = t->granule / GROWTH_PAGE;
	uint64_t huge_block = 0;
	uint64_t stale_ns = t->age_epoch_ns * STALE_EPOCHS > STALE_MIN_NS ?
			    t->age_epoch_ns * STALE_EPOCHS : STALE_MIN_NS;

	if (!pages || pages > PAGEMAP_WORDS)
		return false;
	for (size_t i = 0, end; i < n; i = end) {
		size_t want;
		ssize_t got;

		for (end = i + 1; end < n && (end - i + 1) * pages <= PAGEMAP_WORDS &&
		     v[end].addr == v[end - 1].addr + t->granule; end++)
			;
		want = (end - i) * pages * sizeof(words[0]);
		got = pread(pagemap, words, want, v[i].addr / GROWTH_PAGE * sizeof(words[0]));
		if (got <= 0 && i == 0)
			return false; /* no address space any more */
		if (got < 0)
			got = 0;
		if ((size_t)got < want)
			memset((char *)words + got, 0, want - got);
		for (size_t j = i; j < end; j++) {
			const uint64_t *w = &words[(j - i) * pages];
			struct growth_tally tally;
			struct lw_stats *s;

			growth__tally(v[j].addr, w, pages, page_is_huge(g, w, pages), &huge_block,
				      &tally);
			/* (a granule first touched while this read began is
			 * younger than now_ns) */
			if (tally.empty && v[j].time_ns + stale_ns < now_ns) {
				forget_granule(t, &v[j]);
				continue;
			}
			s = sum_of(g, p, v[j].stack_id);
			if (s)
				growth__add(s, tally.bytes, v[j].time_ns, t->age_epoch_ns);
		}
	}
	return true;
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
		if (fd >= 0 && !proc__exiting(p->tgid) &&
		    tally_process(t, g, p, fd, &v[i], end - i, now_ns) && !proc__exiting(p->tgid)) {
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
	free(v);
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
