/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --growth: memory growth without allocator probes (leakwatch.h, struct
 * lw_granule). A process's anonymous memory only grows by pages faulted
 * in, and a steady process faults rarely: the first write fault in each
 * granule walks the stack that made it resident; every later fault there
 * costs one lookup and a time stamp. What gives memory back (munmap,
 * madvise, brk, mremap) forgets the granules whose first page it covers,
 * and stamps those it takes only part of. The processes are the
 * ones in exec_watch (holds.bpf.h), children added at their fork: nothing
 * is attached per process. Included by leakwatch.bpf.c.
 */
#ifndef LW_GROWTH_BPF_H
#define LW_GROWTH_BPF_H

/* bytes per granule, a power of two; 0: not --growth (the loader sets it) */
const volatile __u64 growth_granule = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lw_alloc_key);
	__type(value, struct lw_granule);
	__uint(max_entries, 1); /* --max-allocs, set by the loader */
} granules SEC(".maps");

int capture_stack(__u32 tgid, __u64 ip, __u64 sp, __u64 bp);

#define X86_PF_WRITE 2
#define GROWTH_PAGE 4096ULL
#define USER_ADDR_END 0x800000000000ULL
/* granules a release walks one by one; a longer range is matched by a
 * scan of the map instead (a big reservation given back) */
#define GROWTH_WALK_MAX 65536

#define NR_MUNMAP 11
#define NR_BRK 12
#define NR_MREMAP 25
#define NR_MADVISE 28
#define MADV_DONTNEED 4
#define MADV_FREE 8
#define MADV_REMOVE 9
#define MADV_DONTNEED_LOCKED 24
#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2

static __always_inline bool growth_watched(__u32 tgid)
{
	__u32 *state = bpf_map_lookup_elem(&exec_watch, &tgid);

	return state && (*state & LW_EXEC_WATCHED);
}

static __always_inline __u64 granule_of(__u64 addr)
{
	return addr & ~(growth_granule - 1);
}

/* The first write in a granule of tgid's: its stack, and the record. A
 * global function: the walkers are checked once, on their own. */
__noinline int growth_first_touch(__u32 tgid, __u64 addr, __u64 ip, __u64 sp, __u64 bp)
{
	struct lw_proc_counters *c = proc_counters(tgid);
	struct inflight *st = inflight_get(BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct lw_alloc_key key = { .tgid = tgid, .addr = granule_of(addr) };
	struct lw_granule g = {};
	__u64 call_stack, call_watch;
	__u32 call_watched;
	int err;

	if (!st) {
		count_lost(c, LW_LOST_NO_THREAD_STATE);
		return 0;
	}
	/* a fault inside an allocator call that a --zoom window counts: what
	 * the call's return needs is put back */
	call_stack = st->stack_id;
	call_watch = st->watch;
	call_watched = st->watched;
	st->watch = 0;
	capture_stack(tgid, ip, sp, bp);
	g.stack_id = st->stack_id;
	st->stack_id = call_stack;
	st->watch = call_watch;
	st->watched = call_watched;
	g.time_ns = bpf_ktime_get_ns();
	g.touched_ns = g.time_ns;
	g.first_page = addr & ~(GROWTH_PAGE - 1);
	err = map_err(bpf_map_update_elem(&granules, &key, &g, BPF_NOEXIST));
	if (!err) {
		if (c)
			__sync_fetch_and_add(&c->granules_touched, 1);
	} else if (err != -EEXIST) {
		count_lost(c, LW_LOST_ALLOCS_MAP_FULL);
	}
	return 0;
}

/* A write fault at addr by the current process; regs: its user registers. */
static __always_inline int growth_fault(__u64 addr, struct pt_regs *regs, __u64 error_code)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct lw_alloc_key key = { .tgid = tgid, .addr = granule_of(addr) };
	struct lw_granule *g;

	if (!growth_granule || !(error_code & X86_PF_WRITE) || addr >= USER_ADDR_END ||
	    !growth_watched(tgid))
		return 0;
	g = bpf_map_lookup_elem(&granules, &key);
	if (g) {
		/* its first toucher is known: no walk, only a stamp */
		g->touched_ns = bpf_ktime_get_ns();
		return 0;
	}
	return growth_first_touch(tgid, addr, regs->ip, regs->sp, regs->bp);
}

/* A fault in user code (it fires before the fault is handled). */
SEC("tp_btf/page_fault_user")
int BPF_PROG(growth_fault_user, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	return growth_fault(address, regs, error_code);
}

/* The kernel writing to user memory for the process (read(2) into a fresh
 * buffer): the stack is the process's, at its system call. */
SEC("tp_btf/page_fault_kernel")
int BPF_PROG(growth_fault_kernel, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (task->flags & 0x00200000 /* PF_KTHREAD */)
		return 0;
	return growth_fault(address, (struct pt_regs *)bpf_task_pt_regs(task), error_code);
}

static __always_inline bool covers(const struct growth_range *r, const struct lw_granule *g)
{
	return g->first_page >= r->start && g->first_page < r->end;
}

