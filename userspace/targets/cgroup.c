// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include "targets/cgroup.h"
#include "common/exitcodes.h"

/* Deeper than any runtime nests; bounds the descriptors a walk holds. */
#define MAX_DEPTH 64
/* Candidates listed for an ambiguous prefix. */
#define MAX_CANDIDATES 32
/* Of which the message lists at most these. */
#define LISTED_CANDIDATES 8

/* Runtimes' cgroup names of the form PREFIX-ID.scope (systemd driver).
 * Their conmon scopes (crio-conmon-ID, libpod-conmon-ID) hold the monitor,
 * not the container, and do not match: the id must follow the prefix. */
static const char *const scope_prefixes[] = { "docker-", "cri-containerd-", "crio-", "libpod-" };

const char cgroup__container_forms[] =
	"docker-ID.scope, cri-containerd-ID.scope, crio-ID.scope, libpod-ID.scope, /ID "
	"(/docker/ID, /kubepods/.../ID)";

/* Undoes mountinfo's octal escapes (\040 for a blank) from in into out. */
static void unescape(const char *in, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < len; i++) {
		if (in[i] == '\\' && i + 3 < n && in[i + 1] >= '0' && in[i + 1] <= '3' &&
		    in[i + 2] >= '0' && in[i + 2] <= '7' && in[i + 3] >= '0' && in[i + 3] <= '7') {
			out[o++] = (in[i + 1] - '0') * 64 + (in[i + 2] - '0') * 8 + (in[i + 3] - '0');
			i += 3;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = 0;
}

/* The n-th blank-separated field of s (from 0): start and length. */
static const char *field(const char *s, int n, size_t *flen)
{
	for (;;) {
		s += strspn(s, " ");
		if (!*s || *s == '\n')
			return NULL;
		*flen = strcspn(s, " \n");
		if (n-- == 0)
			return s;
		s += *flen;
	}
}

int cgroup__parse_mountinfo_line(const char *line, struct lw_cg_mount *out)
{
	const char *sep = strstr(line, " - "), *root, *point, *type, *opts;
	size_t root_len, point_len, type_len, opts_len;

	/* ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
	if (!sep || !(root = field(line, 3, &root_len)) || !(point = field(line, 4, &point_len)) ||
	    point > sep || !(type = field(sep + 3, 0, &type_len)) ||
	    !(opts = field(sep + 3, 2, &opts_len)))
		return -EINVAL;
	if (type_len == 7 && !strncmp(type, "cgroup2", 7))
		out->v2 = true;
	else if (type_len == 6 && !strncmp(type, "cgroup", 6))
		out->v2 = false;
	else
		return -ENOENT;
	unescape(point, point_len, out->point, sizeof(out->point));
	unescape(root, root_len, out->root, sizeof(out->root));
	if (!strcmp(out->root, "/"))
		out->root[0] = 0;
	snprintf(out->opts, sizeof(out->opts), "%.*s", (int)opts_len, opts);
	return 0;
}

bool cgroup__mount_has(const struct lw_cg_mount *m, const char *controllers)
{
	const char *c = controllers;

	if (m->v2 || !*controllers)
		return false;
	while (*c) {
		size_t n = strcspn(c, ",");
		const char *o = m->opts;
		bool found = false;

		while (*o && !found) {
			size_t on = strcspn(o, ",");

			found = on == n && !strncmp(o, c, n);
			o += on + (o[on] == ',');
		}
		if (!found)
			return false;
		c += n + (c[n] == ',');
	}
	return true;
}

int cgroup__parse_line(char *line, struct lw_cg_line *out)
{
	char *c1 = strchr(line, ':'), *c2, *end;
	unsigned long h;

	if (!c1 || !(c2 = strchr(c1 + 1, ':')))
		return -EINVAL;
	errno = 0;
	h = strtoul(line, &end, 10);
	if (end != c1 || end == line || errno || h > 0xffff)
		return -EINVAL;
	*c1 = *c2 = 0;
	c2[1 + strcspn(c2 + 1, "\n")] = 0;
	if (c2[1] != '/')
		return -EINVAL;
	out->hierarchy = h;
	out->controllers = c1 + 1;
	out->path = c2 + 1;
	/* v2's line is "0::PATH"; a v1 hierarchy always names controllers */
	if ((h == 0) != (*out->controllers == 0))
		return -EINVAL;
	return 0;
}

int cgroup__dir_of(const struct lw_cg_mount *m, const char *cg, char *out, size_t len)
{
	size_t root_len = strlen(m->root);
	const char *rest = cg + root_len;

	if (strncmp(cg, m->root, root_len) || (*rest && *rest != '/') || strstr(cg, "/.."))
		return -ENOENT;
	if (!strcmp(rest, "/"))
		rest = "";
	if ((size_t)snprintf(out, len, "%s%s", m->point, rest) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int cgroup__container_arg(const char *arg, char *norm)
{
	size_t n = strlen(arg);

	if (n < LW_CONTAINER_MIN_PREFIX || n > LW_CONTAINER_ID_LEN)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		norm[i] = tolower((unsigned char)arg[i]);
		if (!is_hex(norm[i]))
			return -EINVAL;
	}
	norm[n] = 0;
	return 0;
}

/* Whether s (n bytes) is a full id starting with prefix. */
static bool full_id(const char *s, size_t n, const char *prefix)
{
	if (n != LW_CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_hex(s[i]))
			return false;
	return !strncmp(s, prefix, strlen(prefix));
}

size_t cgroup__match_container(const char *path, const char *prefix, char *id)
{
	const char *c = path;

	while (*c) {
		size_t n;
		const char *hit = NULL;

		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (!n)
			break;
		if (full_id(c, n, prefix)) {
			hit = c;
		} else if (n > 6 && !strncmp(c + n - 6, ".scope", 6)) {
			for (size_t i = 0; i < sizeof(scope_prefixes) / sizeof(*scope_prefixes); i++) {
				size_t pl = strlen(scope_prefixes[i]);

				if (!strncmp(c, scope_prefixes[i], pl) &&
				    full_id(c + pl, n - pl - 6, prefix)) {
					hit = c + pl;
					break;
				}
			}
		}
		if (hit) {
			memcpy(id, hit, LW_CONTAINER_ID_LEN);
			id[LW_CONTAINER_ID_LEN] = 0;
			return c + n - path;
		}
		c += n;
	}
	return 0;
}

/* The cgroup mounts in our mountinfo; -errno on failure. */
static int read_mounts(struct lw_cg_mount **v, size_t *n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	struct lw_cg_mount m;

	*v = NULL;
	*n = 0;
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (cgroup__parse_mountinfo_line(line, &m))
			continue;
		if (*n == alloc) {
			size_t want = alloc ? alloc * 2 : 16;
			struct lw_cg_mount *nv = realloc(*v, want * sizeof(*nv));

			if (!nv)
				break;
			*v = nv;
			alloc = want;
		}
		(*v)[(*n)++] = m;
	}
	free(line);
	fclose(f);
	return 0;
}

/* The first cgroup2 mount, or NULL. */
static const struct lw_cg_mount *v2_mount(const struct lw_cg_mount *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].v2)
			return &v[i];
	return NULL;
}

