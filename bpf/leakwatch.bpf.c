// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * leakwatch's kernel side: uprobes on the target's allocator keep, per
 * process, every live allocation and the outstanding bytes of each call
 * stack. Nothing is sent per event; the loader reads the aggregates.
 *
 * One entry program and one return program serve every allocator function;
 * the attach cookie says which function fired (enum lw_func).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "leakwatch.h"

#ifndef EEXIST
#define EEXIST 17
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Sampling, set by the loader before load (both 0: every allocation).
 * Every N: one heap allocation in N per thread is recorded, standing for N.
 * Bytes B: an allocation of s bytes is recorded with probability
 * min(1, s / B) and stands for 1 / that: max(s, B) bytes and max(1, B / s)
 * allocations, an unbiased estimate; anything of B bytes or more is always
 * seen. Either way the probes still trap on every call: what sampling saves
 * is the stack walk and the map updates. Anonymous mmaps are always
 * recorded.
 */
const volatile __u32 sample_every = 0;
/* length of an age epoch (leakwatch.h); the loader sets the report interval */
const volatile __u64 age_epoch_ns = 1000000000;
const volatile __u64 sample_bytes = 0;

/* Per thread: the outermost allocator call in flight. glibc's allocator
 * functions call each other (realloc(NULL, n) runs malloc, realloc(p, 0)
 * runs free); only the call the program made is counted. A call is nested
 * when its stack pointer lies below the outermost call's: this needs no
 * depth counter that a lost return could leave wrong. */
struct inflight {
	__u32 active;
	__u32 func;
	__u64 entry_sp;    /* sp at the outermost entry (points at its return address) */
	__u64 done_sp;     /* entry_sp of the last call completed */
	__u64 size;        /* bytes asked for */
	__u64 old_addr;    /* realloc: the block resized; mremap: the old start */
	__u64 old_len;     /* mremap: the old length */
	__u64 out_ptr;     /* posix_memalign: where the new pointer is stored */
	__u64 flags;       /* mmap: its flags */
	__u64 last_free;   /* operator delete: the block it freed, for the free it runs */
	/* the last free entered, which has no return probe: its sp and the
	 * return address there, to tell the allocator's own mmaps inside it
	 * (glibc makes a thread's arena in its first free) from the program's */
	__u64 free_sp, free_ret;
	__u64 watch;       /* this mmap may be inside that free: free_sp, else 0 */
	__u32 watched;     /* its stack walk read a return address at watch */
	__u32 pad2;
	/* LW_FUNC_NEW pending: the code of the operator new in flight, and of
	 * the innermost new it called (nothrow new[] calls new[], which jumps
	 * to new); an allocation called from either is taken over */
	__u64 new_start, new_end;
	__u64 inner_start, inner_end;
	__u64 stack_id;
	__u32 old_found;   /* realloc: old_rec was removed from allocs at entry */
	__u32 sampled;     /* the new block is to be recorded */
	__u32 countdown;   /* sample_every: calls until the next recorded one */
	__u32 verify_countdown; /* verify_every: recorded calls until the next verified */
	__u32 category;    /* LW_CAT_MALLOC; mmap: LW_CAT_MMAP, or LW_CAT_PYTHON for a
			    * pymalloc arena; a pymalloc function: LW_CAT_PYTHON */
	__u32 pad;
	struct lw_alloc old_rec;
	struct lw_stack stack; /* scratch for the stack walk: per thread, so no
				* other CPU or preempting task can clobber it */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} inflight SEC(".maps");

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
	__type(key, struct lw_alloc_key);
	__type(value, struct lw_region);
	__uint(max_entries, 1 << 16);
} mmaps SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct lw_proc_counters);
	__uint(max_entries, 4096);
} procs SEC(".maps");

static __always_inline struct lw_proc_counters *proc_counters(__u32 tgid)
{
	struct lw_proc_counters zero = {}, *c;

	c = bpf_map_lookup_elem(&procs, &tgid);
	if (c)
		return c;
	bpf_map_update_elem(&procs, &tgid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&procs, &tgid);
}

static __always_inline void count_lost(struct lw_proc_counters *c, int why)
{
	if (c && why >= 0 && why < LW_LOST_NR)
		__sync_fetch_and_add(&c->lost[why], 1);
}

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

static __always_inline void record(__u32 tgid, __u64 addr, __u64 size, __u64 stack_id,
				   __u32 category, struct lw_proc_counters *c)
{
	struct lw_alloc_key key = { .tgid = tgid, .addr = addr };
	struct lw_alloc rec = { .size = size, .stack_id = stack_id, .category = category };
	struct lw_alloc *stale;
	struct lw_stats *s;
	long err;

	s = stats_of(tgid, category, stack_id);
	if (!s) {
		count_lost(c, LW_LOST_STATS_MAP_FULL);
		return;
	}
	rec.time_ns = bpf_ktime_get_ns();
	err = bpf_map_update_elem(&allocs, &key, &rec, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* The address was handed out again, so its free went unseen
		 * (e.g. through a path not probed): retire the old record. */
		stale = bpf_map_lookup_elem(&allocs, &key);
		if (stale) {
			struct lw_alloc old = *stale;

			release(tgid, &old);
		}
		err = bpf_map_update_elem(&allocs, &key, &rec, BPF_ANY);
	}
	if (err) {
		count_lost(c, LW_LOST_ALLOCS_MAP_FULL);
		return;
	}
	__sync_fetch_and_add(&s->outstanding_bytes, weight_bytes(size));
	age(s, rec.time_ns, weight_bytes(size));
	__sync_fetch_and_add(&s->outstanding_allocs, weight_allocs(size));
	__sync_fetch_and_add(&s->total_allocs, 1);
}

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
 * after stays, as one or two mappings. */
