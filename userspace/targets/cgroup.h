/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cgroups as leakwatch reads them: the cgroup v2 directory that -C PATH or
 * --container ID names, its id, and the processes in it and below it.
 *
 * The id is the directory's inode number: on cgroup2 (kernfs) that is the
 * cgroup's kernfs id, which is what bpf_get_current_cgroup_id() returns for
 * a task in it, and what a BPF-side filter compares against.
 *
 * A container is found through /proc alone, no runtime client: the cgroup
 * paths in /proc/PID/cgroup embed its id in the forms runtimes use. On a
 * hybrid host a container may be placed in v1 hierarchies only; its cgroup
 * is then a v1 directory, with the same membership API and no v2 id.
 */
#ifndef LW_CGROUP_H
#define LW_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LW_CONTAINER_ID_LEN 64   /* hex digits of a full container id */
#define LW_CONTAINER_MIN_PREFIX 4

struct lw_cgroup {
	char dir[PATH_MAX];   /* its directory, e.g. /sys/fs/cgroup/system.slice/docker-ID.scope */
	char path[PATH_MAX];  /* its path in the hierarchy, as /proc/PID/cgroup shows it: "/" or
			       * "/system.slice/docker-ID.scope" */
	uint64_t id;          /* cgroup v2 id (bpf_get_current_cgroup_id()); 0 when v1 */
	bool v1;              /* a v1 hierarchy's directory (hybrid host, container placed in v1
			       * only): membership works, BPF-side cgroup filtering does not */
	char v1_controllers[64]; /* v1: the hierarchy, as /proc/PID/cgroup names it ("pids",
				  * "name=systemd") */
	char container[LW_CONTAINER_ID_LEN + 1]; /* --container: the full id; "" for -C */
};

/* A cgroup file system as /proc/self/mountinfo shows it. */
struct lw_cg_mount {
	bool v2;              /* cgroup2; else a v1 hierarchy */
	char point[PATH_MAX]; /* where it is mounted (mountinfo's \040 escapes undone) */
	char root[PATH_MAX];  /* the hierarchy's path shown there: "" for its root, else
			       * e.g. "/docker/ID" inside a container without cgroupns */
	char opts[256];       /* super options; v1's name its controllers: "rw,memory" */
};

/* One line of /proc/PID/cgroup, "ID:CONTROLLERS:PATH"; the pointers are
 * into the line, which parsing cuts into pieces. */
struct lw_cg_line {
	unsigned int hierarchy;  /* 0 for cgroup v2 */
	const char *controllers; /* "" for v2; "memory", "cpu,cpuacct", "name=systemd" */
	const char *path;        /* "/system.slice/docker-ID.scope" */
};

/* -- pure parsing (unit-tested) -- */

/* One line of /proc/PID/mountinfo: 0 and *out for a cgroup or cgroup2
 * mount, -ENOENT for another file system, -EINVAL for a malformed line. */
int cgroup__parse_mountinfo_line(const char *line, struct lw_cg_mount *out);
/* Whether v1 mount m holds the hierarchy whose /proc/PID/cgroup
 * controllers field is controllers (every one of them among m's options). */
bool cgroup__mount_has(const struct lw_cg_mount *m, const char *controllers);
/* Cuts line (one of /proc/PID/cgroup, newline allowed) into *out: 0, or
 * -EINVAL. */
int cgroup__parse_line(char *line, struct lw_cg_line *out);
/* The directory of hierarchy path cg under mount m into out: 0, or
 * -ENOENT when m does not show that cgroup (outside its root, or a path
 * from outside our cgroup namespace, "/.."). */
int cgroup__dir_of(const struct lw_cg_mount *m, const char *cg, char *out, size_t len);
/* A --container argument: 4 to 64 hex digits, any case; the lower-case
 * form into norm (65 bytes). 0, or -EINVAL. */
int cgroup__container_arg(const char *arg, char *norm);
/* Finds in cgroup path a component that embeds a container id starting
 * with prefix (lower-case hex), in a form runtimes use: docker-ID.scope,
 * cri-containerd-ID.scope, crio-ID.scope, libpod-ID.scope, or a component
 * that is the id alone (/docker/ID, /kubepods/.../ID, /k8s.io/ID). The
 * first such component wins. Returns the length of path up to the end of
 * that component (the container's own cgroup), the full id in id (65
 * bytes); 0 when none matches. */
size_t cgroup__match_container(const char *path, const char *prefix, char *id);
/* The forms cgroup__match_container knows, for messages. */
extern const char cgroup__container_forms[];

/* -- the system -- */

/* The cgroup named by -C's argument: a directory of a cgroup2 hierarchy,
 * absolute, relative to the cgroup2 mount, or a path as /proc/PID/cgroup
 * shows it. 0, or LW_EXIT_USAGE with why set (one line). */
int cgroup__open(struct lw_cgroup *cg, const char *arg, char *why, size_t len);
/* The cgroup of the container whose id starts with the --container
 * argument, from every process's /proc/PID/cgroup. 0; LW_EXIT_USAGE for a
 * bad or ambiguous id (why lists the candidates); LW_EXIT_TARGET when no
 * process is in such a container (why says what was tried). */
int cgroup__find_container(struct lw_cgroup *cg, const char *arg, char *why, size_t len);
/* The processes (tgids, host PIDs, sorted, each once) in cg and all its
 * descendants, from each directory's cgroup.procs: kernel threads of the
 * root cgroup and leakwatch itself included, for the caller to skip. A
 * few syscalls per directory, cheap enough to call every 100 ms to find
 * processes that entered later. *pids is malloc'ed (NULL when empty), the
 * caller frees it. 0, or -errno (-ENOENT: the cgroup was removed). */
int cgroup__members(const struct lw_cgroup *cg, pid_t **pids, size_t *n);
/* Whether process pid is in cg or below (from /proc/PID/cgroup): for a
 * process seen otherwise, such as a fork. */
bool cgroup__holds(const struct lw_cgroup *cg, pid_t pid);

#endif
