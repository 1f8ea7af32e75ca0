/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The user stack at an allocator's entry: frame pointers, or with
 * unwind_cfi each frame by its module's CFI table (leakwatch.h), frame
 * pointers where no CFI covers the code (JIT). The state of a walk is the
 * thread's struct walk (common.bpf.h); each bpf_loop step looks it up.
 * Included by leakwatch.bpf.c.
 */
#ifndef LW_UNWIND_BPF_H
#define LW_UNWIND_BPF_H

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

static __always_inline void push_frame(struct walk *w, struct lw_stack *s, __u64 ret)
{
	__u32 n = w->n;

	if (n >= LW_MAX_STACK_DEPTH) {
		w->status = WALK_DONE;
		return;
	}
	s->ips[n] = ret;
	w->h = (w->h ^ ret) * HASH_MUL;
	w->chk = (w->chk ^ (__u32)(ret >> 3)) * 0x01000193;
	w->n = n + 1;
}

/* One frame by frame pointers: the caller's rbp and return address sit at
 * rbp, above the stack pointer. */
static __always_inline void fp_step(struct walk *w, struct lw_stack *s)
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
	push_frame(w, s, frame.ret);
}

/*
 * Binary searches, one step per bpf_loop iteration (as plain loops the
 * verifier would follow every path of every step), over the walk's key,
 * lo and hi: the last mapping starting at or before an address, the last
 * row starting at or before a file offset.
 */
static long map_search_step(__u32 i, void *unused)
{
	struct inflight *st = inflight_get(0);
	struct lw_cfi_proc *proc;
	struct walk *w;
	__u32 mid;

	if (!st)
		return 1;
	w = &st->walk;
	if (w->lo >= w->hi)
		return 1;
	proc = bpf_map_lookup_elem(&unwind_maps, &w->tgid);
	if (!proc) {
		w->lo = w->hi = 0;
		return 1;
	}
	mid = (w->lo + (w->hi - w->lo) / 2) & (LW_CFI_MAX_MAPS - 1);
	if (proc->maps[mid].start <= w->key)
		w->lo = mid + 1;
	else
		w->hi = mid;
	return 0;
}

static long row_search_step(__u32 i, void *unused)
{
	struct inflight *st = inflight_get(0);
	struct lw_cfi_row *r;
	struct walk *w;
	__u32 mid, idx;

	if (!st)
		return 1;
	w = &st->walk;
	if (w->lo >= w->hi)
		return 1;
	mid = w->lo + (w->hi - w->lo) / 2;
	idx = w->first + mid;
	r = bpf_map_lookup_elem(&cfi_rows, &idx);
	if (!r) {
		w->lo = w->hi = 0;
		return 1;
	}
	if (r->off <= w->key)
		w->lo = mid + 1;
	else
		w->hi = mid;
	return 0;
}

/* Makes row (and the next row's start, hi) the walk's last row. */
static __always_inline void set_row(struct walk *w, const struct lw_cfi_row *r, __u64 hi)
{
	w->row = *r;
	w->row_lo = r->off;
	w->row_hi = hi;
	w->have_row = 1;
}

/* The row of the walk's mapping holding file offset off: the last one
 * starting at or before it. Returns its index, or -1. */
static __always_inline long find_row(struct walk *w, __u64 off)
{
	__u32 first = w->map.first_row, nr = w->map.nr_rows, idx;
	struct lw_cfi_row *r, *next;

	w->key = off;
	w->first = first;
	w->lo = 0;
	w->hi = nr;
	bpf_loop(LW_CFI_SEARCH_STEPS + 1, row_search_step, NULL, 0);
	if (!w->lo || w->lo < w->hi)
		return -1;
	idx = first + w->lo;
	next = w->lo < nr ? bpf_map_lookup_elem(&cfi_rows, &idx) : NULL;
	idx--;
	r = bpf_map_lookup_elem(&cfi_rows, &idx);
	if (!r)
		return -1;
	set_row(w, r, next ? next->off : off + 1);
	return idx;
}

