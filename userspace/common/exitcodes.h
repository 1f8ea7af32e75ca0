/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* leakwatch's exit status: small and fixed, listed in --help and README. */
#ifndef LW_EXITCODES_H
#define LW_EXITCODES_H

enum lw_exit {
	LW_EXIT_OK = 0,
	LW_EXIT_FAILURE = 1,   /* failed while loading, attaching or running */
	LW_EXIT_TARGET = 2,    /* no such PID, kernel thread, no allocator symbols, target gone */
	LW_EXIT_PRIVILEGE = 3, /* not root / no CAP_BPF+CAP_PERFMON, kernel without BTF */
	LW_EXIT_USAGE = 64,    /* bad option or value (EX_USAGE) */
};

#endif
