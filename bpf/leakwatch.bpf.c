// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * leakwatch's kernel side: uprobes on the target's allocator keep, per
 * process, every live allocation and the outstanding bytes of each call
 * stack; the loader reads the aggregates. Events go to the loader only for
 * what it must act on at once (forks, execs, holds, unknown code).
 *
 * One entry program and one return program serve every allocator function;
 * the attach cookie says which function fired (enum lw_func). The parts
 * they use are one file each, included below; common.bpf.h says how they
 * are built to pass every kernel's verifier.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "leakwatch.h"
#include "common.bpf.h"
#include "accounting.bpf.h"
#include "regions.bpf.h"
#include "unwind.bpf.h"
#include "python.bpf.h"
#include "python_gc.bpf.h"
#include "verify.bpf.h"
#include "holds.bpf.h"
#include "growth.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline __u64 mix64(__u64 h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/*
 * The stack of the thread's allocator call in flight (ip 0; sp, bp: the
 * registers at its entry), or of its instruction at ip (a page fault,
 * growth.bpf.h), its Python frames mixed in: kept in stacks under its id,
 * which goes to st->stack_id (LW_STACK_NONE when it could not be kept). A
 * global function: the verifier checks the walkers once, on their own,
 * whatever the paths of the program calling it.
 */
__noinline int capture_stack(__u32 tgid, __u64 ip, __u64 sp, __u64 bp)
{
	struct lw_proc_counters *c = proc_counters(tgid);
	struct inflight *st = inflight_get(0);
	struct lw_stack *known;
	int status, python = 0;
	__u64 id;
	int err; /* an int: see map_err() */

	if (!st) {
		count_lost(c, LW_LOST_NO_THREAD_STATE);
		return 0;
	}
	st->stack_id = LW_STACK_NONE;
	status = walk_stack(st, tgid, ip, sp, bp);
	if (status < 0) {
		count_lost(c, LW_LOST_STACK_MISSING);
		return 0;
	}
	if (status == WALK_PENDING) {
		count_lost(c, LW_LOST_UNWIND_PENDING);
		return 0;
	}
	st->watched = st->walk.watched;
	if (walk_python)
		python = py_walk(tgid); /* Python frames are part of the stack */
	st->stack.nr = st->walk.n;
	st->stack.check = st->walk.chk;
	id = mix64(st->walk.h ^ st->walk.n);
	if (id == LW_STACK_NONE)
		id = 1;
	if (python)
		py_keep(tgid, id);

	known = bpf_map_lookup_elem(&stacks, &id);
	if (known) {
		if (known->nr != st->stack.nr || known->check != st->stack.check) {
			count_lost(c, LW_LOST_STACK_COLLISION);
			return 0;
		}
		st->stack_id = id;
		return 0;
	}
	err = map_err(bpf_map_update_elem(&stacks, &id, &st->stack, BPF_NOEXIST));
	if (err && err != -EEXIST) {
		count_lost(c, LW_LOST_STACK_MISSING);
		return 0;
	}
	st->stack_id = id;
	return 0;
}

/* capture_stack, and every verify_every'th time, the copy for the
 * loader's check. */
static __always_inline void take_stack(struct pt_regs *ctx, struct inflight *st, __u32 tgid)
{
	capture_stack(tgid, 0, PT_REGS_SP(ctx), PT_REGS_FP(ctx));
	if (verify_every && st->stack_id != LW_STACK_NONE &&
	    ++st->verify_countdown >= verify_every) {
		st->verify_countdown = 0;
		verify_regs(st, ctx);
		verify_send(tgid);
	}
}

/* Inside an allocator call already in flight on this thread? Called from
 * it, or jumped to (sp equal: one probed function tail-calling another,
 * as jemalloc's new[] does new). A pending operator new frees nothing. */
static __always_inline bool nested(const struct inflight *st, __u64 sp)
{
	return st && st->active && sp <= st->entry_sp && st->func != LW_FUNC_NEW;
}

/* A free (or delete) of addr entered with stack pointer sp. A global
 * function: its records stay off the entry program's stack. */
__noinline int on_free(__u32 tgid, __u64 addr, __u64 sp, int is_delete)
{
	struct lw_proc_counters *c;
	struct inflight *st;
	struct lw_alloc rec;

	if (!addr)
		return 0;
	st = inflight_get(BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (nested(st, sp))
		return 0; /* inside realloc: the outer call accounts for it */
	if (st) {
		st->free_sp = sp;
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
	case LW_FUNC_GC:
	case LW_FUNC_GC_START:
		return walk_python ? gc_begin(tgid) : 0;
	case LW_FUNC_GC_DONE:
		return walk_python ? gc_end(tgid) : 0;
	case LW_FUNC_FREE:
	case LW_FUNC_DELETE:
		/* pymalloc's free hands large blocks on to free(): a delete */
		return on_free(tgid, arg1, sp, func == LW_FUNC_DELETE || category == LW_CAT_PYTHON);
	case LW_FUNC_MUNMAP:
		return on_munmap(ctx, task, tgid);
	}

	st = bpf_task_storage_get(&inflight, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count_lost(proc_counters(tgid), LW_LOST_NO_THREAD_STATE);
		return 0;
	}
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
	st->stack_id = LW_STACK_NONE;
	if (st->sampled)
		take_stack(ctx, st, tgid);
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
			record(tgid, ret);
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
		record(tgid, ret);
}

SEC("uretprobe.multi")
int alloc_exit(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 ret = PT_REGS_RC(ctx), sp = PT_REGS_SP(ctx), addr = 0;
	struct lw_proc_counters *c;
	struct inflight *st;

	/* the collector's return: no allocator call of the thread's */
	if (walk_python && LW_COOKIE_FUNC(bpf_get_attach_cookie(ctx)) == LW_FUNC_GC)
		return gc_end(tgid);
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
		record(tgid, ret);
	return 0;
}

/* Empty programs for the benchmark's floors: what the probes alone cost.
 * The loader loads them only for the benchmark. */
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
