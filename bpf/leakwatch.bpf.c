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

/* Per thread: the outermost allocator call in flight. glibc's allocator
 * functions call each other (realloc(NULL, n) runs malloc, realloc(p, 0)
 * runs free); only the call the program made is counted. A call is nested
 * when its stack pointer lies below the outermost call's: this needs no
 * depth counter that a lost return could leave wrong. */
struct inflight {
	__u32 active;
	__u32 func;
	__u64 entry_sp;    /* sp at the outermost entry (points at its return address) */
	__u64 size;        /* bytes asked for */
	__u64 old_addr;    /* realloc: the block being resized */
	__u64 stack_id;
	__u32 old_found;   /* realloc: old_rec was removed from allocs at entry */
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

static __always_inline struct lw_stats *stats_of(__u32 tgid, __u64 stack_id)
{
	struct lw_stats_key key = { .tgid = tgid, .stack_id = stack_id };
	struct lw_stats zero = {}, *s;

	s = bpf_map_lookup_elem(&stats, &key);
	if (s)
		return s;
	bpf_map_update_elem(&stats, &key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&stats, &key);
}

/* Take a live allocation off its stack's outstanding totals. */
static __always_inline void release(__u32 tgid, const struct lw_alloc *rec)
{
	struct lw_stats *s = stats_of(tgid, rec->stack_id);

	if (!s)
		return;
	__sync_fetch_and_add(&s->outstanding_bytes, -(__s64)rec->size);
	__sync_fetch_and_add(&s->outstanding_allocs, -1);
	__sync_fetch_and_add(&s->total_frees, 1);
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
				   struct lw_proc_counters *c)
{
	struct lw_alloc_key key = { .tgid = tgid, .addr = addr };
	struct lw_alloc rec = { .size = size, .stack_id = stack_id };
	struct lw_alloc *stale;
	struct lw_stats *s;
	long err;

