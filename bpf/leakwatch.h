/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Layouts shared by bpf/leakwatch.bpf.c and the loader: every map key and
 * value, and the limits both sides agree on. Fixed-width types only, no
 * pointers, nothing kernel-only.
 */
#ifndef LEAKWATCH_H
#define LEAKWATCH_H

#ifndef __VMLINUX_H__
#include <linux/types.h> /* user space; BPF gets these from vmlinux.h */
#endif

/* Frames kept per stack: the allocator's caller plus up to 126 callers. */
#define LW_MAX_STACK_DEPTH 127

/* What a probed function does, by its arguments; the value is the probe's
 * BPF cookie, so one program serves every function and a new entry point
 * is a row in the loader's table (and a case here when its arguments are
 * new). */
enum lw_func {
	LW_FUNC_MALLOC = 1,     /* (size): malloc, valloc, pvalloc, operator new, new[] */
	LW_FUNC_CALLOC,         /* (n, size) */
	LW_FUNC_REALLOC,        /* (ptr, size) */
	LW_FUNC_REALLOCARRAY,   /* (ptr, n, size) */
	LW_FUNC_MEMALIGN,       /* (align, size): memalign, aligned_alloc */
	LW_FUNC_POSIX_MEMALIGN, /* (void **out, align, size) -> 0 or an errno */
	LW_FUNC_FREE,           /* (ptr): free */
	LW_FUNC_DELETE,         /* (ptr, ...): operator delete, delete[]; may run free */
	LW_FUNC_MMAP,           /* (addr, len, prot, flags, fd, off) */
	LW_FUNC_MUNMAP,         /* (addr, len) */
	LW_FUNC_MREMAP,         /* (old, old_len, new_len, flags, ...) */
	LW_FUNC_NEW,            /* (size, ...): libstdc++'s operator new, entry only (below) */
	LW_FUNC_FINALIZE,       /* CPython's Py_FinalizeEx, entry only: the program
				 * starts tearing itself down (LW_EVENT_FINALIZE) */
	LW_FUNC_PYMAIN,         /* CPython's Py_RunMain, entry only: the interpreter
				 * is up, the program about to run (LW_EVENT_PYMAIN) */
	LW_FUNC_GC,             /* CPython's collector (gc_collect_main): entry and
				 * return bracket one collection (bpf/python_gc.bpf.h) */
	LW_FUNC_GC_START,       /* its USDT probe python:gc__start, entry only */
	LW_FUNC_GC_DONE,        /* python:gc__done, entry only */
	LW_FUNC_NR,
};

/*
 * A cookie is the lw_func in its low byte, LW_COOKIE_PYMALLOC or 0 in the
 * next, and for LW_FUNC_NEW the function's size in bytes above them. Operator new may throw, and an exception cannot
 * unwind through a return probe (the unwinder finds no frame info for the
 * trampoline and terminates the program), so libstdc++'s operator new gets
 * no return probe: its entry notes the size and the caller's stack, and the
 * malloc (or aligned_alloc) it calls from within its own body returns the
 * block on its behalf.
 */
#define LW_COOKIE(func, size) ((__u64)(func) | (__u64)(size) << 16)
#define LW_COOKIE_FUNC(c) ((__u32)((c) & 0xff))
#define LW_COOKIE_SIZE(c) ((__u64)(c) >> 16)
/* One of CPython's object allocator functions (pymalloc's, found through
 * the interpreter's allocator table): its first argument is the table's
 * context, the rest are malloc's, calloc's, realloc's or free's; what it
 * hands out is counted in LW_CAT_PYTHON. */
#define LW_COOKIE_PYMALLOC ((__u64)1 << 8)

/* What kind of memory a stack holds; part of the per-stack key. */
enum lw_category {
	LW_CAT_MALLOC = 0, /* the C and C++ allocators */
	LW_CAT_MMAP = 1,   /* anonymous mappings the program made itself */
	LW_CAT_PYTHON = 2, /* CPython's allocator: its objects, or pymalloc's arenas */
	LW_CAT_RESIDENT = 3, /* --growth: anonymous pages made resident (growth.bpf.h) */
	LW_CAT_NR,
};

/* Why something could not be recorded; index into lw_proc_counters.lost.
 * The names in JSON totals.lost come from the loader's table for these. */
