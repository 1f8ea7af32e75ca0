/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every part of the BPF side shares: the loader's settings, the
 * thread's allocator call in flight, the per-process counters and the
 * events ring buffer. Included by leakwatch.bpf.c, before the parts.
 *
 * How the parts are built so that every kernel's verifier accepts them
 * with room to spare (6.1 to 6.18):
 * - Each part that walks or loops is a global function (__noinline,
 *   not static): the verifier checks it once, on its own, with only
 *   scalar arguments, instead of once per path of the program calling it.
 * - bpf_loop callbacks keep their state in task storage and look it up
 *   again at every step. Nothing on the stack crosses an iteration, so no
 *   verifier has a pointer to lose or a changing scalar to follow from one
 *   iteration to the next.
 * - Large scratch lives in task storage (per thread: an uprobe_multi
 *   program may be preempted, so per-CPU scratch could be clobbered).
 * - A part that is off (rodata below) is dead code the verifier removes
 *   unread: it is never checked on that kernel, so it cannot fail there.
 */
#ifndef LW_COMMON_BPF_H
#define LW_COMMON_BPF_H

#ifndef EEXIST
#define EEXIST 17
#endif

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
const volatile __u64 sample_bytes = 0;
/* length of an age epoch (leakwatch.h); the loader sets the report interval */
const volatile __u64 age_epoch_ns = 1000000000;
/* the CFI unwinder (unwind.bpf.h): --unwind cfi or auto */
const volatile __u32 unwind_cfi = 0;
/* Python frames (python.bpf.h): off with --no-python */
const volatile __u32 walk_python = 0;
/* --verify-stacks N (verify.bpf.h); 0: off */
const volatile __u32 verify_every = 0;

/* Tests only (the hidden --refuse PART): 1 + the enum lw_part whose code
 * reads through a number, which every verifier refuses, so that leaving a
 * refused part out is tested against a real verifier. Dead code at 0. */
const volatile __u32 test_refuse = 0;
#define REFUSED_IN_TESTS(part)                                                   \
	do {                                                                     \
		if (test_refuse == (part) + 1)                                   \
			(void)*(volatile __u64 *)(unsigned long)test_refuse;     \
	} while (0)

#define HASH_MUL 0x9e3779b97f4a7c15ULL

/* A map update's error, from its low 32 bits. The verifier turns the
 * helper into a direct call of the map's own function, which returned int
 * until the kernel's "bpf: return long from bpf_map_ops funcs": on Debian's
 * 6.1, -EEXIST comes back as 0xffffffef, not sign-extended, and a 64-bit
 * compare misses it (measured). */
static __always_inline int map_err(long ret)
{
	return (int)ret;
}

enum walk_status {
	WALK_ON = 0,
	WALK_DONE,    /* the outermost frame, or the walk cannot go on */
	WALK_PENDING, /* code without a table yet: the stack is not kept */
};

/* A stack walk (unwind.bpf.h), in the thread's storage: bpf_loop's steps
 * read and write it there. The mapping and row last found are copies, so
 * a step that stays in them needs no lookup. */
struct walk {
	__u64 pc, sp, bp;
	__u64 h;
	__u64 watch;           /* a stack slot to look out for, or 0 */
	__u32 chk, n;
	__u32 tgid;
	__u32 bp_known;
	__u32 status;          /* enum walk_status */
	__u32 last_fp;         /* the frame just taken came from frame pointers */
	__u32 watched;         /* a frame's return address was read at watch */
	__u32 have_map, have_row;
	__u32 map_idx;         /* map's index in the process's maps */
	struct lw_cfi_map map;
	struct lw_cfi_row row;
	__u64 row_lo, row_hi;  /* file offsets the row covers, in map */
	/* finding the mapping and row of call (unwind.bpf.h): the phase, and
	 * a binary search in progress over [lo, hi) for key */
	__u64 call;
	__u64 key;
	__u32 first, lo, hi;
	__u32 phase;           /* enum walk_phase */
	__u32 located;         /* the search for call is over: take the frame */
	__u32 pad;
	/* return addresses a uretprobe took (unwind.bpf.h, real_ret): its
	 * trampoline's address, and the next of the thread's return
	 * instances, which hold the real ones, innermost first */
	__u64 tramp, ri;
};

/* --growth: a range given back (or moved), in the thread's storage while
 * bpf_loop walks its granules (growth.bpf.h). */
struct growth_range {
	__u32 tgid;
	__u32 pad;
	__u64 start, end;   /* [start, end): the pages given back */
	__u64 first;        /* the first granule's start */
	__u64 to;           /* mremap: where start moved to; 0: forgotten */
	__u64 done;         /* granules forgotten or moved */
	__u64 unmatched;    /* granules that could not move (the new place was taken) */
};

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
	/* --growth: an mremap in flight, its old range, and a range's walk
	 * (growth.bpf.h) */
	__u64 remap_old, remap_len;
	struct growth_range range;
	struct lw_alloc old_rec;
	struct walk walk;
	/* the registers at the probe, for --verify-stacks (verify.bpf.h) */
	__u64 regs[LW_VERIFY_REGS];
	struct lw_stack stack; /* the stack walked: per thread, so no other
				* CPU or preempting task can clobber it */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} inflight SEC(".maps");

/* The calling thread's call in flight, or NULL. */
static __always_inline struct inflight *inflight_get(__u64 flags)
{
	return bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, flags);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct lw_proc_counters);
	__uint(max_entries, 4096);
} procs SEC(".maps");

/* A new process's counters start here (kept off the BPF stack; never written). */
static struct lw_proc_counters zero_counters;

static __always_inline struct lw_proc_counters *proc_counters(__u32 tgid)
{
	struct lw_proc_counters *c;

	c = bpf_map_lookup_elem(&procs, &tgid);
	if (c)
		return c;
	bpf_map_update_elem(&procs, &tgid, &zero_counters, BPF_NOEXIST);
	return bpf_map_lookup_elem(&procs, &tgid);
}

static __always_inline void count_lost(struct lw_proc_counters *c, int why)
{
	if (c && why >= 0 && why < LW_LOST_NR)
		__sync_fetch_and_add(&c->lost[why], 1);
}

/* What the loader must act on at once (it sleeps on this): forks, execs,
 * holds, and the unwinder's requests for a process's mappings. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

#endif /* LW_COMMON_BPF_H */