	s = stats_of(tgid, stack_id);
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
	__sync_fetch_and_add(&s->outstanding_bytes, (__s64)size);
	__sync_fetch_and_add(&s->outstanding_allocs, 1);
	__sync_fetch_and_add(&s->total_allocs, 1);
}

#define HASH_MUL 0x9e3779b97f4a7c15ULL

static __always_inline __u64 mix64(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/*
 * Walk the user stack at an allocator's entry. The return address at the
 * stack pointer is the caller, read directly: the kernel's frame-pointer
 * walk drops it unless the probed function begins with push %rbp, and
 * glibc's malloc does not. Then follow the caller's frame-pointer chain.
 * Frames from code without frame pointers come out wrong or short; the
 * loader validates each return address and marks such stacks truncated.
 */
static __always_inline __u64 capture_stack(struct pt_regs *ctx, struct lw_stack *s,
					   struct lw_proc_counters *c)
{
	__u64 sp = PT_REGS_SP(ctx), fp = PT_REGS_FP(ctx);
	__u64 h = 0xcbf29ce484222325ULL;
	__u32 chk = 0x84222325;
	struct { __u64 next; __u64 ret; } frame;
	struct lw_stack *known;
	__u64 ret, id;
	__u32 n = 1;
	long err;

	if (bpf_probe_read_user(&ret, sizeof(ret), (void *)sp) || !ret) {
		count_lost(c, LW_LOST_STACK_MISSING);
		return LW_STACK_NONE;
	}
	s->ips[0] = ret;
	h = (h ^ ret) * HASH_MUL;
	chk = (chk ^ (__u32)(ret >> 3)) * 0x01000193;

	for (int i = 1; i < LW_MAX_STACK_DEPTH; i++) {
		/* a frame lies above the stack pointer, aligned */
		if (fp <= sp || (fp & 7))
			break;
		if (bpf_probe_read_user(&frame, sizeof(frame), (void *)fp) || !frame.ret)
			break;
		s->ips[i] = frame.ret;
		h = (h ^ frame.ret) * HASH_MUL;
		chk = (chk ^ (__u32)(frame.ret >> 3)) * 0x01000193;
		n++;
		sp = fp;
		fp = frame.next;
	}
	s->nr = n;
	s->check = chk;
	id = mix64(h ^ n);
	if (id == LW_STACK_NONE)
		id = 1;

	known = bpf_map_lookup_elem(&stacks, &id);
	if (known) {
		if (known->nr != n || known->check != chk) {
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

static __always_inline int on_free(struct pt_regs *ctx, struct task_struct *task, __u32 tgid)
{
	__u64 addr = PT_REGS_PARM1(ctx);
	struct lw_proc_counters *c;
	struct inflight *st;
	struct lw_alloc rec;

	if (!addr)
		return 0;
	st = bpf_task_storage_get(&inflight, task, 0, 0);
	if (st && st->active && PT_REGS_SP(ctx) < st->entry_sp)
		return 0; /* inside realloc: the outer call accounts for it */
	c = proc_counters(tgid);
	if (c)
		__sync_fetch_and_add(&c->free_calls, 1);
	if (take(tgid, addr, &rec))
		release(tgid, &rec);
	else
		count_lost(c, LW_LOST_UNKNOWN_FREES);
	return 0;
}

SEC("uprobe.multi")
int alloc_enter(struct pt_regs *ctx)
{
	__u32 func = bpf_get_attach_cookie(ctx);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 sp = PT_REGS_SP(ctx), n, m;
	struct inflight *st;

	if (func == LW_FUNC_FREE)
		return on_free(ctx, task, tgid);

	st = bpf_task_storage_get(&inflight, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	if (st->active && sp < st->entry_sp)
		return 0; /* nested in an allocator call already in flight */

	st->active = 1;
	st->func = func;
	st->entry_sp = sp;
	st->old_addr = 0;
	st->old_found = 0;
	switch (func) {
	case LW_FUNC_MALLOC:
		st->size = PT_REGS_PARM1(ctx);
		break;
	case LW_FUNC_CALLOC:
		n = PT_REGS_PARM1(ctx);
		m = PT_REGS_PARM2(ctx);
		st->size = n * m;
		if ((n | m) >> 32 && m) {
			/* an overflowing product makes calloc fail, so nothing is
			 * recorded; the barrier keeps clang from turning the
			 * division into a 128-bit multiply BPF lacks */
			__u64 limit = ~0ULL / m;

			barrier_var(limit);
			if (n > limit)
				st->size = 0;
		}
		break;
	case LW_FUNC_REALLOC:
		st->old_addr = PT_REGS_PARM1(ctx);
		st->size = PT_REGS_PARM2(ctx);
		if (st->old_addr)
			st->old_found = take(tgid, st->old_addr, &st->old_rec);
		break;
	default:
		st->active = 0;
		return 0;
	}
	st->stack_id = capture_stack(ctx, &st->stack, proc_counters(tgid));
	return 0;
}

SEC("uretprobe.multi")
int alloc_exit(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 ret = PT_REGS_RC(ctx), sp = PT_REGS_SP(ctx);
	struct lw_proc_counters *c;
	struct inflight *st;
	bool freed_old = false;

	st = bpf_task_storage_get(&inflight, task, 0, 0);
	if (st && st->active && sp < st->entry_sp + 8)
		return 0; /* a nested call returning */
	c = proc_counters(tgid);
	if (!st || !st->active || sp != st->entry_sp + 8) {
		/* entered before the entry probes were in */
		count_lost(c, LW_LOST_UNATTACHED_WINDOW);
		if (st)
			st->active = 0;
		return 0;
	}
	st->active = 0;

	if (st->func == LW_FUNC_REALLOC && st->old_addr) {
		if (ret || st->size == 0) {
			freed_old = true; /* moved, resized, or realloc(p, 0) */
		} else if (st->old_found) {
			/* failed: the old block is still live, put it back */
			struct lw_alloc_key key = { .tgid = tgid, .addr = st->old_addr };

			bpf_map_update_elem(&allocs, &key, &st->old_rec, BPF_NOEXIST);
		}
	}
	if (freed_old && c) {
		__sync_fetch_and_add(&c->free_calls, 1);
		if (st->old_found)
			release(tgid, &st->old_rec);
		else
			count_lost(c, LW_LOST_UNKNOWN_FREES);
	}
	if (!ret)
		return 0;
	if (c)
		__sync_fetch_and_add(&c->alloc_calls, 1);
	record(tgid, ret, st->size, st->stack_id, c);
	return 0;
}
