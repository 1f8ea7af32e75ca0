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

/*
 * A return address a uretprobe took is its trampoline's: the real one is
 * in the thread's return instances, innermost first (a chained one, made
 * by a probed function jumping to another, shares its caller's slot). This
 * is how a stack taken inside a probed call (a page fault in malloc during
 * a --zoom window) reaches its callers.
 */
static __always_inline __u64 real_ret(struct walk *w, __u64 ret)
{
	struct return_instance *ri = (void *)w->ri;
	__u64 orig = 0;

	if (!w->tramp || ret != w->tramp || !ri)
		return ret;
	bpf_probe_read_kernel(&orig, sizeof(orig), &ri->orig_ret_vaddr);
	for (int i = 0; i < 4 && ri; i++) {
		bool chained = false;

		bpf_probe_read_kernel(&chained, sizeof(chained), &ri->chained);
		if (bpf_probe_read_kernel(&ri, sizeof(ri), &ri->next))
			ri = NULL;
		if (!chained)
			break;
	}
	w->ri = (__u64)ri;
	return orig ? orig : ret;
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
	frame.ret = real_ret(w, frame.ret);
	w->sp = w->bp + 16;
	w->bp = frame.next;
	w->pc = frame.ret;
	w->last_fp = 1;
	push_frame(w, s, frame.ret);
}

/*
 * Finding the mapping and the CFI row of a return address takes two binary
 * searches. They run as phases of the walk's own bpf_loop, one step per
 * iteration, rather than as loops of their own (a plain loop makes the
 * verifier follow every path of every step; a nested bpf_loop adds a frame
 * and a callback on top of the walk's). WALK_FIND_MAP searches the
 * process's mappings for the last one starting at or before key,
 * WALK_FIND_ROW the mapping's table for the last row starting at or before
 * key; then the walk takes the frame (WALK_FRAME) with what was found.
 */
enum walk_phase {
	WALK_FRAME = 0,
	WALK_FIND_MAP,
	WALK_FIND_ROW,
};

/* Iterations a walk may take: per frame, the frame and both searches. */
#define WALK_STEPS (LW_MAX_STACK_DEPTH * (3 + LW_CFI_MAP_STEPS + LW_CFI_SEARCH_STEPS))

/* Makes row (and the next row's start, hi) the walk's last row. */
static __always_inline void set_row(struct walk *w, const struct lw_cfi_row *r, __u64 hi)
{
	w->row = *r;
	w->row_lo = r->off;
	w->row_hi = hi;
	w->have_row = 1;
}

static __always_inline struct unwind_hit *cache_slot(__u64 call)
{
	__u32 key = (__u32)((call * HASH_MUL) >> 52) & (UNWIND_CACHE_SLOTS - 1);

	return bpf_map_lookup_elem(&unwind_cache, &key);
}

/* A cached mapping and row for call, checked against the index now: sets
 * the walk's last ones, as the searches would have. */