static __always_inline void cut_region(__u32 tgid, __u64 s, __u64 start, __u64 end,
				       struct lw_proc_counters *c)
{
	struct lw_alloc_key key = { .tgid = tgid, .addr = s };
	struct lw_region r, piece, *found;
	__s64 pieces = 0;
	__u64 e, kept = 0;

	found = bpf_map_lookup_elem(&mmaps, &key);
	if (!found)
		return;
	r = *found;
	e = s + r.len;
	if (s < start) {
		piece = r;
		piece.len = start - s;
		piece.size = asked_in(s, r.size, s, start);
		kept += piece.size;
		bpf_map_update_elem(&mmaps, &key, &piece, BPF_ANY);
		pieces++;
	} else {
		bpf_map_delete_elem(&mmaps, &key);
	}
	if (end < e) {
		piece = r;
		piece.len = e - end;
		piece.size = asked_in(s, r.size, end, e);
		key.addr = end;
		if (bpf_map_update_elem(&mmaps, &key, &piece, BPF_NOEXIST) == 0) {
			kept += piece.size;
			pieces++;
		}
	}
	account(tgid, r.category, r.stack_id, -(__s64)(r.size - kept), (pieces - 1) * LW_ONE, !pieces,
		r.time_ns);
	if (c && pieces != 1)
		__sync_fetch_and_add(&c->live_regions, pieces - 1);
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
			cut_region(tgid, scan.starts[i], scan.start, scan.end, c);
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

/* CFI unwinding (leakwatch.h): set by the loader with --unwind cfi or auto. */
const volatile __u32 unwind_cfi = 0;
/* --verify-stacks N (leakwatch.h, struct lw_verify); 0: off */
const volatile __u32 verify_every = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* the loader sizes it when verifying */
} verify_events SEC(".maps");
/* --verify-stacks records that found verify_events full */
__u64 verify_dropped;

/* Every module's rows, each module's table a slice the loader placed. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lw_cfi_row);
	__uint(max_entries, 1);
} cfi_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct lw_cfi_proc);
	__uint(max_entries, 4096);
} unwind_maps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

/* Processes whose exec (and, with LW_FOLLOW_FORKS, whose children) the
 * loader follows, by tgid: flags from leakwatch.h. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 16384);
} exec_watch SEC(".maps");

/* A process's index before the loader has made one (never written). */
static struct lw_cfi_proc empty_proc;

/*
 * Direct-mapped by call address: the mapping and row a walk last found for
 * it. Servers' stacks, Python's above all, pass through the same few
 * hundred call sites again and again, and each hit saves both binary
 * searches (some 25 bpf_loop steps, most of a frame's cost). Shared by all
 * CPUs without locks, so a slot may be stale or half written: it is used
 * only if the process's index has that mapping now, with that table, and
 * the row and the next one bound the address, which is what a search would
 * find. Anything else is a miss.
 */
#define UNWIND_CACHE_SLOTS 4096

struct unwind_hit {
	__u64 call;       /* return address - 1 */
	__u32 map_idx;    /* into the process's maps */
	__u32 row;        /* into cfi_rows */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct unwind_hit);
	__uint(max_entries, UNWIND_CACHE_SLOTS);
} unwind_cache SEC(".maps");

enum walk_status {
	WALK_ON = 0,
	WALK_DONE,    /* the outermost frame, or the walk cannot go on */
	WALK_PENDING, /* code without a table yet: the stack is not kept */
};

/* State of a walk, on the program's stack; bpf_loop's callback steps it. */
struct walk {
	struct lw_cfi_proc *proc;
	struct lw_stack *s;
	__u64 pc, sp, bp;
	__u64 h;
	__u32 chk, n;
	__u32 bp_known;
	__u32 status;
	__u32 last_fp;  /* the frame just taken came from frame pointers */
	/* the last mapping and row found: recursion and loops meet the same
	 * code again, and each binary search is a bpf_loop */
	struct lw_cfi_map *map;
	struct lw_cfi_row *row;
	__u64 row_lo, row_hi;  /* file offsets the row covers, in map */
	__u32 map_idx;         /* map's index in proc->maps */
	__u32 watched;         /* a frame's return address was read at watch */
	__u64 watch;           /* a stack slot to look out for, or 0 */
};

#define HASH_MUL 0x9e3779b97f4a7c15ULL

static __always_inline void push_frame(struct walk *w, __u64 ret)
{
	__u32 n = w->n;

	if (n >= LW_MAX_STACK_DEPTH) {
		w->status = WALK_DONE;
		return;
	}
	w->s->ips[n] = ret;
	w->h = (w->h ^ ret) * HASH_MUL;
	w->chk = (w->chk ^ (__u32)(ret >> 3)) * 0x01000193;
	w->n = n + 1;
}

/* One frame by frame pointers: the caller's rbp and return address sit at
 * rbp, above the stack pointer. */
static __always_inline void fp_step(struct walk *w)
{
	struct { __u64 next; __u64 ret; } frame;

	if (!w->bp_known || w->bp < w->sp || (w->bp & 7) ||
	    bpf_probe_read_user(&frame, sizeof(frame), (void *)w->bp) || !frame.ret) {
		w->status = WALK_DONE;
		return;
	}
	if (w->bp + 8 == w->watch)
		w->watched = 1;
	w->sp = w->bp + 16;
	w->bp = frame.next;
	w->pc = frame.ret;
	w->last_fp = 1;
	push_frame(w, frame.ret);
}

/*
 * Binary searches, one step per bpf_loop iteration: as plain loops inside
 * the walk the verifier follows every path of every step with exact
 * bounds and gives up at its 1M-instruction limit.
 */
