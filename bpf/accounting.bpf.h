/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Accounting: every live allocation keyed by (tgid, address), and the
 * outstanding bytes, blocks and ages of each (tgid, category, stack).
 * Included by leakwatch.bpf.c.
 */
#ifndef LW_ACCOUNTING_BPF_H
#define LW_ACCOUNTING_BPF_H

/* Sizes are set by the loader before load; memory is taken as entries are. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lw_alloc_key);
	__type(value, struct lw_alloc);
	__uint(max_entries, 1 << 20);
} allocs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct lw_stack);
	__uint(max_entries, 1 << 15);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lw_stats_key);
	__type(value, struct lw_stats);
	__uint(max_entries, 1 << 16);
} stats SEC(".maps");

/* A new stack's totals start here (too big for the BPF stack; never written). */
static struct lw_stats zero_stats;

static __always_inline struct lw_stats *stats_of(__u32 tgid, __u32 category, __u64 stack_id)
{
	struct lw_stats_key key = { .tgid = tgid, .category = category, .stack_id = stack_id };
	struct lw_stats *s;

	s = bpf_map_lookup_elem(&stats, &key);
	if (s)
		return s;
	bpf_map_update_elem(&stats, &key, &zero_stats, BPF_NOEXIST);
	return bpf_map_lookup_elem(&stats, &key);
}

/* What a recorded block of size bytes stands for (see sample_every). */
static __always_inline __s64 weight_bytes(__u64 size)
{
	if (sample_every > 1)
		return size * sample_every;
	if (sample_bytes)
		return size > sample_bytes ? size : sample_bytes;
	return size;
}

static __always_inline __s64 weight_allocs(__u64 size)
{
	if (sample_every > 1)
		return LW_ONE * sample_every;
	if (sample_bytes && size < sample_bytes && size)
		return LW_ONE * sample_bytes / size;
	return LW_ONE;
}

/* Whether to record an allocation of size bytes (see sample_every). */
static __always_inline bool sample(struct inflight *st, __u64 size)
{
	if (sample_every > 1) {
		if (++st->countdown < sample_every)
			return false;
		st->countdown = 0;
		return true;
	}
	if (sample_bytes && size < sample_bytes)
		return ((__u64)bpf_get_prandom_u32() * sample_bytes >> 32) < size;
	return true;
}

/* Adds bytes allocated at time_ns to the stack's age slots (leakwatch.h).
 * For a release (bytes < 0), the slot still holds that epoch or the bytes
 * have moved to the older ones. */
static __always_inline void age(struct lw_stats *s, __u64 time_ns, __s64 bytes)
{
	__u64 epoch = time_ns / age_epoch_ns, held;
	__u32 i = epoch % LW_AGE_SLOTS;

	held = s->age_epoch[i];
	if (held == epoch) {
		__sync_fetch_and_add(&s->age_bytes[i], bytes);
		return;
	}
	if (bytes < 0 || held > epoch) {
		/* allocated before the epoch the slot holds now */
		__sync_fetch_and_add(&s->older_bytes, bytes);
		return;
	}
	/* a new epoch takes the slot: whoever wins the swap moves the old
	 * epoch's bytes along (a racing add may land a little early there) */
	if (__sync_val_compare_and_swap(&s->age_epoch[i], held, epoch) == held)
		__sync_fetch_and_add(&s->older_bytes, __sync_lock_test_and_set(&s->age_bytes[i], 0));
	__sync_fetch_and_add(&s->age_bytes[i], bytes);
}

/* Moves a stack's outstanding totals: bytes, live blocks, and the frees
 * that ended blocks. */
static __always_inline void account(__u32 tgid, __u32 category, __u64 stack_id,
				    __s64 bytes, __s64 blocks, __u64 frees, __u64 time_ns)
{
	struct lw_stats *s = stats_of(tgid, category, stack_id);

	if (!s)
		return;
	__sync_fetch_and_add(&s->outstanding_bytes, bytes);
	age(s, time_ns, bytes);
	if (blocks)
		__sync_fetch_and_add(&s->outstanding_allocs, blocks);
	if (frees)
		__sync_fetch_and_add(&s->total_frees, frees);
}

/* Take a live allocation off its stack's outstanding totals. */
static __always_inline void release(__u32 tgid, const struct lw_alloc *rec)
{
	account(tgid, rec->category, rec->stack_id, -weight_bytes(rec->size),
		-weight_allocs(rec->size), 1, rec->time_ns);
}

/* Remove addr from allocs, copying its record out. Removal happens at the
 * entry of free/realloc, before the allocator can hand the address to
 * another thread, so a racing allocation of the same address is never
 * deleted by mistake. */
static __always_inline bool take(__u32 tgid, __u64 addr, struct lw_alloc *out)
{
	struct lw_alloc_key key = { .tgid = tgid, .addr = addr };
	struct lw_alloc *rec;

	rec = bpf_map_lookup_elem(&allocs, &key);
	if (!rec)
		return false;
	*out = *rec;
	/* a concurrent free of the same address (a double free) loses here */
	return bpf_map_delete_elem(&allocs, &key) == 0;
}

/* Records the block the thread's call in flight returned at addr. A global
 * function: checked once, not at each of alloc_exit's paths. */
__noinline int record(__u32 tgid, __u64 addr)
{
	struct inflight *st = inflight_get(0);
	struct lw_alloc_key key = { .tgid = tgid, .addr = addr };
	struct lw_proc_counters *c = bpf_map_lookup_elem(&procs, &tgid);
	struct lw_alloc rec = {}, *stale;
	struct lw_stats *s;
	__u64 size;
	int err; /* an int: see map_err() */

	if (!st)
		return 0;
	size = st->size;
	rec.size = size;
	rec.stack_id = st->stack_id;
	rec.category = st->category;
	s = stats_of(tgid, rec.category, rec.stack_id);
	if (!s) {
		count_lost(c, LW_LOST_STATS_MAP_FULL);
		return 0;
	}
	rec.time_ns = bpf_ktime_get_ns();
	err = map_err(bpf_map_update_elem(&allocs, &key, &rec, BPF_NOEXIST));
	if (err == -EEXIST) {
		/* The address was handed out again, so its free went unseen
		 * (e.g. through a path not probed): retire the old record. */
		stale = bpf_map_lookup_elem(&allocs, &key);
		if (stale) {
			struct lw_alloc old = *stale;

			release(tgid, &old);
		}
		err = map_err(bpf_map_update_elem(&allocs, &key, &rec, BPF_ANY));
	}
	if (err) {
		count_lost(c, LW_LOST_ALLOCS_MAP_FULL);
		return 0;
	}
	__sync_fetch_and_add(&s->outstanding_bytes, weight_bytes(size));
	age(s, rec.time_ns, weight_bytes(size));
	__sync_fetch_and_add(&s->outstanding_allocs, weight_allocs(size));
	__sync_fetch_and_add(&s->total_allocs, 1);
	return 0;
}

#endif /* LW_ACCOUNTING_BPF_H */