/* Whether dir is mount point p or below it. */
static bool under(const char *dir, const char *p)
{
	size_t n = strlen(p);

	if (n == 1 && p[0] == '/')
		return true;
	return !strncmp(dir, p, n) && (dir[n] == 0 || dir[n] == '/');
}

int cgroup__open(struct lw_cgroup *cg, const char *arg, char *why, size_t len)
{
	const struct lw_cg_mount *v2 = NULL, *best = NULL;
	struct lw_cg_mount *mounts;
	char try[PATH_MAX * 2 + 2], real[PATH_MAX];
	struct statfs sfs;
	struct stat st;
	size_t nr;
	int err = LW_EXIT_USAGE;

	memset(cg, 0, sizeof(*cg));
	if (!*arg) {
		snprintf(why, len, "-C needs a cgroup directory, e.g. -C "
			 "/sys/fs/cgroup/system.slice/app.service");
		return err;
	}
	read_mounts(&mounts, &nr);
	v2 = v2_mount(mounts, nr);
	if (!v2) {
		snprintf(why, len, "-C %s: no cgroup v2 hierarchy is mounted here (none in "
			 "/proc/self/mountinfo): mount one, e.g. mount -t cgroup2 none /sys/fs/cgroup", arg);
		goto out;
	}
	/* relative to the mount; an absolute path that does not exist may be
	 * one as /proc/PID/cgroup shows it */
	snprintf(try, sizeof(try), "%s", arg);
	if (arg[0] != '/' || (stat(arg, &st) && errno == ENOENT && !under(arg, v2->point)))
		snprintf(try, sizeof(try), "%s%s%s", v2->point, arg[0] == '/' ? "" : "/", arg);
	if (stat(try, &st)) {
		snprintf(why, len, "-C %s: no such cgroup: %s%s%s: %s; give a directory under the "
			 "cgroup2 mount %s, or a path relative to it", arg,
			 strcmp(try, arg) && arg[0] == '/' ? arg : "", strcmp(try, arg) &&
			 arg[0] == '/' ? " and " : "", try, strerror(errno), v2->point);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, len, "-C %s: %s is not a directory: give a cgroup directory (the one "
			 "holding cgroup.procs), under %s", arg, try, v2->point);
		goto out;
	}
	if (statfs(try, &sfs))
		sfs.f_type = 0;
	if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
		snprintf(why, len, "-C %s: %s is not in a cgroup v2 hierarchy (%s): give a "
			 "directory under the cgroup2 mount %s", arg, try,
			 sfs.f_type == CGROUP_SUPER_MAGIC ? "it is cgroup v1" : "not a cgroup file system",
			 v2->point);
		goto out;
	}
	if (!realpath(try, real)) {
		snprintf(why, len, "-C %s: cannot resolve %s: %s", arg, try, strerror(errno));
		goto out;
	}
	/* the cgroup2 mount it is under: the longest mount point that holds it */
	for (size_t i = 0; i < nr; i++)
		if (mounts[i].v2 && under(real, mounts[i].point) &&
		    (!best || strlen(mounts[i].point) > strlen(best->point)))
			best = &mounts[i];
	if (!best) {
		snprintf(why, len, "-C %s: %s is on cgroup2 but under no mount in "
			 "/proc/self/mountinfo", arg, real);
		goto out;
	}
	snprintf(cg->dir, sizeof(cg->dir), "%s", real);
	if ((size_t)snprintf(cg->path, sizeof(cg->path), "%s%s", best->root,
			     real + (strcmp(best->point, "/") ? strlen(best->point) : 0)) >= sizeof(cg->path)) {
		snprintf(why, len, "-C %s: the cgroup's path is too long", arg);
		goto out;
	}
	if (!cg->path[0])
		snprintf(cg->path, sizeof(cg->path), "/");
	cg->id = st.st_ino;
	err = 0;
