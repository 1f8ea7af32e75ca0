// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "targets/memory.h"

/* A cgroup hierarchy as mounted here: a mount may expose a subtree of it
 * (its root, mountinfo's field 4), as inside a container. */
struct cg_mount {
	char point[PATH_MAX];
	char root[PATH_MAX];
};

/* Where the cgroup2 hierarchy and the v1 memory controller are mounted,
 * read once from our mountinfo (point "" when absent). */
static void mounts(struct cg_mount *v2, struct cg_mount *v1_memory)
{
	char line[1024], root[PATH_MAX], point[PATH_MAX], type[64], opts[512];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	v2->point[0] = v1_memory->point[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");
		struct cg_mount *m = NULL;

		/* root and mount point are fields 4 and 5; after " - ": type,
		 * source, options */
		if (!sep || sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2 ||
		    sscanf(sep + 3, "%63s %*s %511s", type, opts) != 2)
			continue;
		if (!strcmp(type, "cgroup2") && !v2->point[0])
			m = v2;
		else if (!strcmp(type, "cgroup") && !v1_memory->point[0] &&
			 (strstr(opts, ",memory") || !strncmp(opts, "memory", 6)))
			m = v1_memory;
		if (m) {
			snprintf(m->point, sizeof(m->point), "%s", point);
			snprintf(m->root, sizeof(m->root), "%s", strcmp(root, "/") ? root : "");
		}
	}
	fclose(f);
}

/* The directory of cgroup path cg (as /proc/PID/cgroup gives it) under
 * mount m; 0, or -1 when the mount does not expose that cgroup. */
static int cg_dir(const struct cg_mount *m, const char *cg, char *out, size_t len)
{
	size_t root_len = strlen(m->root);

	if (!m->point[0] || strncmp(cg, m->root, root_len) || (cg[root_len] && cg[root_len] != '/'))
		return -1;
	snprintf(out, len, "%s%s", m->point, cg + root_len);
	return 0;
}

static long long read_number(const char *path)
{
	long long v = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

long long memory__cgroup_bytes(pid_t pid)
{
	static struct cg_mount v2, v1;
	static bool looked;
	char path[PATH_MAX * 2 + 64], dir[PATH_MAX * 2], line[PATH_MAX + 64], *cg;
	long long bytes = -1;
	FILE *f;

	if (!looked) {
		mounts(&v2, &v1);
		looked = true;
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	/* lines are "ID:CONTROLLERS:PATH"; v2's is "0::PATH" */
	while (bytes < 0 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		cg = strchr(line, ':');
		if (!cg || !(cg = strchr(cg + 1, ':')))
			continue;
		if (!strncmp(line, "0::", 3) && cg_dir(&v2, cg + 1, dir, sizeof(dir)) == 0) {
			snprintf(path, sizeof(path), "%s/memory.current", dir);
			bytes = read_number(path);
		} else if (strstr(line, ":memory:") && cg_dir(&v1, cg + 1, dir, sizeof(dir)) == 0) {
			snprintf(path, sizeof(path), "%s/memory.usage_in_bytes", dir);
			bytes = read_number(path);
		}
	}
	fclose(f);
	return bytes;
}