enum lw_lost {
	LW_LOST_ALLOCS_MAP_FULL,   /* per-allocation map full: allocation not tracked */
	LW_LOST_STACK_MISSING,     /* no stack read, or stack map full: kept under stack 0 */
	LW_LOST_STACK_COLLISION,   /* two stacks hashed alike: kept under stack 0 */
	LW_LOST_UNKNOWN_FREES,     /* free of an address not tracked (e.g. allocated before attach) */
	LW_LOST_UNATTACHED_WINDOW, /* a return seen without its entry (attach race), or a
				    * child that ran before its probes were in */
	LW_LOST_STATS_MAP_FULL,    /* per-stack map full: allocation not tracked */
	LW_LOST_UNWIND_PENDING,    /* the CFI unwinder met code whose table is not
				    * loaded yet: kept under stack 0, never under a
				    * wrong stack */
	LW_LOST_NO_THREAD_STATE,   /* the kernel gave no per-thread state (its task
				    * storage refused the lookup): the call was not seen */
	LW_LOST_NR,
};

/* Parts of leakwatch a kernel's verifier may refuse, each left out alone
 * (the rest is the core); the loader names them in the report. */
enum lw_part {
	LW_PART_VERIFY_STACKS, /* --verify-stacks */
	LW_PART_PYTHON_WALK,   /* Python frames in stacks */
	LW_PART_CFI_UNWIND,    /* CFI unwinding (frame pointers remain) */
	LW_PART_FOLLOW,        /* following forks and execs (sched tracepoints) */
	LW_PART_COMMAND_HOLD,  /* holding a started command before its first instruction */
	LW_PART_NR,
};

/* exec_watch values: flags */
#define LW_EXEC_WATCHED 1  /* stop it when it execs */
#define LW_EXEC_SEEN 2     /* it exec'd and is stopped for the loader */
#define LW_FOLLOW_FORKS 4  /* its children are watched too, with these flags */
#define LW_EXEC_HELD 8     /* stopped by leakwatch (at fork, or a command at its
			    * start) and not continued yet: with LW_EXEC_SEEN,
			    * what is continued if leakwatch ends first */
#define LW_HOLD_AT_SYSCALL 16 /* a child forked where its parent cannot stop it
			       * (before Linux 6.13): it stops itself at its
			       * first system call, which glibc's fork makes
			       * in the child before returning */

/* What the loader must act on at once, through the events ring buffer. */
enum lw_event_kind {
	LW_EVENT_FORK = 1, /* a watched process forked; the child is stopped */
	LW_EVENT_EXEC,     /* a watched process exec'd and is stopped */
	LW_EVENT_MAPS,     /* the unwinder met code it has no table for: read
			    * the process's mappings again (dlopen) */
	LW_EVENT_FINALIZE, /* a watched interpreter began finalizing and is
			    * stopped: its counts are kept as they are now */
	LW_EVENT_PYMAIN,   /* an interpreter is up and about to run the program,
			    * stopped: its frames can be walked from here */
};

struct lw_event {
	__u32 kind;
	__u32 pid;         /* the child, or the process that exec'd */
	__u32 parent;      /* LW_EVENT_FORK: the process that forked */
	__u32 held;        /* the process is stopped until the loader continues it */
};

/* Stack id 0 holds allocations whose stack could not be kept. */
#define LW_STACK_NONE 0

/* allocs: one live allocation, keyed by (tgid, address); mmaps: one
 * anonymous mapping, keyed by (tgid, start). */
struct lw_alloc_key {
	__u32 tgid;
	__u32 pad;
	__u64 addr;
};

struct lw_alloc {
	__u64 size;      /* bytes the program asked for */
	__u64 stack_id;  /* key into stacks, or LW_STACK_NONE */
	__u64 time_ns;   /* CLOCK_MONOTONIC at allocation */
	__u32 category;  /* enum lw_category: LW_CAT_MALLOC, or LW_CAT_PYTHON */
	__u32 pad;
};

struct lw_region {
	__u64 size;      /* bytes asked for that are still mapped */
	__u64 len;       /* bytes mapped from the start: size rounded up to pages */
	__u64 stack_id;
	__u64 time_ns;
	__u32 category;  /* enum lw_category: LW_CAT_MMAP, or LW_CAT_PYTHON for an arena */
	__u32 pad;
};

/* stacks: the frames of one user stack, keyed by a hash of its addresses.
 * check is a second, independent hash: a lookup whose nr or check differs
 * is a collision and is not misattributed. */
struct lw_stack {
	__u32 nr;
	__u32 check;
	__u64 ips[LW_MAX_STACK_DEPTH];
};

/* stats: outstanding memory per (tgid, stack). Signed, 64-bit: never wraps,
 * and a transient negative (a free racing its allocation's accounting) is
 * visible rather than a huge number. */
struct lw_stats_key {
	__u32 tgid;
	__u32 category; /* enum lw_category */
	__u64 stack_id;
};

/*
 * Ages of outstanding bytes, per stack, without walking live allocations:
 * time is cut into epochs (age_epoch_ns, set by the loader to the report
 * interval), and each stack keeps the bytes allocated in each of its last
 * LW_AGE_SLOTS epochs, in slot epoch % LW_AGE_SLOTS, plus those older.
 * A slot reused for a new epoch first moves its bytes to the older ones.
 */
