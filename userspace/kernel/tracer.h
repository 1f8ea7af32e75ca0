/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The BPF side as the loader sees it: load once, attach per process, read
 * the aggregates. Nothing else touches the skeleton.
 */
#ifndef LW_TRACER_H
#define LW_TRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>
#include "leakwatch.h"
#include "probes/allocator.h"
#include "kernel/kernel.h"

struct tracer;

/* What to attach: leakwatch's programs, or empty ones (the benchmark's
 * floors) at the functions' entries or at leakwatch's own probe points. */
enum tracer_mode {
	TRACER_TRACK,
	TRACER_FLOOR_ENTRY,
	TRACER_FLOOR_OWN,
	TRACER_FLOOR_FILE, /* own points, for every process mapping the file */
	TRACER_GROWTH,     /* --growth: page faults and the calls giving memory
			    * back, nothing attached per process (growth.h) */
};

struct tracer_opts {
	unsigned int max_allocs;
	unsigned int max_stacks;
	int verbose;
	enum tracer_mode mode;
	unsigned int sample_every;       /* 0: off */
	unsigned long long sample_bytes; /* 0: off */
	unsigned long long age_epoch_ns; /* length of an age epoch (leakwatch.h) */
	bool unwind_cfi;                 /* the CFI unwinder (unwind.h) */
	bool walk_python;                /* CPython frames in stacks (python.h) */
	unsigned int unwind_rows;        /* its row store; 0 with unwind_cfi off */
	unsigned int verify_every;       /* --verify-stacks N: 0 = off */
	/* what the kernel offers (kernel__probe); the parts its verifier
	 * refuses are marked dropped there. NULL: assume everything. */
	struct kernel_info *kernel;
	int refuse_part;                 /* tests: 1 + the lw_part made refused */
	unsigned long long growth_granule; /* TRACER_GROWTH: bytes per granule */
#define TRACER_GRANULE (64 << 10)        /* its default (--granule) */
	bool zoom;                       /* TRACER_GROWTH: the per-call programs too,
					  * for tracer__zoom */
	bool load_only;                  /* --check: loaded for the verifier's figures,
					  * --growth's tracepoints not attached */
};

/* What the verifier reported for one loaded program (-v prints these). */
struct tracer_prog_stats {
	char name[32];
	unsigned int verified_insns;  /* of the verifier's 1M limit */
	unsigned int stack_bytes;     /* its deepest chain of stack frames, callbacks
				       * included, of the verifier's 512 */
};
#define TRACER_MAX_PROGS 16

/* Opens and loads the BPF object. 0, or an exit code with why set. */
int tracer__new(struct tracer **out, const struct tracer_opts *opts, char *why, size_t len);
/* The length of an age epoch the BPF side counts in (opts->age_epoch_ns),
 * for the stack table's ages: one value, given to both. */
double tracer__age_epoch_s(const struct tracer *t);
/* Whether it counts growth (TRACER_GROWTH) rather than allocator calls. */
bool tracer__growth(const struct tracer *t);
/* Whether the verifier refused part, so it was left out (and the loader's
 * side of it must be off too). */
bool tracer__dropped(const struct tracer *t, enum lw_part part);
/* The figures of the programs loaded; *n of them. */
const struct tracer_prog_stats *tracer__prog_stats(const struct tracer *t, int *n);
/* The whole verifier log of prog_name, loaded again as opts say, on stderr. */
void tracer__print_verifier_log(const struct tracer_opts *opts, const char *prog_name);
/* Attaches every probe of plan to pid. 0, or an exit code with why set. */
int tracer__attach(struct tracer *t, pid_t pid, const struct lw_plan *plan, char *why, size_t len);
/* The same for one object: its probes for pid, two links. */
int tracer__attach_object(struct tracer *t, pid_t pid, const struct lw_object *o, char *why,
			  size_t len);
/* Stops pid (SIGSTOP, from the kernel) each time it runs the function at
 * offset in path: the dynamic linker's hook, to hold a command started by
 * leakwatch once its libraries are mapped. Returns a handle for
 * tracer__release_stop, or NULL with why set. */
struct bpf_link *tracer__stop_at(struct tracer *t, pid_t pid, const char *path, uint64_t offset,
				 char *why, size_t len);
void tracer__release_stop(struct tracer *t, struct bpf_link *link);
/* Detaches every probe attached to pid. */
void tracer__detach_pid(struct tracer *t, pid_t pid);
/* --zoom, in a growth run loaded with opts.zoom: plan's allocator probes
 * on pid, counting every call as the default mode does, for a window. 0,
 * or an exit code with why set. tracer__zoom_end takes them out and drops
 * pid's live-allocation records: its per-stack totals stay, as the window
 * left them. */
