// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <argp.h>
#include <stdarg.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "options/cli.h"
#include "kernel/kernel.h"
#include "kernel/tracer.h"
#include "common/exitcodes.h"
#include "common/messages.h"
#include "outputs/prometheus_text.h"
#include "outputs/summary_files.h"

const char *argp_program_version = "leakwatch 0.1";
const char *argp_program_bug_address = NULL;

static const char doc[] =
"Which call stacks of a running process hold memory, and how that changes.\n"
"\n"
"USAGE: leakwatch -p PID [-p PID...] [-T N] [--json FILE] [INTERVAL [COUNT]]\n"
"       leakwatch -C CGROUP | --container ID [OPTIONS] [INTERVAL [COUNT]]\n"
"       leakwatch [OPTIONS] [INTERVAL [COUNT]] -- CMD [ARG...]\n"
"       leakwatch diff OLD NEW [--group-by KEY] [--json FILE] [--at TIME] [-T N]\n"
"\n"
"Every INTERVAL seconds (default 5, fractions allowed) prints the stacks\n"
"holding the most outstanding (allocated, not yet freed) bytes, their change\n"
"since the last report, and per-process totals. Ctrl-C, SIGTERM, COUNT\n"
"reports, or the last target exiting end it with a final summary. Needs root\n"
"(CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN).\n"
"\n"
"EXAMPLES:\n"
"  leakwatch -p 1234              # a report every 5 s until Ctrl-C\n"
"  leakwatch -p 1234 1 60         # every second, 60 reports, then a summary\n"
"  leakwatch -p 1234,1240 -T 20   # two processes, top 20 stacks\n"
"  leakwatch -p 1234 --json - 10  # JSON lines on stdout, one per report\n"
"  leakwatch -p 1234 --group-by line  # bytes per source line (Python: its line)\n"
"  leakwatch diff old.json new.json   # what grew between two reports (no root)\n"
"  leakwatch -c \"./server -v\" 2   # start a command, watch it until it exits\n"
"  leakwatch 1 -- ./server --port \"8080\"  # the same with an exact argv\n"
"  leakwatch -p 1234 --prometheus 9477     # metrics on 127.0.0.1:9477/metrics\n"
"  leakwatch -p 1234 --pprof heap.pb.gz --folded heap.folded 1 30  # profiles\n"
"  leakwatch -p 1234 --summary-every 5m --summary-dir /var/tmp/lw  # unattended\n"
"  leakwatch -C system.slice/app.service 2  # every process of a cgroup\n"
"  leakwatch --container 3f2a9c1b7d4e      # a container's processes, by id\n"
"  leakwatch --growth -C system.slice 10   # cheap enough to leave on: who grows\n"
"\v"
"EXIT STATUS: 0 done; 1 failed while loading, attaching or running;\n"
"2 target problem (no such PID or container, kernel thread, allocator symbols not\n"
"found, target gone); 3 missing privilege or kernel feature (root,\n"
"CAP_BPF, BTF); 64 bad usage.\n";

static const char args_doc[] = "[INTERVAL [COUNT]]";

enum {
	OPT_JSON = 0x100,
	OPT_MAX_ALLOCS,
	OPT_MAX_STACKS,
	OPT_USAGE,
	OPT_BENCH_FLOOR,
	OPT_CHECK,
	OPT_KERNEL_WITHOUT,
	OPT_REFUSE,
	OPT_SAMPLE_EVERY,
	OPT_SAMPLE_BYTES,
	OPT_MIN_AGE,
	OPT_NO_FOLLOW_FORKS,
	OPT_HTML,
	OPT_PROMETHEUS,
	OPT_PPROF,
	OPT_PPROF_EVERY,
	OPT_FOLDED,
	OPT_SUMMARY_EVERY,
	OPT_SUMMARY_DIR,
	OPT_SUMMARY_KEEP,
	OPT_CONTAINER,
	OPT_UNWIND,
	OPT_VERIFY_STACKS,
	OPT_UNWIND_ROWS,
	OPT_NO_PYTHON,
	OPT_PYTHON_OBJECTS,
	OPT_GROUP_BY,
	OPT_SINCE,
	OPT_GROWTH,
	OPT_GRANULE,
	OPT_ZOOM,
	OPT_ZOOM_PER,
	OPT_ALL,
};