struct search {
	struct lw_cfi_proc *proc; /* find_map */
	__u64 key;                /* an address, or a file offset */
	__u32 first;              /* find_row: the table's first row */
	__u32 lo, hi;
};

static long map_search_step(__u32 i, void *ctx)
{
	struct search *q = ctx;
	__u32 mid;

	if (q->lo >= q->hi || !q->proc)
		return 1;
	mid = (q->lo + (q->hi - q->lo) / 2) & (LW_CFI_MAX_MAPS - 1);
	if (q->proc->maps[mid].start <= q->key)
		q->lo = mid + 1;
	else
		q->hi = mid;
	return 0;
}

static long row_search_step(__u32 i, void *ctx)
{
	struct search *q = ctx;
	struct lw_cfi_row *r;
	__u32 mid, idx;

	if (q->lo >= q->hi)
		return 1;
	mid = q->lo + (q->hi - q->lo) / 2;
	idx = q->first + mid;
	r = bpf_map_lookup_elem(&cfi_rows, &idx);
	if (!r) {
		q->lo = q->hi = 0;
		return 1;
	}
	if (r->off <= q->key)
		q->lo = mid + 1;
	else
		q->hi = mid;
	return 0;
}

/* The row of the module table [first, first + nr) holding at file offset
 * off: the last one starting at or before it. *hi: where the next row
 * starts (the row holds up to there). */
static __always_inline struct lw_cfi_row *find_row(__u32 first, __u32 nr, __u64 off, __u64 *hi,
						   __u32 *row)
{
	struct search q = { .key = off, .first = first, .hi = nr };
	struct lw_cfi_row *next;
	__u32 idx;

	bpf_loop(LW_CFI_SEARCH_STEPS + 1, row_search_step, &q, 0);
	if (!q.lo || q.lo < q.hi)
		return NULL;
	idx = first + q.lo;
	next = q.lo < nr ? bpf_map_lookup_elem(&cfi_rows, &idx) : NULL;
	*hi = next ? next->off : off + 1;
	idx--;
	*row = idx;
	return bpf_map_lookup_elem(&cfi_rows, &idx);
}

/* The mapping holding pc, or NULL; *idx: its index. */
static __always_inline struct lw_cfi_map *find_map(struct lw_cfi_proc *proc, __u64 pc, __u32 *idx)
{
	struct search q = { .proc = proc, .key = pc, .hi = proc->nr };
	struct lw_cfi_map *m;

	if (q.hi > LW_CFI_MAX_MAPS)
		q.hi = LW_CFI_MAX_MAPS;
	bpf_loop(LW_CFI_MAP_STEPS + 1, map_search_step, &q, 0);
	if (!q.lo || q.lo < q.hi)
		return NULL;
	*idx = (q.lo - 1) & (LW_CFI_MAX_MAPS - 1);
	m = &proc->maps[*idx];
	return pc < m->end ? m : NULL;
}

static __always_inline struct unwind_hit *cache_slot(__u64 call)
{
	__u32 key = (__u32)((call * HASH_MUL) >> 52) & (UNWIND_CACHE_SLOTS - 1);

	return bpf_map_lookup_elem(&unwind_cache, &key);
}

/* A cached mapping and row for call, checked against the index now: sets
 * the walk's last ones, as the searches would have. */
static __always_inline bool cache_get(struct walk *w, struct unwind_hit *hit, __u64 call)
{
	struct lw_cfi_row *r, *next;
	struct lw_cfi_map *m;
	__u32 row, idx;
	__u64 off;

	if (!hit || hit->call != call || hit->map_idx >= w->proc->nr)
		return false;
	idx = hit->map_idx & (LW_CFI_MAX_MAPS - 1);
	row = hit->row;
	m = &w->proc->maps[idx];
	if (call < m->start || call >= m->end || m->kind != LW_UNWIND_CFI ||
	    row < m->first_row || row - m->first_row >= m->nr_rows)
		return false;
	off = call - m->start + m->pgoff;
	r = bpf_map_lookup_elem(&cfi_rows, &row);
	if (!r || r->off > off)
		return false;
	row++;
	next = row - m->first_row < m->nr_rows ? bpf_map_lookup_elem(&cfi_rows, &row) : NULL;
	if (next && next->off <= off)
		return false;
	w->map = m;
	w->map_idx = idx;
	w->row = r;
	w->row_lo = r->off;
	w->row_hi = next ? next->off : off + 1;
	return true;
}

/* The mapping and row holding call, from the cache, else by searching (a
 * find then remembered): set as the walk's last ones. keep: call lies in
 * the last frame's mapping, whose row does not hold it. Not inlined: the
 * frame-by-frame path in walk_step stays short. */
static __noinline int locate(struct walk *w, __u64 call, int keep)
{
	struct unwind_hit *hit = cache_slot(call);
	struct lw_cfi_row *r;
	struct lw_cfi_map *m;
	__u32 row_idx = 0;

	if (cache_get(w, hit, call))
		return 0;
	w->row = NULL;
	if (!keep)
		w->map = find_map(w->proc, call, &w->map_idx);
	m = w->map;
	if (!m || m->kind != LW_UNWIND_CFI)
		return 0;
	r = find_row(m->first_row, m->nr_rows, call - m->start + m->pgoff, &w->row_hi, &row_idx);
	w->row = r;
	w->row_lo = r ? r->off : 0;
	if (r && hit) {
		hit->call = call;
		hit->map_idx = w->map_idx;
		hit->row = row_idx;
	}
	return 0;
}

/* One frame: from the return address pc and the registers the callee left
 * (sp, bp), the caller's. */
