// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* atomic_file.h in a temporary directory: a file is replaced whole or not
 * at all, only the temporaries of dead writers are cleaned up, and an
 * exporter's file is claimed at open and kept when a write fails. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/exitcodes.h"
#include "outputs/atomic_file.h"

struct dir {
	char path[64];
};

static int setup(void **state)
{
	struct dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/lw-unit-atomic-XXXXXX");
	if (!mkdtemp(d->path)) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dir *d = *state;
	struct dirent *e;
	DIR *dir = opendir(d->path);

	while (dir && (e = readdir(dir)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(dir), e->d_name, 0);
	if (dir)
		closedir(dir);
	rmdir(d->path);
	free(d);
	return 0;
}

static void put(const struct dir *d, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* The contents of name, or NULL when it does not exist. */
static char *get(const struct dir *d, const char *name)
{
	static char text[256];
	char path[PATH_MAX];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d->path, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = 0;
	fclose(f);
	return text;
}

static int entries(const struct dir *d)
{
	struct dirent *e;
	DIR *dir = opendir(d->path);
	int n = 0;

	assert_non_null(dir);
	while ((e = readdir(dir)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(dir);
	return n;
}

static void test_replace(void **state)
{
	struct dir *d = *state;
	struct atomic_file af;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/out.txt", d->path);
	put(d, "out.txt", "old");
	assert_int_equal(atomic_file__begin(&af, path), 0);
	fputs("new", af.f);
	/* until the commit, the file is the old one, and the temporary is beside it */
	assert_string_equal(get(d, "out.txt"), "old");
	assert_int_equal(entries(d), 2);
	assert_int_equal(atomic_file__commit(&af), 0);
	assert_string_equal(get(d, "out.txt"), "new");
	assert_int_equal(entries(d), 1);

	assert_int_equal(atomic_file__begin(&af, path), 0);
	fputs("dropped", af.f);
	atomic_file__abort(&af);
	assert_string_equal(get(d, "out.txt"), "new");
	assert_int_equal(entries(d), 1);
}

static void test_probe(void **state)
{
	struct dir *d = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/out.txt", d->path);
	assert_int_equal(atomic_file__probe(path), 0);
	assert_int_equal(entries(d), 0);
	assert_int_equal(atomic_file__probe(d->path), -EISDIR);
	snprintf(path, sizeof(path), "%s/missing/out.txt", d->path);
	assert_int_equal(atomic_file__probe(path), -ENOENT);
	snprintf(path, sizeof(path), "%s/", d->path);
	assert_int_equal(atomic_file__probe(path), -EISDIR);
}

static void test_clean(void **state)
{
	struct dir *d = *state;
	char dead_tmp[64], live_tmp[64], short_tmp[64], other_tmp[64];
	pid_t dead = fork();

	assert_true(dead >= 0);
	if (!dead)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	snprintf(dead_tmp, sizeof(dead_tmp), ".out.txt.%d.AbC123", (int)dead);
	snprintf(live_tmp, sizeof(live_tmp), ".out.txt.%d.AbC123", (int)getpid());
	snprintf(short_tmp, sizeof(short_tmp), ".out.txt.%d.AbC12", (int)dead);
	snprintf(other_tmp, sizeof(other_tmp), ".other.%d.AbC123", (int)dead);
	put(d, dead_tmp, "x");
	put(d, live_tmp, "x");
	put(d, short_tmp, "x");
	put(d, other_tmp, "x");
	put(d, "out.txt", "x");
	atomic_file__clean(d->path, "out.txt");
	/* only the dead writer's temporary of out.txt goes */
	assert_null(get(d, dead_tmp));
	assert_non_null(get(d, live_tmp));
	assert_non_null(get(d, short_tmp));
	assert_non_null(get(d, other_tmp));
	assert_non_null(get(d, "out.txt"));
}

static int write_new(FILE *f, const struct report *r)
{
	fputs("new", f);
	return 0;
}

static int write_fails(FILE *f, const struct report *r)
{
	fputs("half", f);
	return -ENOSPC;
}

static void test_export_file(void **state)
{
	struct dir *d = *state;
	char path[PATH_MAX];
	struct export_file *x;
	void *st = NULL;

	/* a directory is no file to replace: a usage error, nothing allocated */
	assert_int_equal(export_file__open(&st, sizeof(*x), d->path, "--test"), LW_EXIT_USAGE);
	assert_null(st);
	snprintf(path, sizeof(path), "%s/out.txt", d->path);
	assert_int_equal(export_file__open(&st, sizeof(*x) + 8, path, "--test"), 0);
	x = st;
	assert_string_equal(x->path, path);
	assert_string_equal(x->option, "--test");
	assert_false(x->failing);
	export_file__write(x, NULL, write_new, true);
	assert_string_equal(get(d, "out.txt"), "new");
	/* a failed write leaves the last file whole, and no temporary */
	export_file__write(x, NULL, write_fails, true);
	assert_true(x->failing);
	assert_string_equal(get(d, "out.txt"), "new");
	assert_int_equal(entries(d), 1);
	export_file__write(x, NULL, write_new, true);
	assert_false(x->failing);
	export_file__close(st);
	export_file__close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
