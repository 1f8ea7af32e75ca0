/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Inside tracer.c (attach, events, maps) and tracer_load.c (open, load,
 * what the verifier said): the tracer's state. Nothing else includes it. */
#ifndef LW_TRACER_INTERNAL_H
#define LW_TRACER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <bpf/libbpf.h>
#include "leakwatch.skel.h"
#include "kernel/tracer.h"

/* Per program: the verifier's statistics (log level 4), or its error. */
#define LOG_BYTES 16384
#define BPF_LOG_STATS 4

struct tracked_link {
	struct bpf_link *link;
	pid_t pid;
};

struct tracer {
	struct leakwatch_bpf *skel;
	enum tracer_mode mode;
	bool multi;                 /* uprobe_multi links; else a uprobe per function */
	unsigned long long age_epoch_ns; /* the one length of an age epoch (leakwatch.h) */
	bool dropped[LW_PART_NR];
	char *logs;                 /* the verifier's statistics, LOG_BYTES per program */
	struct tracer_prog_stats stats[TRACER_MAX_PROGS];
	int nr_stats;
	struct bpf_link *exec_link, *fork_link;
	struct bpf_link *syscall_link; /* hold_new_child, before Linux 6.13 */
	struct ring_buffer *events;
	struct ring_buffer *verify;     /* --verify-stacks records */
	tracer_verify_fn verify_fn;     /* during tracer__consume_verify */
	void *verify_ctx;
	struct ring_buffer *gc;         /* CPython's collections, drained at every wait */
	tracer_gc_fn gc_fn;             /* tracer__on_gc */
	void *gc_ctx;
	tracer_event_fn event_fn;   /* during tracer__wait_events */
	void *event_ctx;
	struct tracked_link *links;
	size_t nr_links, cap_links;
	/* --growth (growth.c): its programs' links, granule size, and sums */
	struct bpf_link *growth_links[4];
	unsigned long long granule;
	struct growth_state *growth;
	bool zoom;                  /* the per-call programs are loaded too */
};

/* --growth's reading (growth.c): the per-stack aggregates from the
 * granules and the processes' pagemaps; forgetting a process's sums; and
 * freeing what it keeps. */
int growth__read(struct tracer *t, tracer_stats_fn fn, void *ctx);
void growth__forget(struct tracer *t, uint32_t tgid);
void growth__free(struct tracer *t);

/* The ring buffers' callbacks (tracer.c). */
int tracer_on_event(void *ctx, void *data, size_t size);
int tracer_on_verify(void *ctx, void *data, size_t size);
int tracer_on_gc(void *ctx, void *data, size_t size);

#endif
