/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Python stacks: for each watched process running CPython, the numbers the
 * BPF frame walker needs (bpf/python.bpf.h), found with python.h when the
 * interpreter is up (retried while it starts), after fork (the parent's at
 * once, the child's own later) and after exec; and the Python frames of a
 * recorded stack, named while the process is alive and merged into its
 * native frames.
 */
#ifndef LW_PYSTACKS_H
#define LW_PYSTACKS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>
#include "stacks/python_gc.h"
#include "symbols/symbolize.h"

struct py_stacks;
struct tracer;

/* off: no interpreter is looked for (--no-python), every call a no-op.
 * objects (--python-objects): objects are counted at the interpreter's
 * allocator functions where it has them (see python.h), not its arenas. */
struct py_stacks *py_stacks__new(struct tracer *tracer, int verbose, bool off, bool objects);
void py_stacks__free(struct py_stacks *p);
/* Looks for pid's interpreter until found (or found unsupported); cheap
 * when there is nothing to do: call it at every tick. */
void py_stacks__poll(struct py_stacks *p, pid_t pid, double now_s);
/* child was forked by parent (and is held): it walks with the parent's
 * numbers from its first instruction. */
void py_stacks__fork(struct py_stacks *p, pid_t child, pid_t parent);
/* pid exec'd: a new program, looked at anew. */
void py_stacks__exec(struct py_stacks *p, pid_t pid);
/* pid is held before it runs (a command, an exec): if it may start an
 * interpreter, its start (Py_RunMain) is probed (LW_EVENT_PYMAIN). */
void py_stacks__held(struct py_stacks *p, pid_t pid);
/* pid's interpreter is up (LW_EVENT_PYMAIN): looked for at once. */
void py_stacks__started(struct py_stacks *p, pid_t pid, double now_s);
/* pid's interpreter began finalizing (LW_EVENT_FINALIZE): said in reports. */
void py_stacks__finalized(struct py_stacks *p, pid_t pid);

/*
 * Merges the Python frames kept for BPF stack raw_id into pid's native
 * frames (nr of them, room for max): each Python evaluation-loop call
 * takes the place of one native _PyEval_EvalFrameDefault frame, innermost
 * first; calls left over when the native frames end (a truncated native
 * stack) follow them. Sets *truncated when the Python walk stopped early.
 * Returns the new number of frames.
 */
int py_stacks__merge(struct py_stacks *p, pid_t pid, __u64 raw_id, struct lw_frame *frames,
		     int nr, int max, bool *truncated);
/* The merge itself, pure (for tests): py holds nr_py (at most
 * LW_PY_MAX_FRAMES) Python frames, innermost first; bit i of entries marks
 * py[i] as the outermost frame of its eval-loop call (struct lw_py_stack).
 * Returns the new number of frames; nr, frames untouched, when out of memory. */
int py_stacks__splice(struct lw_frame *frames, int nr, int max, const struct lw_frame *py,
		      int nr_py, __u32 entries);

/* What a report says about pid's interpreter. */
struct py_report {
	bool present;          /* an interpreter is walked */
	uint32_t version_hex;
	const char *module;    /* the object holding it */
	const char *unsupported; /* set instead when it cannot be walked: why */
	const char *pending;   /* an interpreter found but not walked yet: why */
	/* what its python category counts: "objects" (each object, at the
	 * allocator's functions), "arenas" (pymalloc's arenas), or NULL */
	const char *pymalloc;
	const char *pymalloc_why; /* with --python-objects: what was found */
	bool finalized;        /* counting stopped when it began finalizing */
	/* the walker's counts (leakwatch.h, struct lw_py_proc) */
	uint64_t walked, no_frames, unreadable, too_deep, not_kept;
	struct py_gc_report gc;  /* its garbage collector */
};

void py_stacks__report(struct py_stacks *p, pid_t pid, struct py_report *out);

/* Whether a native frame is the interpreter's evaluation loop. */
bool py_eval_function(const char *name);

#endif