#define LW_AGE_SLOTS 16

struct lw_stats {
	__s64 outstanding_bytes;  /* estimates when sampling (scaled by each block's weight) */
	__s64 outstanding_allocs; /* in 1/LW_ONE units: a sampled block may stand for a fraction */
	__u64 total_allocs;       /* blocks recorded, and freed, since attach (not scaled) */
	__u64 total_frees;
	__s64 age_bytes[LW_AGE_SLOTS];  /* outstanding bytes allocated in age_epoch[i] */
	__u64 age_epoch[LW_AGE_SLOTS];
	__s64 older_bytes;              /* allocated before any epoch held in a slot */
};

/* One allocation in lw_stats.outstanding_allocs. */
#define LW_ONE 1024

/* procs: per-process call and loss counters, keyed by tgid. */
struct lw_proc_counters {
	__u64 alloc_calls;  /* outermost allocations that returned memory */
	__u64 free_calls;   /* frees of non-NULL pointers (realloc's included) */
	__s64 live_regions; /* tracked anonymous mappings: munmap's scan skips at 0 */
	__u64 lost[LW_LOST_NR];
	__u64 granules_touched;    /* --growth: granules first touched */
	__u64 granules_given_back; /* --growth: forgotten by munmap, madvise, brk */
	__u64 released_ns;         /* --growth: the last of those calls (CLOCK_MONOTONIC) */
};


/*
 * --growth (bpf/growth.bpf.h): no allocator probes. A process's anonymous
 * memory is cut into granules (growth_granule bytes, a power of two); the
 * first write fault in a granule records the stack that made it resident,
 * keyed by (tgid, granule start) in lw_alloc_key. The loader reads which
 * pages of each granule are resident now (/proc/PID/pagemap) and counts
 * them to that stack. munmap, madvise(DONTNEED, FREE, REMOVE), brk
 * shrinking and mremap forget (or move) the granules whose first page they
 * give back, so the next toucher of that memory owns it.
 */
struct lw_granule {
	__u64 stack_id;   /* key into stacks, or LW_STACK_NONE */
	__u64 time_ns;    /* CLOCK_MONOTONIC at the first touch */
	__u64 first_page; /* the page whose fault recorded it */
	/* the last fault in it, or a release taking part of it: the loader
	 * reads again only the granules changed since it last read them */
	__u64 touched_ns;
};

/*
 * CFI unwinding (userspace/symbols/cfi.h builds the tables, the BPF unwinder reads
 * them). A module's table is its rows sorted by off; a row holds from its
 * off to the next row's. Offsets are file offsets, as return addresses map
 * to them through /proc/PID/maps (addr - start + pgoff), so the table does
 * not depend on where a process loaded the file. On x86-64 the return
 * address is always at CFA - 8 (rows where it is not are LW_CFA_BAD).
 */
enum lw_cfa {
	LW_CFA_NONE = 0, /* no CFI covers this code: frame pointers, if any */
	LW_CFA_RSP,      /* CFA = rsp + cfa_off */
	LW_CFA_RBP,      /* CFA = rbp + cfa_off */
	LW_CFA_END,      /* the return address is undefined: the outermost frame */
	LW_CFA_BAD,      /* a rule the unwinder does not follow (an expression) */
};

enum lw_rbp {
	LW_RBP_SAME = 0, /* the caller's rbp is rbp */
	LW_RBP_AT,       /* saved at CFA + rbp_off */
	LW_RBP_LOST,     /* undefined or by a rule not followed: unknown */
};

struct lw_cfi_row {
	__u32 off;     /* file offset where the row starts */
	__s32 cfa_off;
	__s16 rbp_off;
	__u8 cfa;      /* enum lw_cfa */
	__u8 rbp;      /* enum lw_rbp */
};

/* Rows searched per frame: tables up to 2^LW_CFI_SEARCH_STEPS rows. */
#define LW_CFI_SEARCH_STEPS 20
/* Executable mappings per process the unwinder knows (searched, sorted). */
#define LW_CFI_MAX_MAPS 256
#define LW_CFI_MAP_STEPS 8

/* How the unwinder serves one executable mapping. */
enum lw_unwind_kind {
	LW_UNWIND_FP = 0,  /* frame pointers (no CFI, or --unwind fp) */
	LW_UNWIND_CFI,     /* rows first_row .. first_row + nr_rows of cfi_rows */
	LW_UNWIND_PENDING, /* its table is not loaded yet: the stack is not kept */
};

struct lw_cfi_map {
	__u64 start, end;  /* addresses, [start, end) */
	__u64 pgoff;       /* file offset of start */
	__u32 first_row;
	__u32 nr_rows;
	__u32 kind;        /* enum lw_unwind_kind */
	__u32 pad;
};

