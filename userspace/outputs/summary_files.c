// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "outputs/atomic_file.h"
#include "common/exitcodes.h"
#include "common/messages.h"
#include "outputs/report_json.h"
#include "outputs/summary_files.h"

#define NAME_PREFIX "leakwatch-"
#define NAME_SUFFIX ".json"
/* reports come on time to within clock readings: do not miss one by a hair */
#define DUE_SLACK_S 1e-6

struct summary_files {
	const char *dir;
	double every_s;
	double next_s;   /* elapsed time from which the next file is due */
	int keep;
	int top;
	bool failing;    /* the last write failed (said once until one works) */
};

int parse_duration(const char *s, double *out)
{
	static const struct {
		const char *suffix;
		double seconds;
	} units[] = {
		{ "", 1 }, { "ms", 1e-3 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 },
	};
	char *end;
	double v;

	/* plain decimals: no sign, blanks, hex, exponents, inf or nan */
	if (!(*s >= '0' && *s <= '9') && *s != '.')
		return -EINVAL;
	if (strpbrk(s, "xXeE"))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix))
			continue;
		v *= units[i].seconds;
		if (!isfinite(v) || v < 1e-3 || v > 365 * 86400.0)
			return -EINVAL;
		*out = v;
		return 0;
	}
	return -EINVAL;
}

void summary_files__name(char *buf, size_t len, const struct timespec *when, pid_t pid)
{
	struct tm tm;

	gmtime_r(&when->tv_sec, &tm);
	snprintf(buf, len, NAME_PREFIX "%04d%02d%02dT%02d%02d%02d.%03ldZ-%d" NAME_SUFFIX,
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 when->tv_nsec / 1000000, (int)pid);
}

/* n digits at s. */
static bool digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool summary_files__is_name(const char *name)
{
	/* leakwatch-YYYYMMDDTHHMMSS.mmmZ-PID.json */
	const char *p = name + strlen(NAME_PREFIX);
	size_t len = strlen(name), pid_len;

	if (strncmp(name, NAME_PREFIX, strlen(NAME_PREFIX)) ||
	    len < strlen(NAME_PREFIX) + 21 + strlen(NAME_SUFFIX) ||
	    strcmp(name + len - strlen(NAME_SUFFIX), NAME_SUFFIX))
		return false;
	if (!digits(p, 8) || p[8] != 'T' || !digits(p + 9, 6) || p[15] != '.' ||
	    !digits(p + 16, 3) || strncmp(p + 19, "Z-", 2))
		return false;
	pid_len = len - strlen(NAME_SUFFIX) - (p + 21 - name);
	return pid_len >= 1 && pid_len <= 10 && digits(p + 21, pid_len);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the oldest summary files beyond the newest keep. */
static void prune(struct summary_files *sf)
{
	char **names = NULL;
	size_t nr = 0, cap = 0;
	struct dirent *e;
	DIR *d = opendir(sf->dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!summary_files__is_name(e->d_name))
			continue;
		if (nr == cap) {
			size_t want = cap ? cap * 2 : 64;
			char **v = realloc(names, want * sizeof(*v));

			if (!v)
				break;
			names = v;
			cap = want;
		}
		if (!(names[nr] = strdup(e->d_name)))
			break;
		nr++;
	}
	/* names sort by time, oldest first */
	if (nr > 1)
		qsort(names, nr, sizeof(*names), by_name);
	for (size_t i = 0; i + sf->keep < nr; i++)
		unlinkat(dirfd(d), names[i], 0);
	for (size_t i = 0; i < nr; i++)
		free(names[i]);
	free(names);
	closedir(d);
}

static void write_file(struct summary_files *sf, const struct report *r)
{
	char name[96], path[PATH_MAX];
	struct atomic_file af;
	int err;

	summary_files__name(name, sizeof(name), &r->when, getpid());
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", sf->dir, name) >= sizeof(path))
		err = -ENAMETOOLONG;
	else
		err = atomic_file__begin(&af, path);
	if (!err) {
		report_json__print(af.f, r);
		err = atomic_file__commit(&af);
	}
	if (err) {
		if (!sf->failing)
			lw_say("cannot write summary file %s: %s; trying again with the next one",
			       path, strerror(-err));
		sf->failing = true;
		return;
	}
	sf->failing = false;
	prune(sf);
}

static bool wanted(const struct output_opts *opts)
{
	return opts->summary_dir;
}

static int open_files(void **state, const struct output_opts *opts)
{
	struct summary_files *sf;
	char probe[PATH_MAX];
	struct stat st;
	int err;

	if (stat(opts->summary_dir, &st)) {
		lw_say("cannot use --summary-dir %s: %s (create the directory first)", opts->summary_dir,
		       strerror(errno));
		return LW_EXIT_USAGE;
	}
	if (!S_ISDIR(st.st_mode)) {
		lw_say("--summary-dir %s is not a directory: give a directory for the summary files",
		       opts->summary_dir);
		return LW_EXIT_USAGE;
	}
	snprintf(probe, sizeof(probe), "%s/" NAME_PREFIX "probe", opts->summary_dir);
	err = atomic_file__probe(probe);
	if (err) {
		lw_say("cannot write in --summary-dir %s: %s", opts->summary_dir, strerror(-err));
		return LW_EXIT_USAGE;
	}
	/* what a killed run was writing */
	atomic_file__clean(opts->summary_dir, NAME_PREFIX);
	sf = calloc(1, sizeof(*sf));
	if (!sf) {
		lw_say("out of memory");
		return LW_EXIT_FAILURE;
	}
	sf->dir = opts->summary_dir;
	sf->every_s = opts->summary_every_s;
	sf->next_s = opts->summary_every_s;
	sf->keep = opts->summary_keep;
	sf->top = opts->top;
	*state = sf;
	return 0;
}

static void report(void *state, const struct report *r)
{
	struct summary_files *sf = state;
	struct report view = *r;
	struct lw_site **ranked;

	if (r->summary) {
		write_file(sf, r);
		return;
	}
	if (r->elapsed_s + DUE_SLACK_S < sf->next_s)
		return;
	sf->next_s = (floor((r->elapsed_s + DUE_SLACK_S) / sf->every_s) + 1) * sf->every_s;
	/* the summary's view of this report: every trend, growing stacks first */
	ranked = malloc((r->nr_all_stacks + 1) * sizeof(*ranked));
	if (!ranked) {
		lw_say("out of memory writing a summary file; trying again with the next one");
		return;
	}
	if (r->nr_all_stacks)
		memcpy(ranked, r->all_stacks, r->nr_all_stacks * sizeof(*ranked));
	view.summary = true;
	view.stacks = ranked;
	view.nr_stacks = report__pick_stacks(ranked, r->nr_all_stacks, sf->top, true);
	write_file(sf, &view);
	free(ranked);
}

static void close_files(void *state)
{
	free(state);
}

const struct exporter summary_files_exporter = {
	.name = "summary files",
	.wanted = wanted,
	.open = open_files,
	.report = report,
	.close = close_files,
};