out:
	free(mounts);
	return err;
}

/* A container found in /proc: its id and where its processes are. */
struct candidate {
	char id[LW_CONTAINER_ID_LEN + 1];
	char v2_path[PATH_MAX];       /* the v2 cgroup embedding the id, "" if none */
	char v1_path[PATH_MAX];       /* the same in a v1 hierarchy (hybrid hosts) */
	char v1_controllers[64];
	int nr_procs;
};

struct scan {
	const char *prefix;
	struct candidate cands[MAX_CANDIDATES];
	int nr_cands;      /* distinct ids; more than MAX_CANDIDATES are not told apart */
	int nr_procs;      /* processes whose cgroup file was read */
	const struct lw_cg_mount *mounts;
	size_t nr_mounts;
};

static struct candidate *candidate(struct scan *s, const char *id)
{
	for (int i = 0; i < s->nr_cands && i < MAX_CANDIDATES; i++)
		if (!strcmp(s->cands[i].id, id))
			return &s->cands[i];
	if (s->nr_cands >= MAX_CANDIDATES) {
		s->nr_cands = MAX_CANDIDATES + 1;
		return NULL;
	}
	s->nr_cands++;
	memset(&s->cands[s->nr_cands - 1], 0, sizeof(struct candidate));
	memcpy(s->cands[s->nr_cands - 1].id, id, LW_CONTAINER_ID_LEN + 1);
	return &s->cands[s->nr_cands - 1];
}