static __always_inline bool cache_get(struct walk *w, __u64 call)
{
	struct lw_cfi_proc *proc = bpf_map_lookup_elem(&unwind_maps, &w->tgid);
	struct unwind_hit *hit = cache_slot(call);
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

/* Starts the search for the row of file offset off in the walk's mapping. */
static __always_inline void find_row(struct walk *w, __u64 off)
{
	w->phase = WALK_FIND_ROW;
	w->key = off;
	w->first = w->map.first_row;
	w->lo = 0;
	w->hi = w->map.nr_rows;
}

/* The mapping and row holding the walk's call: from the cache, else a
 * search starts (keep: the call lies in the walk's mapping, whose row does
 * not hold it). Returns whether they are known now. */
static __always_inline bool locate(struct walk *w, int keep)
{
	struct lw_cfi_proc *proc;

	if (cache_get(w, w->call))
		return true;
	w->have_row = 0;
	if (keep) {
		find_row(w, w->call - w->map.start + w->map.pgoff);
		return false;
	}
	w->have_map = 0;
	proc = bpf_map_lookup_elem(&unwind_maps, &w->tgid);
	if (!proc)
		return true; /* no mapping: the frame step says what follows */
	w->phase = WALK_FIND_MAP;
	w->key = w->call;
	w->lo = 0;
	w->hi = proc->nr < LW_CFI_MAX_MAPS ? proc->nr : LW_CFI_MAX_MAPS;
	return false;
}

/* One step of the mapping search; at its end, the mapping found (if any)
 * becomes the walk's, and the row search starts in it. */
static __always_inline void find_map_step(struct walk *w)
{
	struct lw_cfi_proc *proc = bpf_map_lookup_elem(&unwind_maps, &w->tgid);
	struct lw_cfi_map *m;
	__u32 mid;

	if (!proc) {
		w->phase = WALK_FRAME;
		return;
	}
	if (w->lo < w->hi) {
		mid = (w->lo + (w->hi - w->lo) / 2) & (LW_CFI_MAX_MAPS - 1);
		if (proc->maps[mid].start <= w->key)
			w->lo = mid + 1;
		else
			w->hi = mid;
		return;
	}
	w->phase = WALK_FRAME;
	if (!w->lo)
		return;
	m = &proc->maps[(w->lo - 1) & (LW_CFI_MAX_MAPS - 1)];
	if (w->call >= m->end)
		return;
	w->map = *m;
	w->map_idx = (w->lo - 1) & (LW_CFI_MAX_MAPS - 1);
	w->have_map = 1;
	if (m->kind == LW_UNWIND_CFI)
		find_row(w, w->call - m->start + m->pgoff);
}

/* One step of the row search; at its end, the row found (if any) becomes
 * the walk's and is remembered in the cache. */
static __always_inline void find_row_step(struct walk *w)
{
	struct lw_cfi_row *r, *next;
	struct unwind_hit *hit;
	__u32 idx;

	if (w->lo < w->hi) {
		idx = w->first + w->lo + (w->hi - w->lo) / 2;
		r = bpf_map_lookup_elem(&cfi_rows, &idx);
		if (!r)
			w->lo = w->hi = 0;
		else if (r->off <= w->key)
			w->lo = idx - w->first + 1;
		else
			w->hi = idx - w->first;
		return;
	}
	w->phase = WALK_FRAME;
	if (!w->lo)
		return;
	idx = w->first + w->lo;
	next = w->lo < w->map.nr_rows ? bpf_map_lookup_elem(&cfi_rows, &idx) : NULL;
	idx--;
	r = bpf_map_lookup_elem(&cfi_rows, &idx);
	if (!r)
		return;
	set_row(w, r, next ? next->off : w->key + 1);
	hit = cache_slot(w->call);
	if (hit) {
		hit->call = w->call;
		hit->map_idx = w->map_idx;
		hit->row = idx;
	}
}

/* One frame by CFI: from the return address pc and the registers the
 * callee left (sp, bp), the caller's. Returns false when this iteration
 * went to starting a search instead. */
static __always_inline bool cfi_step(struct walk *w, struct lw_stack *s)
{
	__u64 cfa, ret, bp, off;

	REFUSED_IN_TESTS(LW_PART_CFI_UNWIND);
	if (!w->located) {
		w->call = w->pc - 1;
		if (!w->have_map || w->call < w->map.start || w->call >= w->map.end) {
			if (!locate(w, 0))
				goto searching;
		} else if (w->map.kind == LW_UNWIND_CFI) {
			off = w->call - w->map.start + w->map.pgoff;
			if ((!w->have_row || off < w->row_lo || off >= w->row_hi) && !locate(w, 1))
				goto searching;
		}
	}
	w->located = 0;
	if (!w->have_map) {
		/* where frame pointers led, an unmapped address is their
		 * garbage; after a CFI step, code mapped since (dlopen) */
		w->status = w->last_fp ? WALK_DONE : WALK_PENDING;
		return true;
	}
	if (w->map.kind == LW_UNWIND_PENDING) {
		w->status = WALK_PENDING;
		return true;
	}
	if (w->map.kind != LW_UNWIND_CFI || !w->have_row || w->row.cfa == LW_CFA_NONE) {
		fp_step(w, s); /* code the CFI does not describe */
		return true;
	}
	if (w->row.cfa == LW_CFA_RSP) {
		cfa = w->sp + w->row.cfa_off;
	} else if (w->row.cfa == LW_CFA_RBP && w->bp_known) {
		cfa = w->bp + w->row.cfa_off;
	} else {
		/* LW_CFA_END: the outermost frame; LW_CFA_BAD: not followed */
		w->status = WALK_DONE;
		return true;
	}
	bp = w->bp;
	if (cfa <= w->sp || bpf_probe_read_user(&ret, sizeof(ret), (void *)(cfa - 8)) ||
	    (w->row.rbp == LW_RBP_AT &&
	     bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + w->row.rbp_off)))) {
		w->status = WALK_DONE;
		return true;
	}
	if (cfa - 8 == w->watch)
		w->watched = 1;
	ret = real_ret(w, ret);
	if (w->row.rbp == LW_RBP_LOST)
		w->bp_known = 0;
	w->bp = bp;
	w->sp = cfa;
	w->pc = ret;
	w->last_fp = 0;
	if (!ret) {
		w->status = WALK_DONE;
		return true;
	}
	push_frame(w, s, ret);
	return true;
