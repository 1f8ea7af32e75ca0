// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* html.c: the page is whole, its data cannot end the script element, the
 * history is bounded, and files that cannot be written are handled. */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/exitcodes.h"
#include "outputs/exports.h"
#include "outputs/html.h"

#define DATA_START "<script type=\"application/json\" id=\"leakwatch-data\">"

struct fixture {
	char dir[64];
	char path[128];
	struct output_opts opts;
	void *state;
};

/* Names a C++ program can really have ('<' in templates), and one that
 * would end the element and open a comment if written as is. */
static const struct lw_sym caller_sym = {
	.function = "main", .offset = 12, .file = "main.c", .line = 7,
};
static const struct lw_sym inner_sym = {
	.function = "std::vector<int>::push</script><!--", .file = "v<1>.h", .line = 3,
	.caller = &caller_sym,
};
static const struct lw_module module = { .path = "/usr/bin/x</script>", .build_id = "ab12" };
static struct lw_frame frames[] = {
	{ .addr = 0x1000, .module = &module, .module_offset = 0x100, .sym = &inner_sym },
	{ .addr = 0x1000, .module = &module, .module_offset = 0x100, .sym = &caller_sym },
};
static struct lw_site site;
static struct lw_site *sites[] = { &site };
static struct report_process proc = { .pid = 42, .comm = "x", .rss_bytes = 1 << 20, .alive = true };

static void init_report(struct report *r, double t)
{
	memset(r, 0, sizeof(*r));
	memset(&site, 0, sizeof(site));
	site.pid = 42;
	site.id = 0x0123456789abcdefULL;
	site.frames = frames;
	site.nr_frames = 2;
	site.bytes = 4096;
	site.allocs = 2;
	series__add(&site.series, t, 4096);
	r->elapsed_s = t;
	r->interval_s = 1;
	r->procs = &proc;
	r->nr_procs = 1;
	r->totals.outstanding_bytes = 4096;
	r->stacks = sites;
	r->nr_stacks = 1;
	r->all_stacks = sites;
	r->nr_all_stacks = 1;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lw-test-html-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/r.html", f->dir);
	f->opts.html_path = f->path;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->state)
		html_exporter.close(f->state);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static char *slurp(const char *path)
{
	FILE *in = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int c;

	if (!in)
		return NULL;
	out = open_memstream(&buf, &len);
	while ((c = fgetc(in)) != EOF)
		fputc(c, out);
	fclose(out);
	fclose(in);
	return buf;
}

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void test_page_whole_and_data_escaped(void **state)
{
	struct fixture *f = *state;
	struct report r;
	char *page, *data, *end;

	assert_int_equal(html_exporter.open(&f->state, &f->opts), 0);
	init_report(&r, 1.5);
	html_exporter.report(f->state, &r);
	page = slurp(f->path);
	assert_non_null(page);
	assert_int_equal(strncmp(page, "<!DOCTYPE html>", 15), 0);
	assert_string_equal(page + strlen(page) - 8, "</html>\n");
	data = strstr(page, DATA_START);
	assert_non_null(data);
	data += strlen(DATA_START);
	end = strstr(data, "</script>");
	assert_non_null(end);
	/* nothing in the data looks like markup: every '<' is \u003c */
	assert_null(memchr(data, '<', end - data));
	assert_non_null(strstr(data, "\"function\":\"std::vector\\u003cint>::push\\u003c/script>"
				     "\\u003c!--\""));
	assert_non_null(strstr(data, "\"module\":\"/usr/bin/x\\u003c/script>\""));
	assert_non_null(strstr(data, "\"inlined\":true"));
	/* both frames of the stack share one address but not one entry */
	assert_non_null(strstr(data, "\"flame\":{\"stacks\":[{\"id\":\"0123456789abcdef\",\"pid\":42,"
				     "\"bytes\":4096,\"frames\":[0,1]}]"));
	/* the styles and the script built in */
	assert_non_null(strstr(page, "<style>\n/* leakwatch's HTML report"));
	assert_non_null(strstr(page, "JSON.parse(document.getElementById(\"leakwatch-data\")"));
	assert_int_equal(entries(f->dir), 1); /* no temporary file left */
	free(page);
}

static void test_history_bounded(void **state)
{
	struct fixture *f = *state;
	struct report r;
	char *page;

	assert_int_equal(html_exporter.open(&f->state, &f->opts), 0);
	for (int i = 1; i <= 600; i++) {
		init_report(&r, i);
		html_exporter.report(f->state, &r);
	}
	page = slurp(f->path);
	assert_non_null(page);
	/* the last 512 reports: 89..600 */
	assert_non_null(strstr(page, "\"history\":{\"t\":[89,90,"));
	assert_non_null(strstr(page, ",599,600],\"outstanding_bytes\":[4096,"));
	free(page);
}

static void test_unwritable_at_open(void **state)
{
	struct fixture *f = *state;
	char missing[160];

	f->opts.html_path = f->dir; /* a directory */
	assert_int_equal(html_exporter.open(&f->state, &f->opts), LW_EXIT_USAGE);
	assert_null(f->state);
	snprintf(missing, sizeof(missing), "%s/no/such/r.html", f->dir);
	f->opts.html_path = missing;
	assert_int_equal(html_exporter.open(&f->state, &f->opts), LW_EXIT_USAGE);
	assert_null(f->state);
	f->opts.html_path = f->path;
}

/* Runs fn with stderr going to a file; returns what it wrote. */
static char *stderr_of(void (*fn)(struct fixture *), struct fixture *f)
{
	char log[160];
	int saved = dup(2), fd;
	char *out;

	snprintf(log, sizeof(log), "%s.stderr", f->dir);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	close(fd);
	fn(f);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	out = slurp(log);
	unlink(log);
	return out;
}

static void three_reports_without_dir(struct fixture *f)
{
	struct report r;

	for (int i = 1; i <= 3; i++) {
		init_report(&r, i);
		html_exporter.report(f->state, &r);
	}
}

static void test_write_failure_said_once(void **state)
{
	struct fixture *f = *state;
	struct report r;
	char *err, *page;

	assert_int_equal(html_exporter.open(&f->state, &f->opts), 0);
	assert_int_equal(rmdir(f->dir), 0);
	err = stderr_of(three_reports_without_dir, f);
	assert_non_null(err);
	/* one line for three failed reports, and no crash */
	assert_non_null(strstr(err, "cannot write --html"));
	assert_non_null(strchr(err, '\n'));
	assert_string_equal(strchr(err, '\n') + 1, "");
	free(err);
	/* the directory back: the next report writes the page */
	assert_int_equal(mkdir(f->dir, 0700), 0);
	init_report(&r, 4);
	html_exporter.report(f->state, &r);
	page = slurp(f->path);
	assert_non_null(page);
	assert_non_null(strstr(page, "\"elapsed_s\":4,"));
	free(page);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_page_whole_and_data_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_at_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_said_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
