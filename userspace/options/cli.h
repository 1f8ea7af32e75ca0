/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The command line: parsed once into struct env, which the rest reads. */
#ifndef LW_CLI_H
#define LW_CLI_H

#include <stdbool.h>
#include <sys/types.h>
#include "targets/cgroup.h"
#include "outputs/exporter.h"
#include "judge/groups.h"
#include "stacks/unwind.h"

#define LW_MAX_PIDS 64

struct env {
	pid_t pids[LW_MAX_PIDS];    /* -p, in the order given */
	int nr_pids;
	struct output_opts out;     /* -T and the exporters' options (outputs/exporter.h) */
	double interval_s;          /* INTERVAL, default 5 */
	long count;                 /* COUNT reports then exit; 0 = until stopped */
	const char *json_path;      /* --json FILE, "-" = stdout; NULL = text */
	int verbose;                /* -v, repeatable */
	bool wide;                  /* -w: full stacks in the text report */
	double min_age_s;           /* --min-age: report bytes older than this; 0 = off */
	unsigned int max_allocs;    /* --max-allocs, live allocations tracked */
	unsigned int max_stacks;    /* --max-stacks, distinct stacks kept */
	char **command;             /* -c words or the argv after --; NULL-terminated */
	bool check;                 /* --check: the kernel's tier, no target */
	bool no_follow_forks;       /* --no-follow-forks: children are not watched */
	unsigned int sample_every;  /* --sample-every N: 0 = off */
	unsigned long long sample_bytes; /* --sample-bytes B: 0 = off */
	unsigned int kernel_without; /* --kernel-without: features taken as missing (bits
				      * of enum kernel_feature), to test the fallbacks */
	int refuse_part;             /* --refuse: 1 + the enum lw_part made refused, in tests */
	int bench_floor;            /* --bench-floor: 0, or 1 entry / 2 own probe points / 3 own, file-wide */
	const char *cgroup_arg;     /* -C PATH as given; NULL = none */
	const char *container_arg;  /* --container ID as given; NULL = none */
	bool has_cgroup;            /* -C or --container: cgroup is resolved */
	struct lw_cgroup cgroup;    /* their cgroup, resolved while parsing */
	enum unwind_mode unwind;    /* --unwind, default UNWIND_AUTO */
	unsigned int unwind_rows;   /* --unwind-rows, the BPF row store (default 1 << 20) */
	unsigned int verify_every;  /* --verify-stacks N: 0 = off */
	bool no_python;             /* --no-python: CPython frames are not walked */
	bool python_objects;        /* --python-objects: objects counted, not arenas */
	enum group_by group_by;     /* --group-by, default GROUP_BY_STACK (no groups) */
	double since_s;             /* --since: DELTA over this span; 0 = since the last report */
	bool growth;                /* --growth: page-fault attribution, no allocator probes */
	bool all;                   /* --all (with --growth): the cgroup2 hierarchy's root */
	unsigned long granule;      /* --granule: bytes (default TRACER_GRANULE) */
	double zoom_s;              /* --zoom: each window's length; 0: no zoom */
	int zoom_per;               /* --zoom-per: one window at a time per this many
				     * processes (default 50) */
};

/* Fills env from argv. On bad input prints one line to stderr and exits
 * with LW_EXIT_USAGE; --help exits 0. -C and --container are resolved
 * here; --container naming no running container exits LW_EXIT_TARGET. */
void env__parse(struct env *env, int argc, char **argv);

/* Strict number parsing shared with tests: 0 on success, -EINVAL otherwise. */
int parse_seconds(const char *s, double *out);
int parse_long(const char *s, long min, long max, long *out);

#endif