/* Looks at one process's cgroup file for the id. */
static void scan_pid(struct scan *s, const char *pid)
{
	char path[64], buf[8192], *line, *save = NULL;
	ssize_t n;
	int fd;
	bool seen = false;

	snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	s->nr_procs++;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct lw_cg_line l;
		struct candidate *c;
		char id[LW_CONTAINER_ID_LEN + 1];
		size_t end;

		if (cgroup__parse_line(line, &l) || !(end = cgroup__match_container(l.path, s->prefix, id)))
			continue;
		if (!(c = candidate(s, id)))
			continue;
		if (!seen)
			c->nr_procs++;
		seen = true;
		/* the shallowest place wins: the container's own cgroup */
		if (l.hierarchy == 0) {
			if (!c->v2_path[0] || strlen(c->v2_path) > end)
				snprintf(c->v2_path, sizeof(c->v2_path), "%.*s", (int)end, l.path);
		} else if (!c->v1_path[0]) {
			for (size_t i = 0; i < s->nr_mounts; i++) {
				if (cgroup__mount_has(&s->mounts[i], l.controllers)) {
					snprintf(c->v1_path, sizeof(c->v1_path), "%.*s", (int)end, l.path);
					snprintf(c->v1_controllers, sizeof(c->v1_controllers), "%s",
						 l.controllers);
					break;
				}
			}
		}
	}
}

