// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The pure part of --prometheus: listen addresses, label values, rendering. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "common/hashmap.h"
#include "outputs/prometheus_text.h"

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	/* decimal digits only: no sign, blanks or 0x */
	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
	}
	if (v < 1 || v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

int prom_parse_listen(const char *s, struct sockaddr_storage *addr, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *port;
	uint16_t p;

	memset(addr, 0, sizeof(*addr));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':' || close - s - 1 >= (long)sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, close - s - 1);
		host[close - s - 1] = '\0';
		if (parse_port(close + 2, &p) || inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -EINVAL;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(p);
		*len = sizeof(*in6);
		return 0;
	}
	colon = strchr(s, ':');
	if (colon) {
		/* one colon only: a bare IPv6 address needs its brackets */
		if (strchr(colon + 1, ':') || colon - s >= (long)sizeof(host))
			return -EINVAL;
		memcpy(host, s, colon - s);
		host[colon - s] = '\0';
		port = colon + 1;
	} else {
		strcpy(host, "127.0.0.1");
		port = s;
	}
	if (parse_port(port, &p) || inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return -EINVAL;
	in4->sin_family = AF_INET;
	in4->sin_port = htons(p);
	*len = sizeof(*in4);
	return 0;
}

/* Length of the well-formed UTF-8 sequence at s (1 to 4), or 0. */
static int utf8_len(const unsigned char *s)
{
	unsigned int c = s[0];
	int n;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the terminating NUL */
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void prom_escape(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = utf8_len(p);

		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '"')
			fputs("\\\"", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (n)
			fwrite(p, 1, n, f);
		else
			fputs("\xef\xbf\xbd", f);
		p += n ? n : 1;
	}
}

struct stack_labels {
	char *function;
	char *caller;
};

struct prom_labels {
	struct hashmap *by_id;
};

struct prom_labels *prom_labels__new(void)
{
	struct prom_labels *l = calloc(1, sizeof(*l));

	if (l && !(l->by_id = hashmap__new())) {
		free(l);
		return NULL;
	}
	return l;
}

void prom_labels__free(struct prom_labels *l)
{
	struct stack_labels *s;
	size_t pos = 0;

	if (!l)
		return;
	while ((s = hashmap__next(l->by_id, &pos, NULL))) {
		free(s->function);
		free(s->caller);
		free(s);
	}
	hashmap__free(l->by_id);
	free(l);
}

/* A frame as a label value: its function, else module+offset, else the
 * address; "" when there is no such frame. */
static char *frame_label(const struct lw_site *site, int i)
{
	const struct lw_frame *fr = &site->frames[i];
	char buf[512];

	if (i >= site->nr_frames)
		buf[0] = '\0';
	else if (fr->sym && fr->sym->function)
		snprintf(buf, sizeof(buf), "%s", fr->sym->function);
	else if (fr->module) {
		const char *base = strrchr(fr->module->path, '/');

		snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, base ? base + 1 : fr->module->path,
			 fr->module_offset);
	} else
		snprintf(buf, sizeof(buf), "0x%" PRIx64, fr->addr);
	return strdup(buf);
}

static const struct stack_labels *labels_of(struct prom_labels *l, const struct lw_site *site)
{
	struct lw_key key = { site->id, 0 };
	struct stack_labels *s = hashmap__get(l->by_id, key);

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->function = frame_label(site, 0);
	s->caller = frame_label(site, 1);
	if (!s->function || !s->caller || hashmap__set(l->by_id, key, s)) {
		free(s->function);
		free(s->caller);
		free(s);
		return NULL;
	}
	return s;
}

