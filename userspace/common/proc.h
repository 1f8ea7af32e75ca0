/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A target process as /proc shows it. Its files are always opened through
 * the target's own view (/proc/PID/map_files, else /proc/PID/root), never by
 * the path string it shows: that view is right inside containers and for
 * files deleted or replaced since the target mapped them.
 */
#ifndef LW_PROC_H
#define LW_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct lw_map {
	uint64_t start, end, pgoff;
	uint64_t inode;
	unsigned int dev_major, dev_minor;
	bool exec;
	char *path; /* as the target sees it; NULL for anonymous memory */
};

struct lw_maps {
	struct lw_map *v; /* sorted by start, as the kernel lists them */
	size_t n;
};

/* Parses one line of /proc/PID/maps; 0 or -EINVAL. path is allocated. */
int maps__parse_line(const char *line, struct lw_map *out);
/* Reads /proc/PID/maps; 0 or a negative errno (-ENOENT: no such process). */
int maps__read(pid_t pid, struct lw_maps *out);
/* The mapping containing addr, or NULL. */
const struct lw_map *maps__find(const struct lw_maps *maps, uint64_t addr);
void maps__free(struct lw_maps *maps);

/* Why pid cannot be watched, as one line without the program name, and
 * LW_EXIT_TARGET; 0 when it can. */
int proc__check_target(pid_t pid, char *why, size_t len);
/* The process (thread group) a thread id belongs to; pid itself for a
 * process, -errno when gone. */
pid_t proc__tgid(pid_t pid);
/* The PID of pid inside its own PID namespace (the last of NSpid in
 * /proc/PID/status): what the process itself and its container's tools
 * see; pid itself outside namespaces or when unknown. */
pid_t proc__ns_pid(pid_t pid);
/* The parent's PID, or -errno when gone. */
pid_t proc__ppid(pid_t pid);
/* comm of pid into buf (at least 16 bytes); "?" if gone. */
void proc__comm(pid_t pid, char *buf, size_t len);
/* Resident set size in bytes, or -1 when the process is gone. */
long long proc__rss_bytes(pid_t pid);
/* Still running (not a zombie, not gone)? */
bool proc__alive(pid_t pid);
/* The state letter of /proc/PID/stat ('R', 'S', 'T' stopped, 'Z'...), 0 when gone. */
char proc__state(pid_t pid);
/* Whether pid is exiting or gone: what its memory reads as now is not what
 * it held. */
bool proc__exiting(pid_t pid);
/* An fd for a mapped file through the target's view; -errno on failure.
 * view (optional) receives the path that was opened. */
int proc__open_mapped(pid_t pid, const struct lw_map *m, char *view, size_t len);
/* The path leakwatch hands the kernel for a uprobe on m's file. */
void proc__mapped_path(pid_t pid, const struct lw_map *m, char *buf, size_t len);

#endif