/* Bad input: one line naming the cause and the fix, exit EX_USAGE. argp's
 * own messages are two lines and its failure path would not exit under
 * ARGP_NO_ERRS, so every usage error comes through here. */
static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lw_vsay(fmt, ap);
	va_end(ap);
	exit(LW_EXIT_USAGE);
}

/* The argument argp stopped at, for the one-line message. */
static const char *bad_arg;
/* Which sampling options were given (1 every, 2 bytes), even as no-ops. */
static int sampling_options;
/* Whether --summary-keep was given (its default applies otherwise). */
static bool summary_keep_given;
/* Whether --granule was given (it needs --growth). */
static bool granule_given;

static const struct argp_option options[] = {
	{ "pid", 'p', "PID[,PID...]", 0, "Process(es) to watch (repeatable)", 0 },
	{ "command", 'c', "\"CMD ARGS\"", 0, "Start CMD (split on blanks, no shell) and watch it; "
	  "for an exact argv use -- CMD ARG...", 0 },
	{ "cgroup", 'C', "PATH", 0, "Every process in a cgroup v2 directory and below it; PATH "
	  "absolute or relative to the cgroup2 mount", 0 },
	{ "container", OPT_CONTAINER, "ID", 0, "Every process of a container (Docker, containerd, "
	  "CRI-O, Podman), by its id or a unique prefix (4+ hex digits)", 0 },
	{ "no-follow-forks", OPT_NO_FOLLOW_FORKS, NULL, 0, "Watch only the processes named, not "
	  "the children they fork (followed by default, from the fork on)", 0 },
	{ "top", 'T', "N", 0, "Stacks per report, text and JSON (default 10)", 0 },
	{ "json", OPT_JSON, "FILE", 0, "JSON lines to FILE, or stdout for '-' (replaces the table)", 0 },
	{ "group-by", OPT_GROUP_BY, "KEY", 0, "Sum stacks by line, function, file or module "
	  "(Python: the innermost Python frame; native: the innermost frame outside the allocator "
	  "and runtime); default stack", 0 },
	{ "since", OPT_SINCE, "DURATION", 0, "DELTA is the growth since the report this long ago "
	  "(30s, 10m, 1h; since the start while the watch is younger), not since the last one", 0 },
	{ "html", OPT_HTML, "FILE", 0, "A self-contained HTML report (charts, flame graph, "
	  "verdicts) to FILE, rewritten after every report", 0 },
	{ "min-age", OPT_MIN_AGE, "SECONDS", 0, "Show only stacks holding bytes older than this, "
	  "and how many (leaks are old, churn is young)", 0 },
	{ "prometheus", OPT_PROMETHEUS, "[ADDR:]PORT", 0, "Serve metrics on http://ADDR:PORT/metrics "
	  "(ADDR 127.0.0.1 unless given; [ADDR] for IPv6)", 0 },
	{ "wide", 'w', NULL, 0, "Full stacks in the text report (default: 8 frames each)", 0 },
	{ "verbose", 'v', NULL, 0, "Say what is attached where; repeat for libbpf's messages", 0 },
	{ NULL, 0, NULL, 0, "Sampling (numbers become unbiased estimates; the probes still trap on "
	  "every call):", 1 },
	{ "sample-every", OPT_SAMPLE_EVERY, "N", 0, "Record one heap allocation in N per thread", 1 },
	{ "sample-bytes", OPT_SAMPLE_BYTES, "B", 0, "Record an allocation of s bytes with probability "
	  "min(1, s/B) (K, M suffixes)", 1 },
	{ NULL, 0, NULL, 0, "Growth mode (cheap enough to leave on; no allocator probes):", 1 },
	{ "growth", OPT_GROWTH, NULL, 0, "Count resident memory growth by the stack that first "
	  "touched it (page faults), net of what munmap, madvise and brk give back, instead of "
	  "every allocator call", 1 },
	{ "granule", OPT_GRANULE, "SIZE", 0, "--growth: memory is owned by its first toucher in "
	  "blocks of SIZE, a power of two from 4K to 2M (default 64K; smaller is finer and walks "
	  "more stacks)", 1 },
	{ "all", OPT_ALL, NULL, 0, "--growth: every process of the host, and those started "
	  "later (the whole cgroup2 hierarchy)", 1 },
	{ "zoom", OPT_ZOOM, "DURATION", 0, "--growth: when a process turns growing, count its "
	  "every allocator call for DURATION (30s, 5m), once, then go back", 1 },
	{ "zoom-per", OPT_ZOOM_PER, "N", 0, "--zoom: at most one window at a time per N "
	  "processes watched (default 50)", 1 },
	{ NULL, 0, NULL, 0, "Stacks:", 2 },
	{ "unwind", OPT_UNWIND, "fp|auto|cfi", 0, "How stacks are walked: frame pointers, "
	  "CFI where a module lacks frame pointers (default), or CFI wherever a module has it", 2 },
	{ "verify-stacks", OPT_VERIFY_STACKS, "N", 0, "Every Nth allocation, also unwind a copy of "
	  "the stack with libdw and report how often it agrees", 2 },
	{ "no-python", OPT_NO_PYTHON, NULL, 0, "Do not walk CPython frames: native stacks only, "
	  "and pymalloc arenas count as mmap", 2 },
	{ "python-objects", OPT_PYTHON_OBJECTS, NULL, 0, "Count each Python object at the "
	  "interpreter's allocator, where its build allows, instead of pymalloc's arenas "
	  "(exact bytes, at a cost per object)", 2 },
	{ NULL, 0, NULL, 0, "Limits (kernel memory is taken only as entries are used):", 5 },
	{ "max-allocs", OPT_MAX_ALLOCS, "N", 0, "Live allocations tracked (default 1048576)", 5 },
	{ "max-stacks", OPT_MAX_STACKS, "N", 0, "Distinct stacks kept (default 32768)", 5 },
	{ "unwind-rows", OPT_UNWIND_ROWS, "N", 0, "CFI rows kept in the kernel, 12 bytes each "
	  "(default 1048576)", 5 },
	{ NULL, 0, NULL, 0, "Files (each replaced whole, never seen half-written):", 3 },
	{ "pprof", OPT_PPROF, "FILE", 0, "Outstanding allocations of every stack as a gzipped pprof "
	  "profile, written at exit", 3 },
	{ "pprof-every", OPT_PPROF_EVERY, NULL, 0, "Rewrite the --pprof file at every report too", 3 },
	{ "folded", OPT_FOLDED, "FILE", 0, "Folded stacks (flame graphs) of every stack, rewritten "
	  "at every report", 3 },
	{ "summary-every", OPT_SUMMARY_EVERY, "DURATION", 0, "Write a summary (the JSON summary "
	  "line) into --summary-dir this often: 30s, 5m, 1h, or seconds", 3 },
	{ "summary-dir", OPT_SUMMARY_DIR, "DIR", 0, "Where --summary-every writes, one file each", 3 },
	{ "summary-keep", OPT_SUMMARY_KEEP, "N", 0, "Summary files kept in DIR, the newest (default "
	  "24)", 3 },
	{ "bench-floor", OPT_BENCH_FLOOR, "entry|own|file", OPTION_HIDDEN,
	  "Attach empty programs instead (the benchmark's floors)", 4 },
	{ "kernel-without", OPT_KERNEL_WITHOUT, "FEATURE[,FEATURE]", OPTION_HIDDEN,
	  "Take these kernel features as missing: their fallbacks, on any kernel", 4 },
	{ "refuse", OPT_REFUSE, "PART", OPTION_HIDDEN,
	  "Make the verifier refuse PART (tests of leaving it out)", 4 },
	{ "check", OPT_CHECK, NULL, 0, "With no target: what this kernel runs (the tier), what "
	  "is left out and why; exit 0 when leakwatch can run here", -1 },
	{ "help", 'h', NULL, 0, "Show this help", -1 },
	{ "usage", OPT_USAGE, NULL, 0, "Show a short usage message", -1 },
	{ "version", 'V', NULL, 0, "Print the version", -1 },
	{},
};

