/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Anonymous mappings the program makes itself, keyed by (tgid, start):
 * recorded at mmap's return, cut by munmap, mremap and mmap over them.
 * Included by leakwatch.bpf.c.
 */
#ifndef LW_REGIONS_BPF_H
#define LW_REGIONS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lw_alloc_key);
	__type(value, struct lw_region);
	__uint(max_entries, 1 << 16);
} mmaps SEC(".maps");

/*
 * Anonymous mappings. munmap (and mremap, and mmap over existing pages)
 * may cover part of a mapping, several mappings, or none that is tracked.
 * Mappings are few, so the ones a range touches are found by a scan of the
 * process's entries, skipped when it has none.
 */
#define PAGE_SIZE 4096ULL
#define PAGE_UP(x) (((x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
#define UNMAP_BATCH 8
#define UNMAP_PASSES 4

struct unmap_scan {
	__u32 tgid;
	__u32 n;
	__u64 start, end;
	__u64 starts[UNMAP_BATCH];
};

static long collect_region(struct bpf_map *map, struct lw_alloc_key *key,
			   struct lw_region *r, struct unmap_scan *scan)
{
	if (key->tgid != scan->tgid || key->addr >= scan->end || key->addr + r->len <= scan->start)
		return 0;
	if (scan->n >= UNMAP_BATCH)
		return 1;
	scan->starts[scan->n & (UNMAP_BATCH - 1)] = key->addr;
	scan->n++;
	return 0;
}

/* Asked-for bytes of a mapping [s, s + size) that lie in [a, b). */
static __always_inline __u64 asked_in(__u64 s, __u64 size, __u64 a, __u64 b)
{
	__u64 lo = a > s ? a : s, hi = b < s + size ? b : s + size;

	return hi > lo ? hi - lo : 0;
}

/* Cuts [start, end) out of one tracked mapping: what is left before and
 * after stays, as one or two mappings. A global function, checked once
 * rather than at each step of unmap_range's loops. */
__noinline int cut_region(__u32 tgid, __u64 s, __u64 start, __u64 end)
{
	struct lw_proc_counters *c = bpf_map_lookup_elem(&procs, &tgid);
	struct lw_alloc_key key = { .tgid = tgid, .addr = s };
	struct lw_region r, *found;
	__s64 pieces = 0;
	__u64 e, size, kept = 0;

	found = bpf_map_lookup_elem(&mmaps, &key);
	if (!found)
		return 0;
	/* r becomes each piece in turn: one copy on the stack, not three */
	r = *found;
	size = r.size;
	e = s + r.len;
	if (s < start) {
		r.len = start - s;
		r.size = asked_in(s, size, s, start);
		kept += r.size;
		bpf_map_update_elem(&mmaps, &key, &r, BPF_ANY);
		pieces++;
	} else {
		bpf_map_delete_elem(&mmaps, &key);
	}
	if (end < e) {
		r.len = e - end;
		r.size = asked_in(s, size, end, e);
		key.addr = end;
		if (bpf_map_update_elem(&mmaps, &key, &r, BPF_NOEXIST) == 0) {
			kept += r.size;
			pieces++;
		}
	}
	account(tgid, r.category, r.stack_id, -(__s64)(size - kept), (pieces - 1) * LW_ONE, !pieces,
		r.time_ns);
	if (c && pieces != 1)
		__sync_fetch_and_add(&c->live_regions, pieces - 1);
	return 0;
}

/* Forgets the tracked anonymous memory of [start, start + len); returns
 * whether there was any. A global function, so the verifier checks it once,
 * on its own, rather than at each of its four call sites: inlined, its
 * loops made alloc_exit take 0.8 s to load. */
__noinline int unmap_range(__u32 tgid, __u64 start, __u64 len)
{
	struct unmap_scan scan = { .tgid = tgid, .start = start, .end = PAGE_UP(start + len) };
	struct lw_proc_counters *c = bpf_map_lookup_elem(&procs, &tgid);
	int any = 0;

	if (!c || c->live_regions <= 0 || !len)
		return 0;
	for (int pass = 0; pass < UNMAP_PASSES; pass++) {
		scan.n = 0;
		bpf_for_each_map_elem(&mmaps, collect_region, &scan, 0);
		for (__u32 i = 0; i < UNMAP_BATCH && i < scan.n; i++)
			cut_region(tgid, scan.starts[i], scan.start, scan.end);
		any |= scan.n > 0;
		if (scan.n < UNMAP_BATCH)
			break;
	}
	return any;
}

static __always_inline void record_region(__u32 tgid, __u64 start, __u64 size, __u64 stack_id,
					  __u32 category, struct lw_proc_counters *c)
{
	struct lw_alloc_key key = { .tgid = tgid, .addr = start };
	struct lw_region r = { .size = size, .len = PAGE_UP(size), .stack_id = stack_id,
			       .category = category };
	struct lw_stats *s = stats_of(tgid, category, stack_id);

	if (!s) {
		count_lost(c, LW_LOST_STATS_MAP_FULL);
		return;
	}
	r.time_ns = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&mmaps, &key, &r, BPF_ANY)) {
		count_lost(c, LW_LOST_ALLOCS_MAP_FULL);
		return;
	}
	if (c)
		__sync_fetch_and_add(&c->live_regions, 1);
	__sync_fetch_and_add(&s->outstanding_bytes, (__s64)size);
	age(s, r.time_ns, size);
	__sync_fetch_and_add(&s->outstanding_allocs, LW_ONE);
	__sync_fetch_and_add(&s->total_allocs, 1);
}

#endif /* LW_REGIONS_BPF_H */