/* The mapping holding pc becomes the walk's mapping (have_map 0: none). */
static __always_inline void find_map(struct walk *w, __u64 pc)
{
	struct lw_cfi_proc *proc;
	struct lw_cfi_map *m;
	__u32 idx;

	w->have_map = 0;
	proc = bpf_map_lookup_elem(&unwind_maps, &w->tgid);
	if (!proc)
		return;
	w->key = pc;
	w->lo = 0;
	w->hi = proc->nr < LW_CFI_MAX_MAPS ? proc->nr : LW_CFI_MAX_MAPS;
	bpf_loop(LW_CFI_MAP_STEPS + 1, map_search_step, NULL, 0);
	if (!w->lo || w->lo < w->hi)
		return;
	proc = bpf_map_lookup_elem(&unwind_maps, &w->tgid);
	if (!proc)
		return;
	idx = (w->lo - 1) & (LW_CFI_MAX_MAPS - 1);
	m = &proc->maps[idx];
	if (pc >= m->end)
		return;
	w->map = *m;
	w->map_idx = idx;
	w->have_map = 1;
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
	struct lw_cfi_proc *proc = bpf_map_lookup_elem(&unwind_maps, &w->tgid);
	struct lw_cfi_row *r, *next;
	struct lw_cfi_map *m;
	__u32 row, idx;
	__u64 off;

	if (!proc || !hit || hit->call != call || hit->map_idx >= proc->nr)
		return false;
	idx = hit->map_idx & (LW_CFI_MAX_MAPS - 1);
	row = hit->row;
	m = &proc->maps[idx];
	if (call < m->start || call >= m->end || m->kind != LW_UNWIND_CFI ||
	    row < m->first_row || row - m->first_row >= m->nr_rows)
		return false;
	off = call - m->start + m->pgoff;
	r = bpf_map_lookup_elem(&cfi_rows, &row);
	if (!r || r->off > off)
		return false;
	idx = row + 1;
	next = idx - m->first_row < m->nr_rows ? bpf_map_lookup_elem(&cfi_rows, &idx) : NULL;
	if (next && next->off <= off)
		return false;
	w->map = *m;
	w->map_idx = hit->map_idx & (LW_CFI_MAX_MAPS - 1);
	w->have_map = 1;
	set_row(w, r, next ? next->off : off + 1);
	return true;
}

/* The mapping and row holding call, from the cache, else by searching (a
 * find then remembered): set as the walk's last ones. keep: call lies in
 * the walk's mapping, whose row does not hold it. Not inlined: the
 * frame-by-frame path in walk_step stays short. */
static __noinline int locate(struct walk *w, __u64 call, int keep)
{
	struct unwind_hit *hit = cache_slot(call);
	long row;

	if (cache_get(w, hit, call))
		return 0;
	w->have_row = 0;
	if (!keep)
		find_map(w, call);
	if (!w->have_map || w->map.kind != LW_UNWIND_CFI)
		return 0;
	row = find_row(w, call - w->map.start + w->map.pgoff);
	if (row >= 0 && hit) {
		hit->call = call;
		hit->map_idx = w->map_idx;
		hit->row = row;
	}
	return 0;
}

/* One frame by CFI: from the return address pc and the registers the
 * callee left (sp, bp), the caller's. */