int tracer__zoom(struct tracer *t, pid_t pid, const struct lw_plan *plan, char *why, size_t len);
void tracer__zoom_end(struct tracer *t, pid_t pid);
/* Stop pid when it execs, so its new image can be probed; with
 * follow_forks, its children (and theirs) are stopped at fork and reported
 * as events too. */
int tracer__watch_exec(struct tracer *t, pid_t pid, bool follow_forks);
/* Stop following pid (it exited, or is not watched any more). */
void tracer__unwatch(struct tracer *t, pid_t pid);
/* Lists pid as held by leakwatch, without following it: a command about to
 * be held at its start, which the guardian continues should leakwatch die
 * first (guardian.h). tracer__watch_exec clears the mark. */
int tracer__may_hold(struct tracer *t, pid_t pid);
/* Continues pid, held at fork, and clears its held mark. */
void tracer__continue(struct tracer *t, pid_t pid);
/* The map the guardian reads: every process leakwatch may hold. */
int tracer__exec_watch_fd(const struct tracer *t);
typedef void (*tracer_event_fn)(const struct lw_event *e, void *ctx);
/* Waits up to timeout_ms for fork and exec events and calls fn for each.
 * 0 or -errno. */
int tracer__wait_events(struct tracer *t, int timeout_ms, tracer_event_fn fn, void *ctx);
/* Whether pid has exec'd and been stopped since the last call. */
bool tracer__exec_seen(struct tracer *t, pid_t pid);
/* Forgets pid's live allocations, per-stack totals and interpreter (its image is gone). */
void tracer__forget_process(struct tracer *t, pid_t pid);
/* Detaches everything and frees. NULL is fine. */
void tracer__free(struct tracer *t);

typedef void (*tracer_stats_fn)(const struct lw_stats_key *key, const struct lw_stats *val, void *ctx);
/* Calls fn for every (tgid, stack) aggregate, read in batches (TRACER_GROWTH:
 * resident bytes by first toucher, LW_CAT_RESIDENT, and a zoom's per-call
 * totals). 0 or -errno. */
int tracer__read_stats(struct tracer *t, tracer_stats_fn fn, void *ctx);
/* The frames of stack id. 0, or -ENOENT. */
int tracer__read_stack(struct tracer *t, __u64 id, struct lw_stack *out);
/* Call and loss counters of tgid; zeros when it has none yet. */
int tracer__read_proc(struct tracer *t, __u32 tgid, struct lw_proc_counters *out);

/* The CFI unwinder's maps (leakwatch.h): n rows at index first of the
 * row store, and pid's mapping index (NULL: none any more). 0 or -errno. */
int tracer__unwind_rows(struct tracer *t, __u32 first, const struct lw_cfi_row *rows, __u32 n);
int tracer__unwind_proc(struct tracer *t, pid_t pid, const struct lw_cfi_proc *proc);
/* Python frames (leakwatch.h): pid's interpreter for the walker (NULL:
 * none), its walker's counts, and the Python frames of stack id. 0 or
 * -errno (-ENOENT: none). */
int tracer__py_proc(struct tracer *t, pid_t pid, const struct lw_py_proc *proc);
int tracer__read_py_proc(struct tracer *t, pid_t pid, struct lw_py_proc *out);
int tracer__read_py_stack(struct tracer *t, __u64 id, struct lw_py_stack *out);
/* CPython's collections (leakwatch.h, struct lw_gc_event): pid's
 * statistics address for the BPF side (0: none any more), its counts of
 * what was not sent, and fn, called for each collection as
 * tracer__wait_events drains them. */
int tracer__py_gc(struct tracer *t, pid_t pid, uint64_t stats_addr);
int tracer__read_py_gc(struct tracer *t, pid_t pid, struct lw_py_gc *out);
typedef void (*tracer_gc_fn)(const struct lw_gc_event *e, void *ctx);
void tracer__on_gc(struct tracer *t, tracer_gc_fn fn, void *ctx);
/* Calls fn for every --verify-stacks record waiting (leakwatch.h). */
typedef void (*tracer_verify_fn)(const struct lw_verify *v, void *ctx);
void tracer__consume_verify(struct tracer *t, tracer_verify_fn fn, void *ctx);
/* Records BPF could not send: their ring buffer was full. */
uint64_t tracer__verify_dropped(const struct tracer *t);

#endif