int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	/* plain decimals only: no sign, blanks, hex or exponents below 1 ms */
	if (!(*s >= '0' && *s <= '9') && *s != '.')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0.001 || v > 86400 ||
	    strpbrk(s, "xX"))
		return -EINVAL;
	*out = v;
	return 0;
}

/* Bytes with an optional K or M suffix, from 1 to max. */
static int parse_bytes(const char *s, long max, long *out)
{
	size_t n = strlen(s);
	long mult = 1, v;
	char num[32];

	if (n && (s[n - 1] == 'K' || s[n - 1] == 'k'))
		mult = 1024, n--;
	else if (n && (s[n - 1] == 'M' || s[n - 1] == 'm'))
		mult = 1024 * 1024, n--;
	snprintf(num, sizeof(num), "%.*s", (int)n, s);
	if (n >= sizeof(num) || parse_long(num, 1, max / mult, &v))
		return -EINVAL;
	*out = v * mult;
	return 0;
}

int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!((*s >= '0' && *s <= '9') || (*s == '-' && min < 0)))
		return -EINVAL; /* no blanks or '+' */
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void add_pids(struct argp_state *state, struct env *env, const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	long pid;

	if (!copy)
		usage_error("out of memory parsing -p");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (parse_long(tok, 1, 0x7fffffff, &pid))
			usage_error("bad PID '%s' in -p %s: expected a process id like 1234", tok, arg);
		if (env->nr_pids == LW_MAX_PIDS)
			usage_error("too many PIDs: at most %d", LW_MAX_PIDS);
		env->pids[env->nr_pids++] = pid;
	}
	free(copy);
	if (!env->nr_pids)
		usage_error("-p needs a PID, e.g. -p 1234");
}

