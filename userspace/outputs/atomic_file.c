// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/exitcodes.h"
#include "common/messages.h"
#include "outputs/atomic_file.h"

/* dir and base name of path ("." when it has no slash). */
static int split_path(const char *path, char *dir, size_t len, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(dir, len, ".");
		*base = path;
	} else if ((size_t)snprintf(dir, len, "%.*s", slash == path ? 1 : (int)(slash - path),
				    path) >= len) {
		return -ENAMETOOLONG;
	} else {
		*base = slash + 1;
	}
	return **base ? 0 : -EISDIR;
}

int atomic_file__begin(struct atomic_file *af, const char *path)
{
	char dir[PATH_MAX];
	const char *base;
	mode_t mask;
	int fd, err;

	af->f = NULL;
	err = split_path(path, dir, sizeof(dir), &base);
	if (err)
		return err;
	if ((size_t)snprintf(af->path, sizeof(af->path), "%s", path) >= sizeof(af->path) ||
	    (size_t)snprintf(af->tmp, sizeof(af->tmp), "%s/.%s.%d.XXXXXX", dir, base,
			     (int)getpid()) >= sizeof(af->tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(af->tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* the mode a plain fopen would give it (mkstemp's is 0600) */
	mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask);
	af->f = fdopen(fd, "w");
	if (!af->f) {
		err = -errno;
		close(fd);
		unlink(af->tmp);
		return err;
	}
	return 0;
}

static void sync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *base;
	int fd;

	if (split_path(path, dir, sizeof(dir), &base))
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* the rename lasts across a power cut; some file systems refuse, harmlessly */
	fsync(fd);
	close(fd);
}

int atomic_file__commit(struct atomic_file *af)
{
	int err = 0;

	if (fflush(af->f) || ferror(af->f))
		err = errno ? -errno : -EIO;
	/* on disk before the name points at it: a crash shows the old file or the new */
	else if (fsync(fileno(af->f)))
		err = -errno;
	if (fclose(af->f) && !err)
		err = errno ? -errno : -EIO;
	af->f = NULL;
	if (!err && rename(af->tmp, af->path))
		err = -errno;
	if (err) {
		unlink(af->tmp);
		return err;
	}
	sync_dir(af->path);
	return 0;
}

void atomic_file__abort(struct atomic_file *af)
{
	if (!af->f)
		return;
	fclose(af->f);
	af->f = NULL;
	unlink(af->tmp);
}

int atomic_file__probe(const char *path)
{
	struct atomic_file af;
	struct stat st;
	int err;

	/* rename cannot replace a directory */
	if (!stat(path, &st) && S_ISDIR(st.st_mode))
		return -EISDIR;
	err = atomic_file__begin(&af, path);
	if (err)
		return err;
	atomic_file__abort(&af);
	return 0;
}

void atomic_file__clean(const char *dir, const char *prefix)
{
	size_t plen = strlen(prefix);
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *name = e->d_name, *rand, *pid_at;
		char *end;
		long pid;

		/* ".NAME.PID.XXXXXX" with NAME starting with prefix */
		if (name[0] != '.' || strncmp(name + 1, prefix, plen))
			continue;
		rand = strrchr(name, '.');
		if (!rand || strlen(rand) != 7 || rand == name)
			continue;
		for (pid_at = rand - 1; pid_at > name && *pid_at != '.'; pid_at--)
			;
		if (pid_at == name)
			continue;
		pid = strtol(pid_at + 1, &end, 10);
		if (end != rand || pid <= 0)
			continue;
		/* a live writer (another leakwatch) is still using its own */
		if (kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		unlinkat(dirfd(d), name, 0);
	}
	closedir(d);
}

void atomic_file__clean_path(const char *path)
{
	char dir[PATH_MAX];
	const char *base;

	if (!split_path(path, dir, sizeof(dir), &base))
		atomic_file__clean(dir, base);
}

int atomic_file__claim(const char *path, const char *option)
{
	int err = atomic_file__probe(path);

	if (err) {
		lw_say("cannot write %s %s: %s", option, path, strerror(-err));
		return LW_EXIT_USAGE;
	}
	atomic_file__clean_path(path);
	return 0;
}

int export_file__open(void **state, size_t size, const char *path, const char *option)
{
	struct export_file *x;
	int err = atomic_file__claim(path, option);

	if (err)
		return err;
	x = calloc(1, size);
	if (!x) {
		lw_say("out of memory");
		return LW_EXIT_FAILURE;
	}
	x->path = path;
	x->option = option;
	*state = x;
	return 0;
}

void export_file__write(struct export_file *x, const struct report *r,
			int (*write)(FILE *f, const struct report *r), bool again)
{
	struct atomic_file af;
	int err = atomic_file__begin(&af, x->path);

	if (!err) {
		err = write(af.f, r);
		if (err)
			atomic_file__abort(&af);
		else
			err = atomic_file__commit(&af);
	}
	if (err && !x->failing)
		lw_say("cannot write %s %s: %s%s", x->option, x->path, strerror(-err),
		       again ? "; trying again at the next report" : "");
	x->failing = err;
}

void export_file__close(void *state)
{
	free(state);
}