static long walk_step(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	struct lw_cfi_row *r;
	struct lw_cfi_map *m;
	__u64 call = w->pc - 1, cfa, ret, bp, off;

	if (!w->proc || w->status != WALK_ON)
		return 1;
	m = w->map;
	if (!m || call < m->start || call >= m->end) {
		locate(w, call, 0);
	} else if (m->kind == LW_UNWIND_CFI) {
		off = call - m->start + m->pgoff;
		if (!w->row || off < w->row_lo || off >= w->row_hi)
			locate(w, call, 1);
	}
	m = w->map;
	if (!m) {
		/* where frame pointers led, an unmapped address is their
		 * garbage; after a CFI step, code mapped since (dlopen) */
		w->status = w->last_fp ? WALK_DONE : WALK_PENDING;
		return 1;
	}
	if (m->kind == LW_UNWIND_PENDING) {
		w->status = WALK_PENDING;
		return 1;
	}
	if (m->kind != LW_UNWIND_CFI) {
		fp_step(w);
		return w->status != WALK_ON;
	}
	r = w->row;
	if (!r || r->cfa == LW_CFA_NONE) {
		fp_step(w); /* code the CFI does not describe */
		return w->status != WALK_ON;
	}
	if (r->cfa == LW_CFA_RSP) {
		cfa = w->sp + r->cfa_off;
	} else if (r->cfa == LW_CFA_RBP && w->bp_known) {
		cfa = w->bp + r->cfa_off;
	} else {
		/* LW_CFA_END: the outermost frame; LW_CFA_BAD: not followed */
		w->status = WALK_DONE;
		return 1;
	}
	bp = w->bp;
	if (cfa <= w->sp || bpf_probe_read_user(&ret, sizeof(ret), (void *)(cfa - 8)) ||
	    (r->rbp == LW_RBP_AT && bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + r->rbp_off)))) {
		w->status = WALK_DONE;
		return 1;
	}
	if (cfa - 8 == w->watch)
		w->watched = 1;
	if (r->rbp == LW_RBP_LOST)
		w->bp_known = 0;
	w->bp = bp;
	w->sp = cfa;
	w->pc = ret;
	w->last_fp = 0;
	if (!ret) {
		w->status = WALK_DONE;
		return 1;
	}
	push_frame(w, ret);
	return w->status != WALK_ON;
}

/* Asks the loader, once until it has served the process, to read its
 * mappings again. */
static __always_inline void ask_maps(struct lw_cfi_proc *proc, __u32 tgid)
{
	struct lw_event *e;

	/* racing threads may both ask: the loader reads the maps twice */
	if (!proc || proc->asked)
		return;
	proc->asked = 1;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return;
	e->kind = LW_EVENT_MAPS;
	e->pid = tgid;
	e->parent = 0;
	e->held = 0;
	bpf_ringbuf_submit(e, 0);
}

/* A child forked: its memory is its parent's copy, and so is the index,
 * until the loader reads the child's own mappings. */
static __always_inline void unwind_inherit(__u32 parent, __u32 child)
{
	struct lw_cfi_proc *proc;

	if (!unwind_cfi || !(proc = bpf_map_lookup_elem(&unwind_maps, &parent)))
		return;
	bpf_map_update_elem(&unwind_maps, &child, proc, BPF_ANY);
}

/* An exec: the old image's index would send the walk through tables of
 * code no longer mapped there. Gone until the loader makes the new one. */
static __always_inline void unwind_drop(__u32 tgid)
{
	if (unwind_cfi)
		bpf_map_delete_elem(&unwind_maps, &tgid);
}