static void number(FILE *f, double v)
{
	if (isnan(v))
		fputs("NaN", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else
		fprintf(f, "%.15g", v);
}

/*
 * HELP and TYPE of one family. name is the sample name as the 0.0.4 text
 * has it; OpenMetrics names a counter's family without "_total" and an
 * info family without "_info" (its samples keep both).
 */
static void family(FILE *f, const struct prom_render_opts *o, const char *name, const char *type,
		   const char *help)
{
	size_t n = strlen(name);

	if (o->openmetrics && !strcmp(type, "counter") && n > 6 && !strcmp(name + n - 6, "_total"))
		n -= 6;
	else if (o->openmetrics && !strcmp(type, "info") && n > 5 && !strcmp(name + n - 5, "_info"))
		n -= 5;
	else if (!o->openmetrics && !strcmp(type, "info"))
		type = "gauge"; /* 0.0.4 has no info type */
	fprintf(f, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n, name, help, (int)n, name, type);
}

static void proc_labels(FILE *f, const char *name, const struct report_process *p)
{
	fprintf(f, "%s{pid=\"%d\",comm=\"", name, p->pid);
	prom_escape(f, p->comm);
	fputs("\"", f);
}

/* One sample per process: value(p) >= 0, or none for that process when < 0. */
static void per_process(FILE *f, const struct report *r, const char *name,
			long long (*value)(const struct report_process *p))
{
	for (int i = 0; i < r->nr_procs; i++) {
		long long v = value(&r->procs[i]);

		if (v < 0)
			continue;
		proc_labels(f, name, &r->procs[i]);
		fprintf(f, "} %lld\n", v);
	}
}

static long long alive(const struct report_process *p) { return p->alive; }
static long long rss(const struct report_process *p) { return p->rss_bytes; }
static long long cgroup(const struct report_process *p) { return p->cgroup_bytes; }
static long long bytes(const struct report_process *p) { return p->counts.outstanding_bytes; }
static long long allocs(const struct report_process *p) { return p->counts.outstanding_allocs; }
static long long alloc_calls(const struct report_process *p) { return p->counts.alloc_calls; }
static long long free_calls(const struct report_process *p) { return p->counts.free_calls; }
static long long rank(const struct report_process *p) { return p->rank; }
static long long touched(const struct report_process *p) { return p->counts.granules_touched; }
static long long given_back(const struct report_process *p)
{
	return p->counts.granules_given_back;
}
static long long growing(const struct report_process *p)
{
	return p->heap_trend.verdict == VERDICT_GROWING || p->rss_trend.verdict == VERDICT_GROWING;
}

static void stack_sample(FILE *f, const char *name, const struct lw_site *s,
			 const struct stack_labels *l)
{
	fprintf(f, "%s{stack_id=\"%016" PRIx64 "\",pid=\"%d\",function=\"", name, s->id, s->pid);
	prom_escape(f, l->function);
	fputs("\",caller=\"", f);
	prom_escape(f, l->caller);
	fputs("\"} ", f);
}

enum stack_value { STACK_BYTES, STACK_ALLOCS, STACK_RATE, STACK_GROWING };

static void per_stack(FILE *f, const char *name, const struct lw_site *const *ss,
		      const struct stack_labels *const *sl, int nr, enum stack_value what)
{
	for (int i = 0; i < nr; i++) {
		stack_sample(f, name, ss[i], sl[i]);
		switch (what) {
		case STACK_BYTES:
			fprintf(f, "%" PRId64, ss[i]->bytes);
			break;
		case STACK_ALLOCS:
			fprintf(f, "%" PRId64, ss[i]->allocs);
			break;
		case STACK_RATE:
			number(f, ss[i]->trend.rate);
			break;
		case STACK_GROWING:
			fprintf(f, "%d", ss[i]->trend.verdict == VERDICT_GROWING);
			break;
		}
		fputc('\n', f);
	}
}

/* One counter per generation of each process whose collector is watched. */
static void per_generation(FILE *f, const struct report *r, const char *name, size_t member)
{
	for (int i = 0; i < r->nr_procs; i++) {
		const struct py_gc_report *gc = &r->procs[i].python.gc;
		const int64_t *v = (const int64_t *)((const char *)gc + member);

		if (!r->procs[i].python.present || !gc->available)
			continue;
		for (int g = 0; g < LW_GC_GENERATIONS; g++) {
			proc_labels(f, name, &r->procs[i]);
			fprintf(f, ",generation=\"%d\"} %" PRId64 "\n", g, v[g]);
		}
	}
}

/* CPython's collectors: counts since watching began, a histogram of the
 * pauses, and the length of gc.garbage. */
static void python_gc(FILE *f, const struct report *r, const struct prom_render_opts *o)
{
	const char *h = "leakwatch_python_gc_pause_seconds";

	family(f, o, "leakwatch_python_gc_collections_total", "counter",
	       "CPython garbage collections since leakwatch began watching, by generation.");
	per_generation(f, r, "leakwatch_python_gc_collections_total",
		       offsetof(struct py_gc_report, collections));
	family(f, o, "leakwatch_python_gc_collected_total", "counter",
	       "Objects CPython's collections freed since leakwatch began watching.");
	per_generation(f, r, "leakwatch_python_gc_collected_total",
		       offsetof(struct py_gc_report, collected));
	family(f, o, "leakwatch_python_gc_uncollectable_total", "counter",
	       "Objects CPython's collections found unreachable but could not free.");
	per_generation(f, r, "leakwatch_python_gc_uncollectable_total",
		       offsetof(struct py_gc_report, uncollectable));
	family(f, o, "leakwatch_python_gc_garbage_objects", "gauge",
	       "Length of gc.garbage: objects kept after a collection found them unreachable.");
	for (int i = 0; i < r->nr_procs; i++) {
		const struct py_gc_report *gc = &r->procs[i].python.gc;

		if (r->procs[i].python.present && gc->available && gc->garbage >= 0) {
			proc_labels(f, "leakwatch_python_gc_garbage_objects", &r->procs[i]);
			fprintf(f, "} %" PRId64 "\n", gc->garbage);
		}
	}
	family(f, o, h, "histogram",
	       "Pauses of CPython's garbage collections since leakwatch began watching.");
	for (int i = 0; i < r->nr_procs; i++) {
		const struct py_gc_report *gc = &r->procs[i].python.gc;
		uint64_t below = 0;

		if (!r->procs[i].python.present || !gc->available || !gc->timed)
			continue;
		for (int b = 0; b <= PY_GC_BUCKETS; b++) {
			below += gc->buckets[b];
			proc_labels(f, "leakwatch_python_gc_pause_seconds_bucket", &r->procs[i]);
			fputs(",le=\"", f);
			number(f, b < PY_GC_BUCKETS ? py_gc_bucket_le[b] : INFINITY);
			fprintf(f, "\"} %" PRIu64 "\n", below);
		}
		proc_labels(f, "leakwatch_python_gc_pause_seconds_sum", &r->procs[i]);
		fputs("} ", f);
		number(f, gc->pauses.total_ns / 1e9);
		fputc('\n', f);
		proc_labels(f, "leakwatch_python_gc_pause_seconds_count", &r->procs[i]);
		fprintf(f, "} %" PRIu64 "\n", gc->pauses.n);
	}
}

static void group_sample(FILE *f, const char *name, const struct report *r, const struct group *g)
{
	fprintf(f, "%s{group_by=\"%s\",key=\"", name, group_by__name(r->group_by));
	prom_escape(f, g->key);
	fputs("\"} ", f);
}

/* --group-by: the first PROM_MAX_STACKS groups, labelled by their key. */
static void groups(FILE *f, const struct report *r, const struct prom_render_opts *o)
{
	int nr = r->nr_groups < PROM_MAX_STACKS ? r->nr_groups : PROM_MAX_STACKS;

	family(f, o, "leakwatch_group_outstanding_bytes", "gauge",
	       "Bytes outstanding from the stacks of one group (--group-by: line, function, file "
	       "or module).");
	for (int i = 0; i < nr; i++) {
		group_sample(f, "leakwatch_group_outstanding_bytes", r, r->groups[i]);
		fprintf(f, "%" PRId64 "\n", r->groups[i]->bytes);
	}
	family(f, o, "leakwatch_group_outstanding_allocations", "gauge",
	       "Allocations outstanding from the stacks of one group.");
	for (int i = 0; i < nr; i++) {
		group_sample(f, "leakwatch_group_outstanding_allocations", r, r->groups[i]);
		fprintf(f, "%" PRId64 "\n", r->groups[i]->allocs);
	}
	family(f, o, "leakwatch_group_growth_bytes_per_second", "gauge",
	       "Growth of a group's outstanding bytes over the trend window (Theil-Sen slope).");
	for (int i = 0; i < nr; i++) {
		group_sample(f, "leakwatch_group_growth_bytes_per_second", r, r->groups[i]);
		number(f, r->groups[i]->trend.rate);
		fputc('\n', f);
	}
	family(f, o, "leakwatch_group_growing", "gauge",
	       "Whether the group's verdict is growing (1), by the Mann-Kendall trend test.");
	for (int i = 0; i < nr; i++) {
		group_sample(f, "leakwatch_group_growing", r, r->groups[i]);
		fprintf(f, "%d\n", r->groups[i]->trend.verdict == VERDICT_GROWING);
	}
}

int prom_render(FILE *f, const struct report *r, struct prom_labels *labels,
		const struct prom_render_opts *o)
{
	static const struct report none; /* before the first report */
	const struct stack_labels *sl[PROM_MAX_STACKS];
	const struct lw_site *ss[PROM_MAX_STACKS];
	int nr = 0, err = 0;

	if (!r)
		r = &none;

	family(f, o, "leakwatch_build_info", "info", "leakwatch's version.");
	fputs("leakwatch_build_info{version=\"", f);
	prom_escape(f, o->version);
	fprintf(f, "\",mode=\"%s\"} 1\n", r->growth ? "growth" : "calls");
	family(f, o, "leakwatch_reports_total", "counter", "Reports made since the probes went in.");
	fprintf(f, "leakwatch_reports_total %" PRIu64 "\n", o->reports);
	family(f, o, "leakwatch_elapsed_seconds", "gauge",
	       "Seconds from when the probes went in to the last report.");
	fputs("leakwatch_elapsed_seconds ", f);
	number(f, r->elapsed_s);
	fputc('\n', f);

	family(f, o, "leakwatch_process_alive", "gauge",
	       "Whether the watched process was alive at the last report (1) or has exited (0).");
	per_process(f, r, "leakwatch_process_alive", alive);
	family(f, o, "leakwatch_rss_bytes", "gauge",
	       "Resident memory of the watched process (none once it exited).");
	per_process(f, r, "leakwatch_rss_bytes", rss);
	family(f, o, "leakwatch_memory_cgroup_bytes", "gauge",
	       "Memory usage of the process's memory cgroup, where one is readable.");
	per_process(f, r, "leakwatch_memory_cgroup_bytes", cgroup);
	family(f, o, "leakwatch_process_rank", "gauge",
	       "The process's place when the watched ones are ranked by growth (1: growing "
	       "fastest).");
	per_process(f, r, "leakwatch_process_rank", rank);
	family(f, o, "leakwatch_process_growing", "gauge",
	       "Whether the process's counted memory or its RSS is judged growing (1).");
	per_process(f, r, "leakwatch_process_growing", growing);
	if (r->growth) {
		/* --growth: resident pages by first toucher, no allocator calls */
		family(f, o, "leakwatch_outstanding_bytes", "gauge",
		       "Bytes made resident since attach and still resident (--growth).");
		per_process(f, r, "leakwatch_outstanding_bytes", bytes);
		family(f, o, "leakwatch_granules_touched_total", "counter",
		       "Granules of memory first touched since attach (--growth).");
		per_process(f, r, "leakwatch_granules_touched_total", touched);
		family(f, o, "leakwatch_granules_given_back_total", "counter",
		       "Granules given back by munmap, madvise or brk since attach (--growth).");
		per_process(f, r, "leakwatch_granules_given_back_total", given_back);
	} else {
		family(f, o, "leakwatch_outstanding_bytes", "gauge",
		       "Bytes allocated and not freed, as the program asked for them.");
		per_process(f, r, "leakwatch_outstanding_bytes", bytes);
		family(f, o, "leakwatch_outstanding_allocations", "gauge",
		       "Allocations not freed.");
		per_process(f, r, "leakwatch_outstanding_allocations", allocs);
		family(f, o, "leakwatch_allocation_calls_total", "counter",
		       "Allocation calls seen since the probes went in.");
		per_process(f, r, "leakwatch_allocation_calls_total", alloc_calls);
		family(f, o, "leakwatch_free_calls_total", "counter",
		       "Free calls seen since the probes went in.");
		per_process(f, r, "leakwatch_free_calls_total", free_calls);
	}
	family(f, o, "leakwatch_lost_events_total", "counter",
	       "Events that could not be recorded, by cause.");
	for (int i = 0; i < r->nr_procs; i++) {
		for (int c = 0; c < LW_LOST_NR; c++) {
			proc_labels(f, "leakwatch_lost_events_total", &r->procs[i]);
			fprintf(f, ",cause=\"%s\"} %" PRIu64 "\n", lw_lost_names[c],
				r->procs[i].counts.lost[c]);
		}
	}

	python_gc(f, r, o);

	for (int i = 0; i < r->nr_stacks && nr < PROM_MAX_STACKS; i++) {
		const struct stack_labels *l = labels_of(labels, r->stacks[i]);

		if (!l) {
			err = -ENOMEM;
			continue;
		}
		ss[nr] = r->stacks[i];
		sl[nr++] = l;
	}
	family(f, o, "leakwatch_stack_outstanding_bytes", "gauge",
	       "Bytes outstanding from one call stack (the top stacks of the last report).");
	per_stack(f, "leakwatch_stack_outstanding_bytes", ss, sl, nr, STACK_BYTES);
	if (!r->growth) {
		family(f, o, "leakwatch_stack_outstanding_allocations", "gauge",
		       "Allocations outstanding from one call stack.");
		per_stack(f, "leakwatch_stack_outstanding_allocations", ss, sl, nr, STACK_ALLOCS);
	}
	family(f, o, "leakwatch_stack_growth_bytes_per_second", "gauge",
	       "Growth of a stack's outstanding bytes over the trend window (Theil-Sen slope).");
	per_stack(f, "leakwatch_stack_growth_bytes_per_second", ss, sl, nr, STACK_RATE);
	family(f, o, "leakwatch_stack_growing", "gauge",
	       "Whether the stack's verdict is growing (1), by the Mann-Kendall trend test.");
	per_stack(f, "leakwatch_stack_growing", ss, sl, nr, STACK_GROWING);
	if (r->group_by != GROUP_BY_STACK)
		groups(f, r, o);
	if (o->openmetrics)
		fputs("# EOF\n", f);
	return err;
}
