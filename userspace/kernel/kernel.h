/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the running kernel offers leakwatch, probed at start, and what was
 * left out of this run and why (the report's "kernel" record, and
 * leakwatch --check).
 */
#ifndef LW_KERNEL_H
#define LW_KERNEL_H

#include <stdbool.h>
#include <stdio.h>
#include "leakwatch.h"

/* The parts of leakwatch a kernel may refuse are enum lw_part (leakwatch.h). */

/* Features probed, in the order --check lists them. */
enum kernel_feature {
	KF_BTF,              /* /sys/kernel/btf/vmlinux: CO-RE, BTF tracepoints */
	KF_BPF_LOOP,         /* bpf_loop (5.17): every stack walk */
	KF_TASK_STORAGE,     /* task storage: per-thread state of a call in flight */
	KF_UPROBE_MULTI,     /* uprobe_multi links (6.6): else a uprobe per function */
	KF_SEND_SIGNAL_TASK, /* bpf_send_signal_task (6.13): a child held before it runs */
	KF_FIND_VMA,         /* bpf_find_vma (5.17): --verify-stacks's copy of the stack */
	KF_NR,
};

struct kernel_info {
	char release[65];
	bool has[KF_NR];
	bool dropped[LW_PART_NR];
	char reason[LW_PART_NR][160]; /* why a part was dropped: the kernel's words */
};

/* Probes the running kernel (no program of leakwatch's is loaded). */
void kernel__probe(struct kernel_info *k);
/* Marks part dropped, with reason (its first line kept). */
void kernel__drop(struct kernel_info *k, enum lw_part part, const char *reason);
const char *kernel__feature_name(enum kernel_feature f);
const char *kernel__part_name(enum lw_part p);
/* The feature or part of that name, or -1. */
int kernel__feature_by_name(const char *name);
int kernel__part_by_name(const char *name);
/* "full", "reduced" (a fallback or a part dropped), "core" (only the
 * frame-pointer core loads). */
const char *kernel__tier(const struct kernel_info *k);
/* What each feature missing means, one line each, for --check and -v. */
void kernel__print(const struct kernel_info *k, FILE *out);

#endif