/* unwind_maps: per tgid, its executable mappings sorted by start. */
struct lw_cfi_proc {
	__u32 nr;
	__u32 asked;       /* a miss was reported to the loader, not yet served */
	struct lw_cfi_map maps[LW_CFI_MAX_MAPS];
};

/*
 * --verify-stacks: every Nth recorded allocation also sends the registers
 * at the probe and a copy of the stack from sp, with the stack the BPF
 * unwinder took, for the loader to unwind again with libdw and compare.
 * Pages that cannot be read (never touched) are left zero.
 */
#define LW_VERIFY_STACK_BYTES 16384

/* Registers in DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8-r15 rip. */
#define LW_VERIFY_REGS 17

struct lw_verify {
	__u32 tgid, tid;
	__u32 nr;                       /* frames in ips */
	__u32 pad;
	__u64 regs[LW_VERIFY_REGS];
	__u64 stack_len;                /* bytes of stack from regs[7] (sp) */
	__u64 ips[LW_MAX_STACK_DEPTH];  /* the BPF unwinder's stack */
	__u8 stack[LW_VERIFY_STACK_BYTES + 4096]; /* slack: see the copy */
};

/*
 * Python frames (bpf/python.bpf.h walks them; userspace/stacks/python.h says what
 * each offset is). py_procs: per tgid, what the loader found when it
 * opened the interpreter; the counters are the walker's.
 */
#define LW_PY_MAX_FRAMES 32
#define LW_PY_NONE 0xffffffffu /* no such field in this version */
#define LW_PY_FRAME_BYTES 128  /* a frame's fields all lie in its first bytes */
#define LW_PY_TSD_KEYS 1024    /* glibc's PTHREAD_KEYS_MAX */

struct lw_py_proc {
	__u64 tss_addr;             /* _PyRuntime's autoTSSkey: Py_tss_t {int init; u32 key} */
	__u32 tss_slot_off;         /* thread pointer + this + 16 * key: the thread's tstate
				     * (key < 32; above, glibc's second level) */
	__u32 interp_frames;        /* 1: _PyInterpreterFrame (3.11+) */
	__u32 tstate_frame;
	__u32 cframe_current_frame; /* LW_PY_NONE: tstate_frame is the frame */
	__u32 frame_code;
	__u32 frame_previous;
	__u32 frame_instr;
	__u32 frame_is_entry;       /* 3.11, else LW_PY_NONE */
	__u32 frame_owner;
	__u32 owner_cstack;         /* 3.12+: the eval loop's shim frame, else LW_PY_NONE */
	__u32 frame_bytes;          /* bytes of a frame holding every field above */
	__u32 pad;
	__u64 arena_start, arena_end; /* pymalloc's arena mmap returns here; 0: unknown */
	/* the walker's counts */
	__u64 walked;               /* allocations with Python frames */
	__u64 no_frames;            /* in a thread with no Python frame (native only) */
	__u64 unreadable;           /* a frame could not be read: the walk stopped there */
	__u64 too_deep;             /* more than LW_PY_MAX_FRAMES: the outermost are left out */
	__u64 not_kept;             /* py_stacks full: the stack has no Python frames */
};

struct lw_py_frame {
	__u64 code;                 /* code object */
	__u64 instr;                /* frame_instr's value (3.10: f_lasti) */
};

/* py_stacks: the Python frames of a stack, under the stack's id (which
 * hashes them with the native frames). Innermost first. */
struct lw_py_stack {
	__u32 nr;
	__u32 entries;              /* bit i: frame i is the first of an eval-loop call */
	__u32 truncated;            /* the walk stopped before the outermost frame */
	__u32 pad;
	struct lw_py_frame frames[LW_PY_MAX_FRAMES];
};

/*
 * CPython's garbage collections (bpf/python_gc.bpf.h). py_gc: per tgid,
 * where the interpreter keeps its per-generation statistics, the
 * struct gc_generation_stats[3] that gc.get_stats() reports. Each
 * collection sends one lw_gc_event with those statistics read as it began
 * and as it ended: the loader takes the generation, the objects collected
 * and the uncollectable ones from their difference.
 */
#define LW_GC_GENERATIONS 3
#define LW_GC_STATS (3 * LW_GC_GENERATIONS) /* {collections, collected, uncollectable} each */

struct lw_py_gc {
	__u64 stats_addr;           /* &interp->gc.generation_stats */
	__u64 dropped;              /* collections not sent: gc_events was full */
	__u64 unreadable;           /* the statistics could not be read */
};

struct lw_gc_event {
	__u32 tgid;
	__u32 pad;
	__u64 start_ns;             /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 duration_ns;
	__s64 before[LW_GC_STATS];
	__s64 after[LW_GC_STATS];
};

#endif /* LEAKWATCH_H */
