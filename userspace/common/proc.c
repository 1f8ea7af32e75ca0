// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/exitcodes.h"
#include "common/proc.h"

#define PF_KTHREAD 0x00200000

int maps__parse_line(const char *line, struct lw_map *out)
{
	char perms[8];
	int path_at = 0;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n",
		   &out->start, &out->end, perms, &out->pgoff, &out->dev_major,
		   &out->dev_minor, &out->inode, &path_at) < 7 || out->end <= out->start)
		return -EINVAL;
	out->exec = strlen(perms) >= 3 && perms[2] == 'x';
	if (path_at > 0 && line[path_at] == '/') {
		len = strcspn(line + path_at, "\n");
		out->path = strndup(line + path_at, len);
		if (!out->path)
			return -ENOMEM;
	}
	return 0;
}

void maps__free(struct lw_maps *maps)
{
	for (size_t i = 0; i < maps->n; i++)
		free(maps->v[i].path);
	free(maps->v);
	maps->v = NULL;
	maps->n = 0;
}

int maps__read(pid_t pid, struct lw_maps *out)
{
	char path[64], *line = NULL;
	size_t cap = 0, alloc = 0;
	struct lw_map m;
	FILE *f;
	int err = 0;

	out->v = NULL;
	out->n = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (maps__parse_line(line, &m))
			continue;
		if (out->n == alloc) {
			size_t want = alloc ? alloc * 2 : 64;
			struct lw_map *v = realloc(out->v, want * sizeof(*v));

			if (!v) {
				free(m.path);
				err = -ENOMEM;
				break;
			}
			out->v = v;
			alloc = want;
		}
		out->v[out->n++] = m;
	}
	free(line);
	fclose(f);
	if (err)
		maps__free(out);
	return err;
}

const struct lw_map *maps__find(const struct lw_maps *maps, uint64_t addr)
{
	size_t lo = 0, hi = maps->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct lw_map *m = &maps->v[mid];

		if (addr < m->start)
			hi = mid;
		else if (addr >= m->end)
			lo = mid + 1;
		else
			return m;
	}
	return NULL;
}

/* Fields 3 (state), 4 (ppid) and 9 (flags) of /proc/PID/stat; the comm in
 * field 2 may hold spaces. */
static int read_stat(pid_t pid, char *state, pid_t *ppid, unsigned long *flags)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %d %*d %*d %*d %*d %lu", state, ppid, flags) != 3)
		return -EIO;
	return 0;
}

int proc__check_target(pid_t pid, char *why, size_t len)
{
	unsigned long flags;
	pid_t ppid;
	char state;
	int err;

	err = read_stat(pid, &state, &ppid, &flags);
	if (err == -ENOENT) {
		snprintf(why, len, "no process with PID %d: check the PID (ps -p %d)", pid, pid);
		return LW_EXIT_TARGET;
	}
	if (err) {
		snprintf(why, len, "cannot read /proc/%d/stat: %s", pid, strerror(-err));
		return LW_EXIT_TARGET;
	}
	if (flags & PF_KTHREAD) {
		snprintf(why, len, "PID %d is a kernel thread, which has no user-space heap: give a user process", pid);
		return LW_EXIT_TARGET;
	}
	if (state == 'Z' || state == 'X') {
		snprintf(why, len, "PID %d has already exited (zombie): give a running process", pid);
		return LW_EXIT_TARGET;
	}
	return 0;
}

pid_t proc__tgid(pid_t pid)
{
	char path[64], line[256];
	pid_t tgid = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

pid_t proc__ns_pid(pid_t pid)
{
	char path[64], line[256];
	pid_t inner = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return pid;
	while (fgets(line, sizeof(line), f)) {
		char *p = line;

		if (strncmp(line, "NSpid:", 6))
			continue;
		for (p += 6; *p;) {
			char *end;
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			inner = v;
			p = end;
		}
		break;
	}
	fclose(f);
	return inner;
}

pid_t proc__ppid(pid_t pid)
{
	unsigned long flags;
	pid_t ppid;
	char state;
	int err = read_stat(pid, &state, &ppid, &flags);

	return err ? err : ppid;
}

void proc__comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(buf, len, "?");
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0) {
		snprintf(buf, len, "?");
		return;
	}
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

long long proc__rss_bytes(pid_t pid)
{
	char path[64];
	long long pages;
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/proc/%d/statm", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	ok = fscanf(f, "%*d %lld", &pages) == 1;
	fclose(f);
	return ok ? pages * sysconf(_SC_PAGESIZE) : -1;
}

bool proc__alive(pid_t pid)
{
	unsigned long flags;
	pid_t ppid;
	char state;

	return read_stat(pid, &state, &ppid, &flags) == 0 && state != 'Z' && state != 'X';
}

bool proc__exiting(pid_t pid)
{
	unsigned long flags;
	pid_t ppid;
	char state;

	/* PF_EXITING: its memory is being torn down, or gone */
	return read_stat(pid, &state, &ppid, &flags) || (flags & 0x4) || state == 'Z' ||
	       state == 'X';
}

char proc__state(pid_t pid)
{
	unsigned long flags;
	pid_t ppid;
	char state;

	return read_stat(pid, &state, &ppid, &flags) == 0 ? state : 0;
}

void proc__mapped_path(pid_t pid, const struct lw_map *m, char *buf, size_t len)
{
	snprintf(buf, len, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, m->start, m->end);
}

int proc__open_mapped(pid_t pid, const struct lw_map *m, char *view, size_t len)
{
	char path[PATH_MAX + 64];
	int fd;

	proc__mapped_path(pid, m, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && m->path) {
		/* map_files needs CAP_SYS_ADMIN; the root view serves otherwise */
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, m->path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (view)
		snprintf(view, len, "%s", path);
	return fd;
}