/* bpf_loop's step: granule i of the thread's range. */
static long release_step(__u32 i, void *unused)
{
	struct inflight *st = inflight_get(0);
	struct lw_alloc_key key = {}, to = {};
	struct lw_granule *g, moved;
	struct growth_range *r;

	if (!st)
		return 1;
	r = &st->range;
	key.tgid = r->tgid;
	key.addr = r->first + (__u64)i * growth_granule;
	g = bpf_map_lookup_elem(&granules, &key);
	if (!g)
		return 0;
	if (!covers(r, g)) {
		/* at an end of the range: it keeps its pages outside */
		g->touched_ns = bpf_ktime_get_ns();
		return 0;
	}
	if (r->to) {
		moved = *g;
		moved.first_page = g->first_page - r->start + r->to;
		to.tgid = r->tgid;
		to.addr = granule_of(moved.first_page);
		if (bpf_map_update_elem(&granules, &to, &moved, BPF_NOEXIST))
			r->unmatched++;
	}
	if (!bpf_map_delete_elem(&granules, &key))
		r->done++;
	return 0;
}

/* for_each's step: every granule of the map, those of the range forgotten. */
static long release_scan(struct bpf_map *map, struct lw_alloc_key *key, struct lw_granule *g,
			 void *unused)
{
	struct inflight *st = inflight_get(0);

	if (!st || key->tgid != st->range.tgid || key->addr >= st->range.end ||
	    key->addr + growth_granule <= st->range.start)
		return 0;
	if (!covers(&st->range, g))
		g->touched_ns = bpf_ktime_get_ns(); /* at an end of the range */
	else if (!bpf_map_delete_elem(map, key))
		st->range.done++;
	return 0;
}

/* Forgets tgid's granules first touched in [start, start + len), or with
 * to, moves them there (mremap). A global function, checked once. */
__noinline int growth_release(__u32 tgid, __u64 start, __u64 len, __u64 to)
{
	struct inflight *st = inflight_get(BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct lw_proc_counters *c = bpf_map_lookup_elem(&procs, &tgid);
	__u64 n, done, unmatched;

	if (!st || !len || start + len < start || !growth_granule)
		return 0;
	st->range.tgid = tgid;
	st->range.start = start;
	st->range.end = start + len;
	st->range.to = to;
	st->range.done = 0;
	st->range.unmatched = 0;
	st->range.first = granule_of(start);
	n = (granule_of(start + len - 1) - st->range.first) / growth_granule + 1;
	if (n <= GROWTH_WALK_MAX) {
		bpf_loop(n, release_step, NULL, 0);
	} else {
		st->range.unmatched = to ? n : 0; /* too long to move: forgotten */
		bpf_for_each_map_elem(&granules, release_scan, NULL, 0);
	}
	done = st->range.done;
	unmatched = st->range.unmatched;
	if (c) {
		/* a huge page split by the call changes its granule's count
		 * even where no granule of the range is recorded */
		c->released_ns = bpf_ktime_get_ns();
		if (!to)
			__sync_fetch_and_add(&c->granules_given_back, done);
		if (unmatched)
			__sync_fetch_and_add(&c->lost[LW_LOST_UNKNOWN_FREES], unmatched);
	}
	return 0;
}

/* System calls that give memory back, at their entry: every system call
 * of the machine passes here, so the number is checked first. */
SEC("tp_btf/sys_enter")
int BPF_PROG(growth_syscall, struct pt_regs *regs, long id)
{
	__u32 tgid;
	__u64 a0, a1, a2, a3;

	if (id != NR_MUNMAP && id != NR_MADVISE && id != NR_BRK && id != NR_MREMAP)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!growth_granule || !growth_watched(tgid))
		return 0;
	a0 = regs->di;
	a1 = regs->si;
	a2 = regs->dx;
	a3 = regs->r10;
	switch (id) {
	case NR_MUNMAP:
		return growth_release(tgid, a0, a1, 0);
	case NR_MADVISE:
		if (a2 == MADV_DONTNEED || a2 == MADV_FREE || a2 == MADV_REMOVE ||
		    a2 == MADV_DONTNEED_LOCKED)
			return growth_release(tgid, a0, a1, 0);
		return 0;
	case NR_BRK: {
		struct task_struct *task = bpf_get_current_task_btf();
		__u64 brk = task->mm->brk, to = (a0 + GROWTH_PAGE - 1) & ~(GROWTH_PAGE - 1);

		/* the heap's end moving down gives back what lies above it */
		if (a0 && to < brk)
			return growth_release(tgid, to, brk - to, 0);
		return 0;
	}
	case NR_MREMAP: {
		struct inflight *st;

		/* shrinking gives back the tail now; a move is seen at the exit */
		if (a2 < a1)
			growth_release(tgid, a0 + a2, a1 - a2, 0);
		if (!(a3 & (MREMAP_MAYMOVE | MREMAP_FIXED)))
			return 0;
		st = inflight_get(BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (st) {
			st->remap_old = a0;
			st->remap_len = a2 < a1 ? a2 : a1;
		}
		return 0;
	}
	}
	return 0;
}

/* mremap's return: where the pages went, when they moved. */
SEC("tp_btf/sys_exit")
int BPF_PROG(growth_syscall_exit, struct pt_regs *regs, long ret)
{
	struct inflight *st;
	__u32 tgid;

	if (regs->orig_ax != NR_MREMAP)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!growth_granule || !growth_watched(tgid))
		return 0;
	st = inflight_get(0);
	if (!st || !st->remap_old)
		return 0;
	if ((__u64)ret != st->remap_old && (__u64)ret < (__u64)-4095)
		growth_release(tgid, st->remap_old, st->remap_len, ret);
	st->remap_old = 0;
	return 0;
}

#endif /* LW_GROWTH_BPF_H */