searching:
	/* the frame is taken once the search ends, without looking again */
	w->located = 1;
	return false;
}

/* bpf_loop's step: a frame, or one step of a search. */
static long walk_step(__u32 i, void *unused)
{
	struct inflight *st = inflight_get(0);
	struct walk *w;

	if (!st || st->walk.status != WALK_ON)
		return 1;
	w = &st->walk;
	if (!unwind_cfi)
		fp_step(w, &st->stack);
	else if (w->phase == WALK_FIND_MAP)
		find_map_step(w);
	else if (w->phase == WALK_FIND_ROW)
		find_row_step(w);
	else
		cfi_step(w, &st->stack);
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

/*
 * Walks the user stack at an allocator's entry (ip 0; sp, bp: the
 * registers there) into the thread's stack scratch. The return address at
 * sp is the caller, read directly: the kernel's frame-pointer walk drops it
 * unless the probed function begins with push %rbp, and glibc's malloc
 * does not. Anywhere else in a function (ip: a faulting instruction,
 * --growth), the walk starts from ip itself, kept as ip + 1 so that every
 * frame is read alike, as the address after its call (the loader knows the
 * first frame of a growth stack is not one).
 * Frames from code without frame pointers come out wrong or short in a
 * frame-pointer walk; the loader validates each return address and marks
 * such stacks truncated. Returns WALK_DONE, or WALK_PENDING when the stack
 * cannot be kept (code whose table is not loaded yet), or -1 (no stack).
 */
static __always_inline int walk_stack(struct inflight *st, __u32 tgid, __u64 ip, __u64 sp,
				      __u64 bp)
{
	struct walk *w = &st->walk;
	struct lw_cfi_proc *proc;
	struct task_struct *task;
	struct xol_area *xol;
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
	w->phase = WALK_FRAME;
	w->located = 0;
	w->last_fp = 1;
	w->tramp = 0;
	w->ri = 0;
	task = bpf_get_current_task_btf();
	xol = task->mm ? task->mm->uprobes_state.xol_area : NULL;
	if (xol && task->utask) {
		w->tramp = xol->vaddr;
		w->ri = (__u64)task->utask->return_instances;
	}
	if (ip) {
		ret = ip + 1;
	} else if (bpf_probe_read_user(&ret, sizeof(ret), (void *)sp) || !ret) {
		return -1;
	}
	push_frame(w, &st->stack, ret);
	/* at the entry: the caller's frame is the stack above the return
	 * address, its rbp still in rbp; inside a function: its own frame */
	w->pc = ret;
	w->sp = ip ? sp : sp + 8;
	if (!unwind_cfi) {
		/* the frame's rbp chain starts at bp */
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
		bpf_loop(WALK_STEPS, walk_step, NULL, 0);
	else
		w->status = WALK_PENDING;
	if (w->status == WALK_PENDING) {
		ask_maps(bpf_map_lookup_elem(&unwind_maps, &tgid), tgid);
		return WALK_PENDING;
	}
	return WALK_DONE;
}

#endif /* LW_UNWIND_BPF_H */
