/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Before anything is watched: may leakwatch trace here, and what will the
 * kernel run (leakwatch --check). */
#ifndef LW_PREFLIGHT_H
#define LW_PREFLIGHT_H

#include "kernel/kernel.h"

/* Root, or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN, and kernel BTF: 0, or
 * an exit code after one line saying what is missing. */
int preflight__privilege(void);
/* leakwatch --check: k's features and tier, and every program loaded once
 * with its verifier figures, on stdout. 0 when the core loads. */
int preflight__check(struct kernel_info *k, unsigned int max_allocs, unsigned int max_stacks,
		     unsigned int verify_every, int refuse_part);

#endif