static __always_inline __u64 mix64(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* The end of the stack mapping holding sp (bpf_find_vma's callback). */
static long vma_end(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	*(__u64 *)ctx = vma->vm_end;
	return 0;
}

struct stack_copy {
	struct lw_verify *v;
	__u64 sp, len;
};

/* One page of the copy: a page that cannot be read stays zero. */
static long copy_page(__u32 i, void *ctx)
{
	struct stack_copy *c = ctx;
	__u64 head = 4096 - (c->sp & 4095), off, chunk;

	/* the first piece runs to the first page boundary, then whole pages */
	off = i ? head + (__u64)(i - 1) * 4096 : 0;
	chunk = i ? 4096 : head;
	if (off >= c->len)
		return 1;
	if (chunk > c->len - off)
		chunk = c->len - off;
	/* bounds the verifier can follow: off < 16 KiB, chunk <= 4 KiB, and
	 * the buffer has 4 KiB of slack */
	off &= LW_VERIFY_STACK_BYTES - 1;
	if (chunk > 4096 || !chunk)
		return 1;
	bpf_probe_read_user(&c->v->stack[off], chunk, (void *)(c->sp + off));
	return 0;
}

/* Sends the registers, the stack bytes and the BPF stack s (see
 * verify_every). */
static __always_inline void verify_send(struct pt_regs *ctx, const struct lw_stack *s, __u32 tgid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct stack_copy c = { .sp = PT_REGS_SP(ctx) };
	struct lw_verify *v;
	__u64 end = 0;

	v = bpf_ringbuf_reserve(&verify_events, sizeof(*v), 0);
	if (!v) {
		__sync_fetch_and_add(&verify_dropped, 1);
		return;
	}
	v->tgid = tgid;
	v->tid = (__u32)bpf_get_current_pid_tgid();
	v->nr = s->nr;
	v->regs[0] = ctx->ax;
	v->regs[1] = ctx->dx;
	v->regs[2] = ctx->cx;
	v->regs[3] = ctx->bx;
	v->regs[4] = ctx->si;
	v->regs[5] = ctx->di;
	v->regs[6] = ctx->bp;
	v->regs[7] = ctx->sp;
	v->regs[8] = ctx->r8;
	v->regs[9] = ctx->r9;
	v->regs[10] = ctx->r10;
	v->regs[11] = ctx->r11;
	v->regs[12] = ctx->r12;
	v->regs[13] = ctx->r13;
	v->regs[14] = ctx->r14;
	v->regs[15] = ctx->r15;
	v->regs[16] = ctx->ip;
	bpf_probe_read_kernel(v->ips, sizeof(v->ips), s->ips);
	/* clamped to the stack's mapping; when the mappings are busy (it
	 * only tries their lock), the whole copy, unmapped pages left zero */
	if (bpf_find_vma(task, c.sp, vma_end, &end, 0))
		end = c.sp + LW_VERIFY_STACK_BYTES;
	c.len = end > c.sp ? end - c.sp : 0;
	if (c.len > LW_VERIFY_STACK_BYTES)
		c.len = LW_VERIFY_STACK_BYTES;
	c.v = v;
	bpf_loop(LW_VERIFY_STACK_BYTES / 4096 + 1, copy_page, &c, 0);
	v->stack_len = c.len;
	/* the loader reads these at its own pace: no wakeup per event */
	bpf_ringbuf_submit(v, BPF_RB_NO_WAKEUP);
}

#include "python.bpf.h"

/*
 * Walk the user stack at an allocator's entry. The return address at the
 * stack pointer is the caller, read directly: the kernel's frame-pointer
 * walk drops it unless the probed function begins with push %rbp, and
 * glibc's malloc does not. Then, with unwind_cfi, each frame by its
 * module's CFI table, frame pointers where no CFI covers the code (JIT);
 * without, the caller's frame-pointer chain. Frames from code without
 * frame pointers come out wrong or short in a frame-pointer walk; the
 * loader validates each return address and marks such stacks truncated.
 */
static __always_inline __u64 capture_stack(struct pt_regs *ctx, struct lw_stack *s,
					   struct lw_proc_counters *c, __u32 tgid, __u64 watch,
					   __u32 *watched)
{
	struct walk w = {
		.watch = watch,
		.s = s,
		.sp = PT_REGS_SP(ctx),
		.bp = PT_REGS_FP(ctx),
		.bp_known = 1,
		.h = 0xcbf29ce484222325ULL,
		.chk = 0x84222325,
	};
	struct py_scratch *py;
	struct lw_stack *known;
	__u64 ret, id;
	long err;

	if (bpf_probe_read_user(&ret, sizeof(ret), (void *)w.sp) || !ret) {
		count_lost(c, LW_LOST_STACK_MISSING);
		return LW_STACK_NONE;
	}
	push_frame(&w, ret);
	if (unwind_cfi) {
		w.proc = bpf_map_lookup_elem(&unwind_maps, &tgid);
		/* at the entry: the caller's frame is the stack above the
		 * return address, its rbp still in rbp */
		w.pc = ret;
		w.sp += 8;
		if (!w.proc) {
			/* no index yet (a process running before the loader
			 * read its maps): an empty one, so the ask below is
			 * made once */
			bpf_map_update_elem(&unwind_maps, &tgid, &empty_proc, BPF_NOEXIST);
			w.proc = bpf_map_lookup_elem(&unwind_maps, &tgid);
		}
		if (w.proc)
			bpf_loop(LW_MAX_STACK_DEPTH - 1, walk_step, &w, 0);
		else
			w.status = WALK_PENDING;
		if (w.status == WALK_PENDING) {
			ask_maps(w.proc, tgid);
			count_lost(c, LW_LOST_UNWIND_PENDING);
			return LW_STACK_NONE;
		}
	} else {
		w.last_fp = 1;
		for (int i = 1; i < LW_MAX_STACK_DEPTH; i++) {
			/* a frame lies above the stack pointer, aligned */
			fp_step(&w);
			if (w.status != WALK_ON)
				break;
		}
	}
	*watched = w.watched;
	py = py_walk(tgid, &w.h, &w.chk); /* Python frames are part of the stack */
	s->nr = w.n;
	s->check = w.chk;
	id = mix64(w.h ^ w.n);
	if (id == LW_STACK_NONE)
		id = 1;
	py_keep(py, tgid, id);

	known = bpf_map_lookup_elem(&stacks, &id);
	if (known) {
		if (known->nr != w.n || known->check != w.chk) {
			count_lost(c, LW_LOST_STACK_COLLISION);
			return LW_STACK_NONE;
		}
		return id;
	}
	err = bpf_map_update_elem(&stacks, &id, s, BPF_NOEXIST);
	if (err && err != -EEXIST) {
		count_lost(c, LW_LOST_STACK_MISSING);
		return LW_STACK_NONE;
	}
	return id;
}

/* capture_stack (watching for st->watch), and every verify_every'th time,
 * the copy for the loader's check. */
static __always_inline __u64 take_stack(struct pt_regs *ctx, struct inflight *st,
					struct lw_proc_counters *c, __u32 tgid)
{
	__u64 id = capture_stack(ctx, &st->stack, c, tgid, st->watch, &st->watched);

	if (verify_every && id != LW_STACK_NONE && ++st->verify_countdown >= verify_every) {
		st->verify_countdown = 0;
		verify_send(ctx, &st->stack, tgid);
	}
	return id;
}

/* Inside an allocator call already in flight on this thread? Called from
 * it, or jumped to (sp equal: one probed function tail-calling another,
 * as jemalloc's new[] does new). A pending operator new frees nothing. */
static __always_inline bool nested(const struct inflight *st, __u64 sp)
{
	return st && st->active && sp <= st->entry_sp && st->func != LW_FUNC_NEW;
}

static __always_inline int on_free(struct pt_regs *ctx, struct task_struct *task, __u32 tgid,
				   __u64 addr, bool is_delete)
{
	struct lw_proc_counters *c;
	struct inflight *st;
	struct lw_alloc rec;

	if (!addr)
		return 0;
	st = bpf_task_storage_get(&inflight, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (nested(st, PT_REGS_SP(ctx)))
		return 0; /* inside realloc: the outer call accounts for it */
	if (st) {
		st->free_sp = PT_REGS_SP(ctx);
		if (bpf_probe_read_user(&st->free_ret, sizeof(st->free_ret), (void *)st->free_sp))
			st->free_sp = 0;
	}
	c = proc_counters(tgid);
	if (take(tgid, addr, &rec)) {
		release(tgid, &rec);
	} else if (st && st->last_free == addr) {
		/* the free (or inner delete) that operator delete runs for the
		 * block it just took */
		return 0;
	} else if (!sample_every && !sample_bytes) {
		/* (when sampling, most blocks freed were simply not sampled) */
		count_lost(c, LW_LOST_UNKNOWN_FREES);
	}
	if (c)
		__sync_fetch_and_add(&c->free_calls, 1);
	if (is_delete && st)
		st->last_free = addr;
	return 0;
}

static __always_inline int on_munmap(struct pt_regs *ctx, struct task_struct *task, __u32 tgid)
{
	struct inflight *st = bpf_task_storage_get(&inflight, task, 0, 0);
	struct lw_proc_counters *c;

	if (nested(st, PT_REGS_SP(ctx)))
		return 0; /* the allocator unmapping its own memory */
	c = bpf_map_lookup_elem(&procs, &tgid);
	/* only mappings the program made are tracked; others are not lost */
	if (unmap_range(tgid, PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx)) && c)
		__sync_fetch_and_add(&c->free_calls, 1);
	return 0;
}

/* An mmap (or mremap) made inside the last free entered: its stack walk
 * (watched) went through a frame whose return address sits where free's
 * did, and that address is still free's. Both are needed: the slot alone
 * may keep free's address after free has returned, in a frame that does
 * not write over it. */
static __always_inline bool inside_free(struct inflight *st, __u32 watched)
{
	__u64 ret;

	if (!watched || bpf_probe_read_user(&ret, sizeof(ret), (void *)st->free_sp))
		return false;
	return ret == st->free_ret;
}

/* A call made while libstdc++'s operator new is pending: the allocation it
 * makes for its caller (taken over: it returns the block), a new inside
 * new (new[] runs new), or, when it comes from elsewhere, a sign the
 * pending new is over. Returns true when the call is handled. */
static __always_inline bool under_new(struct inflight *st, struct pt_regs *ctx, __u32 func,
				      __u64 func_size, __u64 arg1)
{
	__u64 sp = PT_REGS_SP(ctx), ret;

	if (bpf_probe_read_user(&ret, sizeof(ret), (void *)sp) ||
	    !((ret >= st->new_start && ret < st->new_end) ||
	      (ret >= st->inner_start && ret < st->inner_end)))
		return false;
	switch (func) {
	case LW_FUNC_NEW:
		st->inner_start = PT_REGS_IP(ctx);
		st->inner_end = st->inner_start + func_size;
		return true;
	case LW_FUNC_POSIX_MEMALIGN:
		st->out_ptr = arg1;
		/* fall through */
	case LW_FUNC_MALLOC:
	case LW_FUNC_MEMALIGN:
	case LW_FUNC_CALLOC:
		/* the size and stack stay operator new's */
		st->func = func;
		st->entry_sp = sp;
		return true;
	}
	return false;
}

/*
 * Moments of CPython's the loader acts on, holding the process meanwhile:
 * Py_RunMain (LW_EVENT_PYMAIN), where the interpreter is up and the program
 * about to run, so its Python frames are walked from its first line; and
 * Py_FinalizeEx (LW_EVENT_FINALIZE), where the program is done and starts
 * freeing what it holds (module globals, caches), which would empty the
 * final summary of every leak: the loader takes the process's probes out,
 * so its counts stay as they were when its work ended. The process is
 * stopped, marked held, and the loader told; it continues it.
 */
static __always_inline int hold_for(__u32 kind, __u32 tgid)
{
	struct lw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u32 *state = bpf_map_lookup_elem(&exec_watch, &tgid);

	if (!e)
		return 0; /* the loader cannot be told: not stopped */
	if (state)
		*state |= LW_EXEC_HELD;
	e->kind = kind;
	e->pid = tgid;
	e->parent = 0;
	e->held = bpf_send_signal(19 /* SIGSTOP */) == 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("uprobe.multi")
int alloc_enter(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 func = LW_COOKIE_FUNC(cookie);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 sp = PT_REGS_SP(ctx), n, m;
	/* read the arguments unconditionally: the verifier rejects context
	 * loads at offsets clang merges across branches */
	__u64 arg1 = PT_REGS_PARM1(ctx), arg2 = PT_REGS_PARM2(ctx);
	__u64 arg3 = PT_REGS_PARM3(ctx), arg4 = PT_REGS_PARM4(ctx);
	__u32 category = LW_CAT_MALLOC;
	struct inflight *st;

	if (cookie & LW_COOKIE_PYMALLOC) {
		/* (ctx, the rest): ctx is the allocator table's */
		arg1 = arg2;
		arg2 = arg3;
		arg3 = arg4;
		category = LW_CAT_PYTHON;
	}
	switch (func) {
	case LW_FUNC_FINALIZE:
		return hold_for(LW_EVENT_FINALIZE, tgid);
	case LW_FUNC_PYMAIN:
		return hold_for(LW_EVENT_PYMAIN, tgid);
	case LW_FUNC_FREE:
	case LW_FUNC_DELETE:
		/* pymalloc's free hands large blocks on to free(): a delete */
		return on_free(ctx, task, tgid, arg1,
			       func == LW_FUNC_DELETE || category == LW_CAT_PYTHON);
	case LW_FUNC_MUNMAP:
		return on_munmap(ctx, task, tgid);
	}

	st = bpf_task_storage_get(&inflight, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	if (st->active && sp <= st->entry_sp) {
		if (st->func != LW_FUNC_NEW)
			return 0; /* nested in an allocator call in flight */
		if (under_new(st, ctx, func, LW_COOKIE_SIZE(cookie), arg1))
			return 0;
		/* the pending new allocated nothing seen: start afresh */
	}
	/* a mapping deeper than the last free entered may be the allocator's,
	 * made inside that free: its stack says (below). Kept in st, not in a
	 * variable: the verifier would follow the whole entry twice. */
	st->watch = 0;
	st->watched = 0;
	if ((func == LW_FUNC_MMAP || func == LW_FUNC_MREMAP) && st->free_sp && sp < st->free_sp)
		st->watch = st->free_sp;
	else
		st->free_sp = 0; /* another allocator call: that free is over */

	st->active = 1;
	st->func = func;
	st->entry_sp = sp;
	st->old_addr = 0;
	st->old_found = 0;
	st->category = category;
	switch (func) {
	case LW_FUNC_MALLOC:
		st->size = arg1;
		break;
	case LW_FUNC_MEMALIGN:
		st->size = arg2;
		break;
	case LW_FUNC_POSIX_MEMALIGN:
		st->out_ptr = arg1;
		st->size = arg3;
		break;
	case LW_FUNC_CALLOC:
	case LW_FUNC_REALLOCARRAY:
		if (func == LW_FUNC_CALLOC) {
			n = arg1;
			m = arg2;
		} else {
			n = arg2;
			m = arg3;
		}
		st->size = n * m;
		if ((n | m) >> 32 && m) {
			/* an overflowing product makes the call fail, so nothing
			 * is recorded; the barrier keeps clang from turning the
			 * division into a 128-bit multiply BPF lacks */
			__u64 limit = ~0ULL / m;

			barrier_var(limit);
			if (n > limit) {
				/* fails before touching reallocarray's block */
				st->size = 0;
				break;
			}
		}
		if (func == LW_FUNC_CALLOC)
			break;
		/* fall through: reallocarray is realloc of n * m bytes */
	case LW_FUNC_REALLOC:
		st->old_addr = arg1;
		if (func == LW_FUNC_REALLOC)
			st->size = arg2;
		if (st->old_addr)
			st->old_found = take(tgid, st->old_addr, &st->old_rec);
		break;
	case LW_FUNC_MMAP:
		st->size = arg2;
		st->flags = arg4;
		st->category = py_arena_category(tgid, sp);
		break;
	case LW_FUNC_MREMAP:
		st->old_addr = arg1;
		st->old_len = arg2;
		st->size = arg3;
		break;
	case LW_FUNC_NEW:
		st->size = arg1;
		st->new_start = st->inner_start = PT_REGS_IP(ctx);
		st->new_end = st->inner_end = st->new_start + LW_COOKIE_SIZE(cookie);
		break;
	default:
		st->active = 0;
		return 0;
	}
	/* the walk is most of the work: only for blocks that will be recorded */
	if (func == LW_FUNC_MMAP || func == LW_FUNC_MREMAP)
		st->sampled = 1;
	else if (st->old_addr && !st->size && category != LW_CAT_PYTHON)
		st->sampled = 0; /* realloc(p, 0) frees: not an allocation to sample
				  * (pymalloc's returns a block) */
	else
		st->sampled = sample(st, st->size);
	st->stack_id = st->sampled ? take_stack(ctx, st, proc_counters(tgid), tgid) : LW_STACK_NONE;
	if (st->watch) {
		if (inside_free(st, st->watched)) {
			/* glibc's own heap (a thread's arena, made in its
			 * first free), not the program's mapping; its return
			 * is taken as done */
			st->active = 0;
			st->done_sp = sp;
			return 0;
		}
		st->free_sp = 0;
	}
	return 0;
}

#define MAP_ANONYMOUS 0x20
/* mmap and mremap return -errno (as an address in the last page) on failure */
#define MAP_FAILED_MIN ((__u64)-4095)

static __always_inline void exit_realloc(struct inflight *st, __u32 tgid, __u64 ret,
					 struct lw_proc_counters *c)
{
	if (!st->old_addr) {
		if (ret && st->sampled)
			record(tgid, ret, st->size, st->stack_id, st->category, c);
		return;
	}
	if (!ret && st->size) {
		/* failed: the old block is still live, put it back */
		struct lw_alloc_key key = { .tgid = tgid, .addr = st->old_addr };

		if (st->old_found)
			bpf_map_update_elem(&allocs, &key, &st->old_rec, BPF_NOEXIST);
		return;
	}
	/* moved, resized, or realloc(p, 0): the old block is gone */
	if (c)
		__sync_fetch_and_add(&c->free_calls, 1);
	if (st->old_found)
		release(tgid, &st->old_rec);
	else if (!sample_every && !sample_bytes)
		count_lost(c, LW_LOST_UNKNOWN_FREES);
	if (ret && st->sampled)
		record(tgid, ret, st->size, st->stack_id, st->category, c);
}

SEC("uretprobe.multi")
int alloc_exit(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 ret = PT_REGS_RC(ctx), sp = PT_REGS_SP(ctx), addr = 0;
	struct lw_proc_counters *c;
	struct inflight *st;

	st = bpf_task_storage_get(&inflight, task, 0, 0);
	if (st && st->active && sp < st->entry_sp + 8)
		return 0; /* a nested call returning */
	if (st && !st->active && sp == st->done_sp + 8)
		return 0; /* the second return of a tail-call pair, already done */
	c = proc_counters(tgid);
	if (!st || !st->active || sp != st->entry_sp + 8) {
		/* entered before the entry probes were in */
		count_lost(c, LW_LOST_UNATTACHED_WINDOW);
		if (st)
			st->active = 0;
		return 0;
	}
	st->active = 0;
	st->done_sp = st->entry_sp;

	switch (st->func) {
	case LW_FUNC_REALLOC:
	case LW_FUNC_REALLOCARRAY:
		exit_realloc(st, tgid, ret, c);
		if (ret && c)
			__sync_fetch_and_add(&c->alloc_calls, 1);
		return 0;
	case LW_FUNC_POSIX_MEMALIGN:
		if ((int)ret != 0 || bpf_probe_read_user(&addr, sizeof(addr), (void *)st->out_ptr))
			return 0;
		ret = addr;
		break;
	case LW_FUNC_MMAP:
		if (ret >= MAP_FAILED_MIN)
			return 0;
		/* pages mapped over (MAP_FIXED) are gone */
		unmap_range(tgid, ret, st->size);
		if (!(st->flags & MAP_ANONYMOUS))
			return 0;
		record_region(tgid, ret, st->size, st->stack_id, st->category, c);
		if (c)
			__sync_fetch_and_add(&c->alloc_calls, 1);
		return 0;
	case LW_FUNC_MREMAP:
		if (ret >= MAP_FAILED_MIN)
			return 0;
		/* tracked memory moves, like realloc's, to the caller of mremap */
		if (unmap_range(tgid, st->old_addr, st->old_len)) {
			unmap_range(tgid, ret, st->size);
			record_region(tgid, ret, st->size, st->stack_id, LW_CAT_MMAP, c);
			if (c) {
				__sync_fetch_and_add(&c->alloc_calls, 1);
				__sync_fetch_and_add(&c->free_calls, 1);
			}
		}
		return 0;
	}
	if (!ret)
		return 0;
	if (c)
		__sync_fetch_and_add(&c->alloc_calls, 1);
	if (st->sampled)
		record(tgid, ret, st->size, st->stack_id, st->category, c);
	return 0;
}

/* Holds a command leakwatch started: stops it at the dynamic linker's hook
 * so its libraries can be read and probed before any of their code runs. */
SEC("uprobe")
int stop_process(struct pt_regs *ctx)
{
	bpf_send_signal(19 /* SIGSTOP */);
	return 0;
}


/* Forks and execs the loader must act on at once (it sleeps on this): the
 * events ring buffer, defined above with the unwinder's requests. */

/* Since 6.13: a signal to another task (the child, from its parent's fork). */
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type,
				__u64 value) __ksym __weak;

/* Stops the calling process (the held one is current) and tells the loader;
 * when the loader cannot be told, the process is not stopped. */
static __always_inline void notify(__u32 kind, __u32 pid, __u32 parent, struct task_struct *stop)
{
	struct lw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	long held = -1;

	if (!e) {
		count_lost(proc_counters(pid), LW_LOST_UNATTACHED_WINDOW);
		return;
	}
	if (stop && bpf_ksym_exists(bpf_send_signal_task))
		held = bpf_send_signal_task(stop, 19 /* SIGSTOP */, PIDTYPE_TGID, 0);
	else if (!stop)
		held = bpf_send_signal(19 /* SIGSTOP */);
	e->kind = kind;
	e->pid = pid;
	e->parent = parent;
	e->held = held == 0;
	bpf_ringbuf_submit(e, 0);
}

/* A watched process that execs (env, sh -c, a wrapper script, a server
 * re-executing itself) becomes a new program: stop it so the loader can
 * probe the new image before its libraries run, as it did for the first. */
SEC("tp_btf/sched_process_exec") /* BTF raw tracepoint: needs no tracefs */
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, *state;

	state = bpf_map_lookup_elem(&exec_watch, &tgid);
	if (!state || !(*state & LW_EXEC_WATCHED))
		return 0;
	*state |= LW_EXEC_SEEN;
	unwind_drop(tgid);
	notify(LW_EVENT_EXEC, tgid, 0, NULL);
	return 0;
}

/*
 * A watched process forked: the child is watched too, with no gap. It is
 * stopped before it first runs (a signal queued from the parent's fork,
 * taken on the child's way to user space), so no allocation of its own can
 * come before its probes; the loader attaches and continues it. A child
 * sharing the parent's memory (vfork, posix_spawn) runs on and is caught
 * at its exec instead. Threads are not processes: they are already seen.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid, *state, flags;

	if (child->pid != child->tgid)
		return 0;
	state = bpf_map_lookup_elem(&exec_watch, &ptgid);
	if (!state || !(*state & LW_FOLLOW_FORKS))
		return 0;
	flags = LW_EXEC_WATCHED | LW_FOLLOW_FORKS;
	if (child->mm != parent->mm)
		flags |= LW_EXEC_HELD; /* until the loader continues it */
	if (bpf_map_update_elem(&exec_watch, &ctgid, &flags, BPF_ANY)) {
		count_lost(proc_counters(ctgid), LW_LOST_UNATTACHED_WINDOW);
		return 0;
	}
	if (child->mm == parent->mm)
		return 0;
	unwind_inherit(ptgid, ctgid);
	notify(LW_EVENT_FORK, ctgid, ptgid, child);
	return 0;
}

/* Empty programs for the benchmark's floors: what the probes alone cost. */
SEC("uprobe.multi")
int floor_enter(struct pt_regs *ctx)
{
	return 0;
}

SEC("uretprobe.multi")
int floor_exit(struct pt_regs *ctx)
{
	return 0;
}
