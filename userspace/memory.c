// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "memory.h"

/* Where the cgroup2 hierarchy and the v1 memory controller are mounted,
 * read once from our mountinfo ("" when absent). */
static void mounts(char *v2, char *v1_memory, size_t len)
{
	char line[1024], point[PATH_MAX], type[64], opts[512];
	FILE *f = fopen("/proc/self/mountinfo", "re");

	v2[0] = v1_memory[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		/* mount point is field 5; after " - ": type, source, options */
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(sep + 3, "%63s %*s %511s", type, opts) != 2)
			continue;
		if (!strcmp(type, "cgroup2") && !v2[0])
			snprintf(v2, len, "%s", point);
		else if (!strcmp(type, "cgroup") && !v1_memory[0] &&
			 (strstr(opts, ",memory") || !strncmp(opts, "memory", 6)))
			snprintf(v1_memory, len, "%s", point);
	}
	fclose(f);
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
	static char v2[PATH_MAX], v1[PATH_MAX];
	static bool looked;
	char path[PATH_MAX * 2 + 64], line[PATH_MAX + 64], *cg;
	long long bytes = -1;
	FILE *f;

	if (!looked) {
		mounts(v2, v1, sizeof(v2));
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
		if (!strncmp(line, "0::", 3) && v2[0]) {
			snprintf(path, sizeof(path), "%s%s/memory.current", v2, cg + 1);
			bytes = read_number(path);
		} else if (strstr(line, ":memory:") && v1[0]) {
			snprintf(path, sizeof(path), "%s%s/memory.usage_in_bytes", v1, cg + 1);
			bytes = read_number(path);
		}
	}
	fclose(f);
	return bytes;
}
