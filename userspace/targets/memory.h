/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Memory a process holds beyond what leakwatch tracks: its resident set,
 * and its container's usage (the memory cgroup: cgroup v2 memory.current,
 * or the v1 memory controller's usage on hybrid hierarchies).
 */
#ifndef LW_MEMORY_H
#define LW_MEMORY_H

#include <sys/types.h>

/* Bytes charged to pid's memory cgroup, or -1 when no memory controller
 * is mounted or the process is gone. */
long long memory__cgroup_bytes(pid_t pid);

#endif