static error_t parse_arg(int key, char *arg, struct argp_state *state);

/* -C or --container to a cgroup now, so a bad one fails before anything
 * is loaded. A well-formed id of no running container is a target problem
 * (exit 2, like a PID of no process); bad paths and ids are usage (64). */
static void resolve_cgroup(struct env *env)
{
	char why[PATH_MAX * 2 + 512];
	int err;

	if (env->cgroup_arg)
		err = cgroup__open(&env->cgroup, env->cgroup_arg, why, sizeof(why));
	else
		err = cgroup__find_container(&env->cgroup, env->container_arg, why, sizeof(why));
	if (err) {
		lw_say("%s", why);
		exit(err);
	}
	env->has_cgroup = true;
}

/* -c's words: split on blanks, no quoting, no shell. */
static char **split_words(const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok, **words;
	size_t n = 0;

	words = calloc(strlen(arg) / 2 + 2, sizeof(*words));
	if (!copy || !words)
		usage_error("out of memory parsing -c");
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		words[n++] = tok;
	return words;
}

static const struct argp argp = {
	.options = options,
	.parser = parse_arg,
	.args_doc = args_doc,
	.doc = doc,
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct env *env = state->input;
	long v;

	switch (key) {
	case 'p':
		add_pids(state, env, arg);
		break;
	case 'c':
		if (env->command)
			usage_error("one command only: -c given twice, or with -- CMD");
		env->command = split_words(arg);
		if (!env->command[0])
			usage_error("-c needs a command, e.g. -c \"./server --port 8080\"");
		break;
	case 'C':
	case OPT_CONTAINER:
		if (env->cgroup_arg || env->container_arg)
			usage_error("one cgroup only: -C and --container given %s",
				    (key == 'C' ? env->cgroup_arg : env->container_arg) ? "twice" : "together");
		if (key == 'C')
			env->cgroup_arg = arg;
		else
			env->container_arg = arg;
		break;
	case 'T':
		if (parse_long(arg, 1, 100000, &v))
			usage_error("bad -T value '%s': expected a number of stacks from 1 to 100000", arg);
		env->out.top = v;
		break;
	case OPT_JSON:
		if (!*arg)
			usage_error("--json needs a FILE, or - for stdout");
		env->json_path = arg;
		break;
	case OPT_GROUP_BY:
		if (group_by__parse(arg, &env->group_by))
			usage_error("bad --group-by value '%s': expected stack, line, function, file or "
				    "module", arg);
		break;
	case OPT_SINCE:
		if (parse_duration(arg, &env->since_s) || env->since_s <= 0)
			usage_error("bad --since value '%s': expected a duration like 30s, 10m, 1h "
				    "or plain seconds", arg);
		break;
	case OPT_HTML:
		if (!*arg || !strcmp(arg, "-"))
			usage_error("--html needs a FILE to write, e.g. --html leaks.html");
		env->out.html_path = arg;
		break;
	case OPT_PROMETHEUS: {
		struct sockaddr_storage addr;
		socklen_t len;

		if (prom_parse_listen(arg, &addr, &len))
			usage_error("bad --prometheus value '%s': expected PORT, IPV4:PORT or [IPV6]:PORT "
				    "with PORT 1-65535, e.g. 9477 or 0.0.0.0:9477", arg);
		env->out.prometheus = arg;
		break;
	}
	case 'v':
		env->verbose++;
		break;
	case OPT_NO_PYTHON:
		env->no_python = true;
		break;
	case OPT_PYTHON_OBJECTS:
		env->python_objects = true;
		break;
	case OPT_NO_FOLLOW_FORKS:
		env->no_follow_forks = true;
		break;
	case 'w':
		env->wide = true;
		break;
	case OPT_MIN_AGE:
		if (parse_seconds(arg, &env->min_age_s))
			usage_error("bad --min-age value '%s': expected seconds > 0, e.g. 60", arg);
		break;
	case OPT_MAX_ALLOCS:
	case OPT_MAX_STACKS:
		if (parse_long(arg, 1024, 1L << 26, &v))
			usage_error("bad %s value '%s': expected a number from 1024 to 67108864",
				     key == OPT_MAX_ALLOCS ? "--max-allocs" : "--max-stacks", arg);
		if (key == OPT_MAX_ALLOCS)
			env->max_allocs = v;
		else
			env->max_stacks = v;
		break;
	case OPT_UNWIND:
		if (unwind_mode_parse(arg, &env->unwind))
			usage_error("bad --unwind value '%s': expected fp, auto or cfi", arg);
		break;
	case OPT_VERIFY_STACKS:
		if (parse_long(arg, 1, 1000000000, &v))
			usage_error("bad --verify-stacks value '%s': expected a number from 1 to 1000000000",
				    arg);
		env->verify_every = v;
		break;
	case OPT_UNWIND_ROWS:
		if (parse_long(arg, 1024, 1L << 26, &v))
			usage_error("bad --unwind-rows value '%s': expected a number from 1024 to 67108864",
				    arg);
		env->unwind_rows = v;
		break;
	case OPT_SAMPLE_EVERY:
		if (parse_long(arg, 1, 1000000, &v))
			usage_error("bad --sample-every value '%s': expected a number from 1 to 1000000", arg);
		env->sample_every = v > 1 ? v : 0;
		sampling_options |= 1;
		break;
	case OPT_SAMPLE_BYTES:
		if (parse_bytes(arg, 1L << 30, &v))
			usage_error("bad --sample-bytes value '%s': expected bytes from 1 to 1G, e.g. 512K", arg);
		env->sample_bytes = v > 1 ? v : 0;
		sampling_options |= 2;
		break;
	case OPT_GROWTH:
		env->growth = true;
		break;
	case OPT_GRANULE:
		if (parse_bytes(arg, 2L << 20, &v) || v < 4096 || (v & (v - 1)))
			usage_error("bad --granule value '%s': expected a power of two from 4K to 2M, "
				    "e.g. 64K", arg);
		env->granule = v;
		granule_given = true;
		break;
	case OPT_ALL:
		env->all = true;
		break;
	case OPT_ZOOM:
		if (parse_duration(arg, &env->zoom_s) || env->zoom_s <= 0)
			usage_error("bad --zoom value '%s': expected a duration like 30s, 5m or plain "
				    "seconds", arg);
		break;
	case OPT_ZOOM_PER:
		if (parse_long(arg, 1, 100000, &v))
			usage_error("bad --zoom-per value '%s': expected a number of processes from 1 "
				    "to 100000", arg);
		env->zoom_per = v;
		break;
	case OPT_BENCH_FLOOR:
		if (!strcmp(arg, "entry"))
			env->bench_floor = 1;
		else if (!strcmp(arg, "own"))
			env->bench_floor = 2;
		else if (!strcmp(arg, "file"))
			env->bench_floor = 3;
		else
			usage_error("bad --bench-floor value '%s': expected entry, own or file", arg);
		break;
	case OPT_PPROF:
	case OPT_FOLDED:
	case OPT_SUMMARY_DIR:
		if (!*arg)
			usage_error("%s needs a %s", key == OPT_PPROF ? "--pprof" :
				    key == OPT_FOLDED ? "--folded" : "--summary-dir",
				    key == OPT_SUMMARY_DIR ? "directory" : "FILE");
		if (key == OPT_PPROF)
			env->out.pprof_path = arg;
		else if (key == OPT_FOLDED)
			env->out.folded_path = arg;
		else
			env->out.summary_dir = arg;
		break;
	case OPT_PPROF_EVERY:
		env->out.pprof_every = true;
		break;
	case OPT_SUMMARY_EVERY:
		if (parse_duration(arg, &env->out.summary_every_s))
			usage_error("bad --summary-every value '%s': expected a duration like 30s, 5m, "
				    "1h, 1d or plain seconds", arg);
		break;
	case OPT_SUMMARY_KEEP:
		if (parse_long(arg, 1, 1000000, &v))
			usage_error("bad --summary-keep value '%s': expected a number of files from 1 "
				    "to 1000000", arg);
		env->out.summary_keep = v;
		summary_keep_given = true;
		break;
	case 'h':
		/* argp_state_help prints nothing under ARGP_NO_ERRS */
		argp_help(&argp, stdout, ARGP_HELP_STD_HELP & ~ARGP_HELP_EXIT_OK, "leakwatch");
		exit(LW_EXIT_OK);
	case OPT_USAGE:
		argp_help(&argp, stdout, ARGP_HELP_USAGE, "leakwatch");
		exit(LW_EXIT_OK);
	case OPT_CHECK:
		env->check = true;
		break;
	case OPT_KERNEL_WITHOUT: {
		char *copy = strdup(arg), *tok, *save = NULL;

		if (!copy)
			usage_error("out of memory parsing --kernel-without");
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			int f = kernel__feature_by_name(tok);

			if (f < 0)
				usage_error("bad --kernel-without feature '%s': expected names "
					    "leakwatch --check lists, e.g. uprobe_multi", tok);
			env->kernel_without |= 1u << f;
		}
		free(copy);
		break;
	}
	case OPT_REFUSE:
		env->refuse_part = kernel__part_by_name(arg) + 1;
		if (!env->refuse_part)
			usage_error("bad --refuse part '%s': expected a name the report's "
				    "kernel.dropped uses, e.g. python_walk", arg);
		break;
	case 'V':
		printf("%s\n", argp_program_version);
		exit(LW_EXIT_OK);
	case ARGP_KEY_ERROR:
		bad_arg = state->next > 0 && state->next <= state->argc ? state->argv[state->next - 1] : NULL;
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num == 0) {
			if (parse_seconds(arg, &env->interval_s))
				usage_error("bad INTERVAL '%s': expected seconds > 0, e.g. 5 or 0.5", arg);
		} else if (state->arg_num == 1) {
			if (parse_long(arg, 1, 0x7fffffff, &env->count))
				usage_error("bad COUNT '%s': expected a number of reports >= 1", arg);
		} else {
			usage_error("unexpected argument '%s': usage is [INTERVAL [COUNT]]", arg);
		}
		break;
	case ARGP_KEY_END:
		if (env->out.pprof_every && !env->out.pprof_path)
			usage_error("--pprof-every needs --pprof FILE");
		if (!env->out.summary_every_s != !env->out.summary_dir)
			usage_error("--summary-every and --summary-dir go together: give both, e.g. "
				    "--summary-every 5m --summary-dir /var/tmp/leakwatch");
		if (summary_keep_given && !env->out.summary_dir)
			usage_error("--summary-keep needs --summary-every and --summary-dir");
		if (sampling_options == 3)
			usage_error("--sample-every and --sample-bytes exclude each other: choose one");
		if (env->python_objects && env->no_python)
			usage_error("--python-objects needs the Python walker: drop --no-python");
		if (granule_given && !env->growth)
			usage_error("--granule is for --growth: add --growth, or drop --granule");
		if (env->all && !env->growth)
			usage_error("--all is for --growth: full tracking of every process would slow "
				    "the whole host; add --growth");
		if (env->all && (env->nr_pids || env->command || env->cgroup_arg ||
				 env->container_arg))
			usage_error("--all watches every process: drop -p, -C, --container and the "
				    "command");
		if (env->all)
			env->cgroup_arg = "."; /* the cgroup2 hierarchy's root */
		if ((env->zoom_s || env->zoom_per) && !env->growth)
			usage_error("--zoom and --zoom-per zoom in from --growth: add --growth (the "
				    "default mode counts every call already)");
		if (env->zoom_per && !env->zoom_s)
			usage_error("--zoom-per needs --zoom DURATION");
		if (env->growth && (sampling_options || env->python_objects || env->verify_every ||
				    env->bench_floor))
			usage_error("--growth counts pages, not allocator calls: drop %s",
				    sampling_options ? "--sample-every/--sample-bytes" :
				    env->python_objects ? "--python-objects" :
				    env->verify_every ? "--verify-stacks" : "--bench-floor");
		if (env->check && (env->nr_pids || env->command || env->cgroup_arg || env->container_arg))
			usage_error("--check takes no target: run it alone, e.g. leakwatch --check");
		if (!env->check && !env->nr_pids && !env->command && !env->cgroup_arg &&
		    !env->container_arg)
			usage_error("nothing to watch: give -p PID, -C CGROUP, --container ID, -c CMD, "
				    "-- CMD, or --growth --all (see leakwatch --help)");
		if (env->cgroup_arg || env->container_arg)
			resolve_cgroup(env);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

void env__parse(struct env *env, int argc, char **argv)
{
	int dashes = argc;

	*env = (struct env){
		.interval_s = 5,
		.out.top = 10,
		.max_allocs = 1 << 20,
		.max_stacks = 1 << 15,
		.out.summary_keep = 24,
		.unwind_rows = 1 << 20,
		.granule = TRACER_GRANULE,
		/* most binaries have no frame pointers (glibc, -O2) */
		.unwind = UNWIND_AUTO,
	};
	/* "-- CMD ARG..." is the command's exact argv, not leakwatch's */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			dashes = i;
			break;
		}
	}
	if (dashes < argc) {
		if (dashes + 1 == argc)
			usage_error("-- needs a command after it, e.g. -- ./server --port 8080");
		env->command = &argv[dashes + 1];
	}
	if (argp_parse(&argp, dashes, argv, ARGP_NO_ERRS | ARGP_NO_HELP, NULL, env))
		usage_error("unknown option, or an option without its value: '%s' (see leakwatch --help)",
			    bad_arg ? bad_arg : "?");
}