static __always_inline void cfi_step(struct walk *w, struct lw_stack *s)
{
	__u64 call = w->pc - 1, cfa, ret, bp, off;

	if (!w->have_map || call < w->map.start || call >= w->map.end) {
		locate(w, call, 0);
	} else if (w->map.kind == LW_UNWIND_CFI) {
		off = call - w->map.start + w->map.pgoff;
		if (!w->have_row || off < w->row_lo || off >= w->row_hi)
			locate(w, call, 1);
	}
	if (!w->have_map) {
		/* where frame pointers led, an unmapped address is their
		 * garbage; after a CFI step, code mapped since (dlopen) */
		w->status = w->last_fp ? WALK_DONE : WALK_PENDING;
		return;
	}
	if (w->map.kind == LW_UNWIND_PENDING) {
		w->status = WALK_PENDING;
		return;
	}
	if (w->map.kind != LW_UNWIND_CFI || !w->have_row || w->row.cfa == LW_CFA_NONE) {
		fp_step(w, s); /* code the CFI does not describe */
		return;
	}
	if (w->row.cfa == LW_CFA_RSP) {
		cfa = w->sp + w->row.cfa_off;
	} else if (w->row.cfa == LW_CFA_RBP && w->bp_known) {
		cfa = w->bp + w->row.cfa_off;
	} else {
		/* LW_CFA_END: the outermost frame; LW_CFA_BAD: not followed */
		w->status = WALK_DONE;
		return;
	}
	bp = w->bp;
	if (cfa <= w->sp || bpf_probe_read_user(&ret, sizeof(ret), (void *)(cfa - 8)) ||
	    (w->row.rbp == LW_RBP_AT &&
	     bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + w->row.rbp_off)))) {
		w->status = WALK_DONE;
		return;
	}
	if (cfa - 8 == w->watch)
		w->watched = 1;
	if (w->row.rbp == LW_RBP_LOST)
		w->bp_known = 0;
	w->bp = bp;
	w->sp = cfa;
	w->pc = ret;
	w->last_fp = 0;
	if (!ret) {
		w->status = WALK_DONE;
		return;
	}
	push_frame(w, s, ret);
}

/* bpf_loop's step: one frame. */
static long walk_step(__u32 i, void *unused)
{
	struct inflight *st = inflight_get(0);

	if (!st || st->walk.status != WALK_ON)
		return 1;
	if (unwind_cfi)
		cfi_step(&st->walk, &st->stack);
	else
		fp_step(&st->walk, &st->stack);
	return st->walk.status != WALK_ON;
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

/*
 * Walks the user stack at an allocator's entry (sp, bp: the registers
 * there) into the thread's stack scratch. The return address at sp is the
 * caller, read directly: the kernel's frame-pointer walk drops it unless
 * the probed function begins with push %rbp, and glibc's malloc does not.
 * Frames from code without frame pointers come out wrong or short in a
 * frame-pointer walk; the loader validates each return address and marks
 * such stacks truncated. Returns WALK_DONE, or WALK_PENDING when the stack
 * cannot be kept (code whose table is not loaded yet), or -1 (no stack).
 */
static __always_inline int walk_stack(struct inflight *st, __u32 tgid, __u64 sp, __u64 bp)
{
	struct walk *w = &st->walk;
	struct lw_cfi_proc *proc;
	__u64 ret;

	w->tgid = tgid;
	w->sp = sp;
	w->bp = bp;
	w->bp_known = 1;
	w->h = 0xcbf29ce484222325ULL;
	w->chk = 0x84222325;
	w->n = 0;
	w->status = WALK_ON;
	w->watch = st->watch;
	w->watched = 0;
	w->have_map = 0;
	w->have_row = 0;
	w->last_fp = 1;
	if (bpf_probe_read_user(&ret, sizeof(ret), (void *)sp) || !ret)
		return -1;
	push_frame(w, &st->stack, ret);
	/* at the entry: the caller's frame is the stack above the return
	 * address, its rbp still in rbp */
	w->pc = ret;
	w->sp = sp + 8;
	if (!unwind_cfi) {
		/* the caller's own frame: its rbp chain starts at bp */
		w->sp = sp;
		bpf_loop(LW_MAX_STACK_DEPTH - 1, walk_step, NULL, 0);
		return WALK_DONE;
	}
	w->last_fp = 0;
	proc = bpf_map_lookup_elem(&unwind_maps, &tgid);
	if (!proc) {
		/* no index yet (a process running before the loader read its
		 * maps): an empty one, so the ask below is made once */
		bpf_map_update_elem(&unwind_maps, &tgid, &empty_proc, BPF_NOEXIST);
		proc = bpf_map_lookup_elem(&unwind_maps, &tgid);
	}
	if (proc)
		bpf_loop(LW_MAX_STACK_DEPTH - 1, walk_step, NULL, 0);
	else
		w->status = WALK_PENDING;
	if (w->status == WALK_PENDING) {
		ask_maps(bpf_map_lookup_elem(&unwind_maps, &tgid), tgid);
		return WALK_PENDING;
	}
	return WALK_DONE;
}

#endif /* LW_UNWIND_BPF_H */