int cgroup__find_container(struct lw_cgroup *cg, const char *arg, char *why, size_t len)
{
	struct lw_cg_mount *mounts;
	struct scan *s;
	struct candidate *c;
	struct dirent *de;
	size_t nr, off;
	DIR *proc;
	int err = LW_EXIT_USAGE;

	memset(cg, 0, sizeof(*cg));
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, len, "out of memory looking for container %s", arg);
		return LW_EXIT_FAILURE;
	}
	if (cgroup__container_arg(arg, cg->container)) {
		snprintf(why, len, "bad --container value '%s': expected a container id or a unique "
			 "prefix of it, %d to %d hex digits (docker ps shows 12)", arg,
			 LW_CONTAINER_MIN_PREFIX, LW_CONTAINER_ID_LEN);
		free(s);
		return LW_EXIT_USAGE;
	}
	read_mounts(&mounts, &nr);
	s->prefix = cg->container;
	s->mounts = mounts;
	s->nr_mounts = nr;
	proc = opendir("/proc");
	if (!proc) {
		snprintf(why, len, "--container %s: cannot read /proc: %s", arg, strerror(errno));
		err = LW_EXIT_FAILURE;
		goto out;
	}
	while ((de = readdir(proc)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
			scan_pid(s, de->d_name);
	closedir(proc);

	if (s->nr_cands == 0) {
		snprintf(why, len, "no container with id %s: looked in the cgroups of %d processes "
			 "(/proc/PID/cgroup) for %s, with an ID of 64 hex digits starting %s; none "
			 "matched%s: check the id (docker ps --no-trunc, crictl ps, podman ps)", arg,
			 s->nr_procs, cgroup__container_forms, cg->container,
			 v2_mount(mounts, nr) ? "" : " (and no cgroup2 hierarchy is mounted)");
		err = LW_EXIT_TARGET;
		goto out;
	}
	if (s->nr_cands > 1) {
		off = snprintf(why, len, "container id prefix %s is ambiguous, %s%d containers have "
			       "it:", arg, s->nr_cands > MAX_CANDIDATES ? "more than " : "",
			       s->nr_cands > MAX_CANDIDATES ? MAX_CANDIDATES : s->nr_cands);
		for (int i = 0; i < s->nr_cands && i < LISTED_CANDIDATES && off < len; i++)
			off += snprintf(why + off, len - off, "%s %s (%s)", i ? "," : "", s->cands[i].id,
					s->cands[i].v2_path[0] ? s->cands[i].v2_path : s->cands[i].v1_path);
		if (off < len)
			snprintf(why + off, len - off, "%s; give more of the id",
				 s->nr_cands > LISTED_CANDIDATES ? " ..." : "");
		goto out;
	}
	c = &s->cands[0];
	memcpy(cg->container, c->id, sizeof(cg->container));
	if (c->v2_path[0]) {
		const struct lw_cg_mount *v2 = v2_mount(mounts, nr);
		struct stat st;

		if (!v2 || cgroup__dir_of(v2, c->v2_path, cg->dir, sizeof(cg->dir)) ||
		    stat(cg->dir, &st)) {
			snprintf(why, len, "container %.12s is in cgroup %s, which the cgroup2 mount "
				 "here (%s) does not show: run leakwatch in the host's cgroup namespace",
				 c->id, c->v2_path, v2 ? v2->point : "none");
			err = LW_EXIT_TARGET;
			goto out;
		}
		snprintf(cg->path, sizeof(cg->path), "%s", c->v2_path);
		cg->id = st.st_ino;
		err = 0;
		goto out;
	}
	/* hybrid host, the runtime placed the container in v1 hierarchies only */
	for (size_t i = 0; i < nr; i++) {
		if (cgroup__mount_has(&mounts[i], c->v1_controllers) &&
		    !cgroup__dir_of(&mounts[i], c->v1_path, cg->dir, sizeof(cg->dir)) &&
		    !access(cg->dir, R_OK)) {
			snprintf(cg->path, sizeof(cg->path), "%s", c->v1_path);
			snprintf(cg->v1_controllers, sizeof(cg->v1_controllers), "%s", c->v1_controllers);
			cg->v1 = true;
			err = 0;
			goto out;
		}
	}
	snprintf(why, len, "container %.12s is in cgroup %s (%s), which no mount here shows: "
		 "run leakwatch in the host's mount and cgroup namespaces", c->id, c->v1_path,
		 c->v1_controllers);
	err = LW_EXIT_TARGET;
out:
	free(mounts);
	free(s);
	return err;
}

struct pid_list {
	pid_t *v;
	size_t n, cap;
};

static int add_pid(struct pid_list *l, pid_t pid)
{
	if (l->n == l->cap) {
		size_t want = l->cap ? l->cap * 2 : 64;
		pid_t *v = realloc(l->v, want * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = want;
	}
	l->v[l->n++] = pid;
	return 0;
}

/* Appends the PIDs in dirfd's cgroup.procs. */
static int read_procs(int dirfd, struct pid_list *l)
{
	char buf[4096], carry[16] = "";
	size_t have = 0;
	ssize_t n;
	int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	/* one PID a line; a line may straddle two reads */
	while (!err && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n && !err; i++) {
			if (buf[i] != '\n') {
				if (have + 1 < sizeof(carry))
					carry[have++] = buf[i];
				continue;
			}
			carry[have] = 0;
			if (have)
				err = add_pid(l, atoi(carry));
			have = 0;
		}
	}
	if (n < 0 && !err)
		err = -errno;
	close(fd);
	/* a cgroup removed while being read is empty, not an error */
	return err == -ENODEV || err == -ENOENT ? 0 : err;
}

static int walk(int dirfd, struct pid_list *l, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, err;

	err = read_procs(dirfd, l);
	if (err || depth >= MAX_DEPTH)
		return err;
	fd = dup(dirfd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	while (!err && (de = readdir(d))) {
		int sub;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0)
			continue; /* removed meanwhile */
		err = walk(sub, l, depth + 1);
		close(sub);
	}
	closedir(d);
	return err;
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int cgroup__members(const struct lw_cgroup *cg, pid_t **pids, size_t *n)
{
	struct pid_list l = {};
	size_t kept = 0;
	int fd, err;

	*pids = NULL;
	*n = 0;
	fd = open(cg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = walk(fd, &l, 0);
	close(fd);
	if (err) {
		free(l.v);
		return err;
	}
	/* a process moving between two directories during the walk may be
	 * listed twice */
	qsort(l.v, l.n, sizeof(*l.v), pid_cmp);
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i] > 0 && (!kept || l.v[kept - 1] != l.v[i]))
			l.v[kept++] = l.v[i];
	if (!kept) {
		free(l.v);
		l.v = NULL;
	}
	*pids = l.v;
	*n = kept;
	return 0;
}

bool cgroup__holds(const struct lw_cgroup *cg, pid_t pid)
{
	char path[64], buf[8192], *line, *save = NULL;
	size_t plen = strlen(cg->path);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct lw_cg_line l;

		if (cgroup__parse_line(line, &l))
			continue;
		if (cg->v1 ? strcmp(l.controllers, cg->v1_controllers) : l.hierarchy != 0)
			continue;
		if (!strcmp(cg->path, "/"))
			return true;
		return !strncmp(l.path, cg->path, plen) && (!l.path[plen] || l.path[plen] == '/');
	}
	return false;
}
