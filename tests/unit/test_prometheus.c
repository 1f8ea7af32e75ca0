// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* prometheus.h's pure part: listen addresses, label values, and the pages
 * rendered from a report (both formats, stable stack labels, the cap). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include "outputs/prometheus_text.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* prom_escape(s) as a string (caller frees). */
static char *escaped(const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	prom_escape(f, s);
	assert_int_equal(fclose(f), 0);
	return out;
}

static void check_escape(const char *in, const char *want)
{
	char *got = escaped(in);

	if (strcmp(got, want))
		fail_msg("prom_escape(\"%s\") gave \"%s\", expected \"%s\"", in, got, want);
	free(got);
}

#define FFFD "\xef\xbf\xbd"

static void test_escape(void **state)
{
	check_escape("", "");
	check_escape("plain_name+0x1f", "plain_name+0x1f");
	check_escape("a\\b", "a\\\\b");
	check_escape("say \"hi\"", "say \\\"hi\\\"");
	check_escape("two\nlines", "two\\nlines");
	check_escape("\\\"\n", "\\\\\\\"\\n");
	/* tabs and other bytes pass: the format escapes only these three */
	check_escape("a\tb'c", "a\tb'c");
	/* UTF-8 kept whole: 2, 3 and 4 byte forms */
	check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	/* not UTF-8: a stray byte, an overlong NUL, a surrogate, past U+10FFFF,
	 * a sequence cut short by the end or by a plain byte */
	check_escape("x\xffy", "x" FFFD "y");
	check_escape("\xc0\x80", FFFD FFFD);
	check_escape("\xed\xa0\x80", FFFD FFFD FFFD);
	check_escape("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);
	check_escape("end\xe2\x82", "end" FFFD FFFD);
	check_escape("\xc3" "a", FFFD "a");
}

static void check_listen_ok(const char *s, int family, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char got[INET6_ADDRSTRLEN];
	int got_port;

	if (prom_parse_listen(s, &ss, &len))
		fail_msg("prom_parse_listen(\"%s\") rejected", s);
	assert_int_equal(ss.ss_family, family);
	if (family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		assert_int_equal(len, sizeof(*in));
		inet_ntop(AF_INET, &in->sin_addr, got, sizeof(got));
		got_port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		assert_int_equal(len, sizeof(*in6));
		inet_ntop(AF_INET6, &in6->sin6_addr, got, sizeof(got));
		got_port = ntohs(in6->sin6_port);
	}
	if (strcmp(got, addr) || got_port != port)
		fail_msg("prom_parse_listen(\"%s\") gave %s port %d, expected %s port %d", s, got,
			 got_port, addr, port);
}

static void test_listen_ok(void **state)
{
	check_listen_ok("9477", AF_INET, "127.0.0.1", 9477);
	check_listen_ok("1", AF_INET, "127.0.0.1", 1);
	check_listen_ok("65535", AF_INET, "127.0.0.1", 65535);
	check_listen_ok("0.0.0.0:9477", AF_INET, "0.0.0.0", 9477);
	check_listen_ok("10.1.2.3:80", AF_INET, "10.1.2.3", 80);
	check_listen_ok("[::1]:9477", AF_INET6, "::1", 9477);
	check_listen_ok("[::]:9477", AF_INET6, "::", 9477);
	check_listen_ok("[fe80::1:2]:443", AF_INET6, "fe80::1:2", 443);
}

static void test_listen_bad(void **state)
{
	static const char *const bad[] = {
		"", "0", "65536", "99999", "123456", "-1", "+80", " 80", "80 ", "0x50", "8o",
		":9477", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1", "127.0.0.1:80:81",
		"localhost:9477", "256.0.0.1:80", "1.2.3:80",
		"::1:9477", "::1", "[::1]", "[::1]:", "[::1]9477", "[::1]:0", "[127.0.0.1]:80",
		"[::1:9477", "[]:80", "[" "0000:0000:0000:0000:0000:0000:0000:0000:0000]:80",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (prom_parse_listen(bad[i], &ss, &len) != -EINVAL)
			fail_msg("prom_parse_listen(\"%s\") accepted", bad[i]);
	}
}

/* A small report: two processes, three stacks. */
static struct lw_module leaky_mod = { .path = "/opt/app/bin/leaky" };
static struct lw_sym sym_leak = { .function = "leak_tick" };
static struct lw_sym sym_tick = { .function = "tick" };
static struct lw_sym sym_odd = { .function = "operator\"\" _q<\\n>" };
static struct lw_frame frames_a[3], frames_b[1], frames_c[2];
static struct lw_site sites[PROM_MAX_STACKS + 20];
static struct lw_site *stacks[PROM_MAX_STACKS + 20];
static struct report_process procs[2];

static struct report make_report(void)
{
	frames_a[0] = (struct lw_frame){ .addr = 0x5500, .module = &leaky_mod, .sym = &sym_leak };
	frames_a[1] = (struct lw_frame){ .addr = 0x5600, .module = &leaky_mod, .sym = &sym_tick };
	frames_a[2] = (struct lw_frame){ .addr = 0x5700, .module = &leaky_mod, .sym = &sym_tick };
	/* no symbol: module and offset */
	frames_b[0] = (struct lw_frame){ .addr = 0x7f00, .module = &leaky_mod,
					 .module_offset = 0x1a2b };
	/* no module (JIT code), then an odd C++ name */
	frames_c[0] = (struct lw_frame){ .addr = 0xdead0 };
	frames_c[1] = (struct lw_frame){ .addr = 0x5800, .module = &leaky_mod, .sym = &sym_odd };

	memset(sites, 0, sizeof(sites));
	sites[0] = (struct lw_site){ .pid = 42, .id = 0x00ab00cd00ef0012ULL, .frames = frames_a,
				     .nr_frames = 3, .bytes = 400000, .allocs = 200,
				     .trend = { .verdict = VERDICT_GROWING, .rate = 100000.5 } };
	sites[1] = (struct lw_site){ .pid = 42, .id = 0xfedcba9876543210ULL, .frames = frames_b,
				     .nr_frames = 1, .bytes = 4096, .allocs = 1,
				     .trend = { .verdict = VERDICT_STEADY } };
	sites[2] = (struct lw_site){ .pid = 43, .id = 7, .frames = frames_c, .nr_frames = 2,
				     .bytes = 16, .allocs = 2, .trend = { .verdict = VERDICT_NEW } };
	for (int i = 0; i < 3; i++)
		stacks[i] = &sites[i];

	memset(procs, 0, sizeof(procs));
	procs[0] = (struct report_process){ .pid = 42, .comm = "leaky", .rss_bytes = 1 << 20,
					    .alive = true, .cgroup_bytes = -1 };
	procs[0].counts = (struct report_counts){ .outstanding_bytes = 404096,
						  .outstanding_allocs = 201, .alloc_calls = 5000,
						  .free_calls = 4799 };
	procs[0].counts.lost[LW_LOST_UNKNOWN_FREES] = 8;
	/* exited: no RSS; a comm that needs escaping */
	procs[1] = (struct report_process){ .pid = 43, .comm = "we\"ird\\", .rss_bytes = -1,
					    .alive = false, .cgroup_bytes = 123 };
	procs[1].counts.outstanding_bytes = 16;
	return (struct report){ .elapsed_s = 12.5, .procs = procs, .nr_procs = 2,
				.stacks = stacks, .nr_stacks = 3 };
}

static char *render(const struct report *r, struct prom_labels *l, bool openmetrics)
{
	struct prom_render_opts o = { .openmetrics = openmetrics, .version = "0.1", .reports = 3 };
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	assert_int_equal(prom_render(f, r, l, &o), 0);
	assert_int_equal(fclose(f), 0);
	return out;
}

/* The page holds this exact line. */
static void has_line(const char *page, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = page; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, line, n) && (p[n] == '\n' || !p[n]))
			return;
	fail_msg("no line \"%s\" in:\n%s", line, page);
}

static int count_prefix(const char *page, const char *prefix)
{
	int n = 0;

	for (const char *p = page; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += !strncmp(p, prefix, strlen(prefix));
	return n;
}

#define STACK_A "{stack_id=\"00ab00cd00ef0012\",pid=\"42\",function=\"leak_tick\",caller=\"tick\"}"
#define STACK_B "{stack_id=\"fedcba9876543210\",pid=\"42\",function=\"leaky+0x1a2b\",caller=\"\"}"
#define STACK_C "{stack_id=\"0000000000000007\",pid=\"43\",function=\"0xdead0\"," \
		"caller=\"operator\\\"\\\" _q<\\\\n>\"}"

static void test_render_text(void **state)
{
	struct report r = make_report();
	struct prom_labels *l = prom_labels__new();
	char *page = render(&r, l, false);

	has_line(page, "# TYPE leakwatch_build_info gauge");
	has_line(page, "leakwatch_build_info{version=\"0.1\",mode=\"calls\"} 1");
	has_line(page, "# TYPE leakwatch_reports_total counter");
	has_line(page, "leakwatch_reports_total 3");
	has_line(page, "leakwatch_elapsed_seconds 12.5");
	has_line(page, "# TYPE leakwatch_outstanding_bytes gauge");
	has_line(page, "leakwatch_outstanding_bytes{pid=\"42\",comm=\"leaky\"} 404096");
	has_line(page, "leakwatch_outstanding_bytes{pid=\"43\",comm=\"we\\\"ird\\\\\"} 16");
	has_line(page, "leakwatch_outstanding_allocations{pid=\"42\",comm=\"leaky\"} 201");
	has_line(page, "# TYPE leakwatch_allocation_calls_total counter");
	has_line(page, "leakwatch_allocation_calls_total{pid=\"42\",comm=\"leaky\"} 5000");
	has_line(page, "leakwatch_free_calls_total{pid=\"42\",comm=\"leaky\"} 4799");
	has_line(page, "leakwatch_lost_events_total{pid=\"42\",comm=\"leaky\",cause=\"unknown_frees\"} 8");
	has_line(page, "leakwatch_lost_events_total{pid=\"42\",comm=\"leaky\",cause=\"allocs_map_full\"} 0");
	assert_int_equal(count_prefix(page, "leakwatch_lost_events_total{"), 2 * LW_LOST_NR);
	has_line(page, "leakwatch_process_alive{pid=\"42\",comm=\"leaky\"} 1");
	has_line(page, "leakwatch_process_alive{pid=\"43\",comm=\"we\\\"ird\\\\\"} 0");
	/* unknown values are left out, not written as -1 */
	has_line(page, "leakwatch_rss_bytes{pid=\"42\",comm=\"leaky\"} 1048576");
	assert_int_equal(count_prefix(page, "leakwatch_rss_bytes{"), 1);
	has_line(page, "leakwatch_memory_cgroup_bytes{pid=\"43\",comm=\"we\\\"ird\\\\\"} 123");
	assert_int_equal(count_prefix(page, "leakwatch_memory_cgroup_bytes{"), 1);

	has_line(page, "leakwatch_stack_outstanding_bytes" STACK_A " 400000");
	has_line(page, "leakwatch_stack_outstanding_bytes" STACK_B " 4096");
	has_line(page, "leakwatch_stack_outstanding_bytes" STACK_C " 16");
	has_line(page, "leakwatch_stack_outstanding_allocations" STACK_A " 200");
	has_line(page, "leakwatch_stack_growth_bytes_per_second" STACK_A " 100000.5");
	has_line(page, "leakwatch_stack_growth_bytes_per_second" STACK_B " 0");
	has_line(page, "leakwatch_stack_growing" STACK_A " 1");
	has_line(page, "leakwatch_stack_growing" STACK_B " 0");
	/* every family once, HELP before TYPE; no OpenMetrics end marker */
	assert_int_equal(count_prefix(page, "# HELP "), count_prefix(page, "# TYPE "));
	assert_int_equal(count_prefix(page, "# TYPE leakwatch_stack_outstanding_bytes "), 1);
	assert_int_equal(count_prefix(page, "# EOF"), 0);
	assert_int_equal(page[strlen(page) - 1], '\n');
	free(page);
	prom_labels__free(l);
}

/* --growth: the mode in the build info, granules instead of allocator
 * calls, and the processes' ranks. */
static void test_render_growth(void **state)
{
	struct report r = make_report();
	struct prom_labels *l = prom_labels__new();
	char *page;

	r.growth = true;
	r.procs[0].counts.granules_touched = 5000;
	r.procs[0].counts.granules_given_back = 4799;
	r.procs[0].rank = 1;
	r.procs[0].rss_trend.verdict = VERDICT_GROWING;
	r.procs[1].rank = 2;
	page = render(&r, l, false);
	has_line(page, "leakwatch_build_info{version=\"0.1\",mode=\"growth\"} 1");
	has_line(page, "# TYPE leakwatch_granules_touched_total counter");
	has_line(page, "leakwatch_granules_touched_total{pid=\"42\",comm=\"leaky\"} 5000");
	has_line(page, "leakwatch_granules_given_back_total{pid=\"42\",comm=\"leaky\"} 4799");
	has_line(page, "leakwatch_outstanding_bytes{pid=\"42\",comm=\"leaky\"} 404096");
	has_line(page, "leakwatch_process_rank{pid=\"42\",comm=\"leaky\"} 1");
	has_line(page, "leakwatch_process_growing{pid=\"42\",comm=\"leaky\"} 1");
	has_line(page, "leakwatch_process_growing{pid=\"43\",comm=\"we\\\"ird\\\\\"} 0");
	/* no allocator call is seen: no allocation counts */
	assert_int_equal(count_prefix(page, "leakwatch_outstanding_allocations"), 0);
	assert_int_equal(count_prefix(page, "leakwatch_allocation_calls_total"), 0);
	assert_int_equal(count_prefix(page, "leakwatch_stack_outstanding_allocations"), 0);
	assert_int_equal(count_prefix(page, "# HELP "), count_prefix(page, "# TYPE "));
	free(page);
	prom_labels__free(l);
}

static void test_render_openmetrics(void **state)
{
	struct report r = make_report();
	struct prom_labels *l = prom_labels__new();
	char *page = render(&r, l, true);
	size_t n = strlen(page);

	/* families of counters drop _total, info drops _info; samples keep them */
	has_line(page, "# TYPE leakwatch_build info");
	has_line(page, "leakwatch_build_info{version=\"0.1\",mode=\"calls\"} 1");
	has_line(page, "# TYPE leakwatch_allocation_calls counter");
	has_line(page, "# HELP leakwatch_allocation_calls Allocation calls seen since the probes went in.");
	has_line(page, "leakwatch_allocation_calls_total{pid=\"42\",comm=\"leaky\"} 5000");
	has_line(page, "# TYPE leakwatch_lost_events counter");
	has_line(page, "# TYPE leakwatch_reports counter");
	has_line(page, "# TYPE leakwatch_outstanding_bytes gauge");
	has_line(page, "leakwatch_stack_outstanding_bytes" STACK_A " 400000");
	assert_int_equal(count_prefix(page, "# TYPE leakwatch_allocation_calls_total"), 0);
	assert_true(n > 6 && !strcmp(page + n - 6, "# EOF\n"));
	free(page);
	prom_labels__free(l);
}

/* A stack's labels are those of its first export, whatever later reports
 * resolve its frames to; a stack first seen later gets its own. */
static void test_labels_stable(void **state)
{
	struct report r = make_report();
	struct prom_labels *l = prom_labels__new();
	struct lw_sym renamed = { .function = "something_else" };
	char *page;

	free(render(&r, l, false));
	frames_a[0].sym = &renamed;
	frames_a[1].sym = NULL;
	r.nr_stacks = 1;
	page = render(&r, l, false);
	has_line(page, "leakwatch_stack_outstanding_bytes" STACK_A " 400000");
	assert_int_equal(count_prefix(page, "leakwatch_stack_outstanding_bytes{"), 1);
	free(page);

	/* the same code path in another process: same id, same labels */
	sites[0].pid = 99;
	page = render(&r, l, true);
	has_line(page, "leakwatch_stack_outstanding_bytes{stack_id=\"00ab00cd00ef0012\",pid=\"99\","
		 "function=\"leak_tick\",caller=\"tick\"} 400000");
	free(page);
	prom_labels__free(l);
}

static void test_top_capped(void **state)
{
	struct report r = make_report();
	struct prom_labels *l = prom_labels__new();
	char *page;

	for (int i = 0; i < (int)ARRAY_SIZE(sites); i++) {
		sites[i] = (struct lw_site){ .pid = 42, .id = 1000 + i, .frames = frames_a,
					     .nr_frames = 1, .bytes = 10000 - i, .allocs = 1 };
		stacks[i] = &sites[i];
	}
	r.nr_stacks = ARRAY_SIZE(sites);
	page = render(&r, l, false);
	assert_int_equal(count_prefix(page, "leakwatch_stack_outstanding_bytes{"), PROM_MAX_STACKS);
	assert_int_equal(count_prefix(page, "leakwatch_stack_growing{"), PROM_MAX_STACKS);
	/* the first ones, in the report's order */
	has_line(page, "leakwatch_stack_outstanding_bytes{stack_id=\"00000000000003e8\",pid=\"42\","
		 "function=\"leak_tick\",caller=\"\"} 10000");
	assert_null(strstr(page, "stack_id=\"000000000000044c\"")); /* 1100: the 101st */
	free(page);
	prom_labels__free(l);
}

/* Before the first report: build info and empty families, still valid. */
static void test_render_before_report(void **state)
{
	struct prom_labels *l = prom_labels__new();
	char *page = render(NULL, l, true);

	has_line(page, "leakwatch_build_info{version=\"0.1\",mode=\"calls\"} 1");
	has_line(page, "leakwatch_elapsed_seconds 0");
	assert_int_equal(count_prefix(page, "leakwatch_outstanding_bytes"), 0);
	assert_int_equal(count_prefix(page, "# TYPE leakwatch_stack_outstanding_bytes gauge"), 1);
	has_line(page, "# EOF");
	free(page);
	prom_labels__free(l);
}

/* CPython's collector: counters per generation, gc.garbage, and the pause
 * histogram (cumulative buckets, +Inf, _sum, _count); nothing for a
 * process whose collector is unavailable or not timed. */
static void test_render_python_gc(void **state)
{
	struct report r = make_report();
	struct prom_labels *l = prom_labels__new();
	struct py_gc_report *gc = &r.procs[0].python.gc;
	char *page;

	r.procs[0].python.present = true;
	*gc = (struct py_gc_report){ .available = true, .timed = true, .hook = "usdt",
				     .collections = { 30, 3, 1 }, .collected = { 700, 90, 12 },
				     .uncollectable = { 0, 2, 0 }, .garbage = 7 };
	gc->pauses = (struct py_gc_pauses){ .n = 34, .total_ns = 25000000, .max_ns = 2000000 };
	gc->buckets[0] = 20;                 /* <= 0.1 ms */
	gc->buckets[3] = 13;                 /* <= 1 ms */
	gc->buckets[PY_GC_BUCKETS] = 1;      /* above 1 s */
	r.procs[1].python.present = true;    /* unavailable: no samples */
	r.procs[1].python.gc = (struct py_gc_report){ .available = false, .reason = "layout" };
	page = render(&r, l, false);
	has_line(page, "# TYPE leakwatch_python_gc_collections_total counter");
	has_line(page, "leakwatch_python_gc_collections_total{pid=\"42\",comm=\"leaky\",generation=\"0\"} 30");
	has_line(page, "leakwatch_python_gc_collections_total{pid=\"42\",comm=\"leaky\",generation=\"2\"} 1");
	has_line(page, "leakwatch_python_gc_collected_total{pid=\"42\",comm=\"leaky\",generation=\"1\"} 90");
	has_line(page, "leakwatch_python_gc_uncollectable_total{pid=\"42\",comm=\"leaky\",generation=\"1\"} 2");
	has_line(page, "leakwatch_python_gc_garbage_objects{pid=\"42\",comm=\"leaky\"} 7");
	has_line(page, "# TYPE leakwatch_python_gc_pause_seconds histogram");
	has_line(page, "leakwatch_python_gc_pause_seconds_bucket{pid=\"42\",comm=\"leaky\",le=\"0.0001\"} 20");
	has_line(page, "leakwatch_python_gc_pause_seconds_bucket{pid=\"42\",comm=\"leaky\",le=\"0.0005\"} 20");
	has_line(page, "leakwatch_python_gc_pause_seconds_bucket{pid=\"42\",comm=\"leaky\",le=\"0.001\"} 33");
	has_line(page, "leakwatch_python_gc_pause_seconds_bucket{pid=\"42\",comm=\"leaky\",le=\"1\"} 33");
	has_line(page, "leakwatch_python_gc_pause_seconds_bucket{pid=\"42\",comm=\"leaky\",le=\"+Inf\"} 34");
	has_line(page, "leakwatch_python_gc_pause_seconds_sum{pid=\"42\",comm=\"leaky\"} 0.025");
	has_line(page, "leakwatch_python_gc_pause_seconds_count{pid=\"42\",comm=\"leaky\"} 34");
	assert_int_equal(count_prefix(page, "leakwatch_python_gc_collections_total{"), 3);
	assert_int_equal(count_prefix(page, "leakwatch_python_gc_pause_seconds_bucket{"),
			 PY_GC_BUCKETS + 1);
	free(page);
	/* not timed: counts, no histogram samples */
	gc->timed = false;
	page = render(&r, l, true);
	has_line(page, "# TYPE leakwatch_python_gc_collections counter");
	assert_int_equal(count_prefix(page, "leakwatch_python_gc_pause_seconds_"), 0);
	assert_int_equal(count_prefix(page, "leakwatch_python_gc_collections_total{"), 3);
	free(page);
	prom_labels__free(l);
}

/* --group-by: a gauge family per measure, labelled by the kind of key and
 * the key (escaped); none without --group-by. */
static void test_render_groups(void **state)
{
	struct report r = make_report();
	struct prom_labels *l = prom_labels__new();
	struct group a = { .key = "/srv/app/service.py:30", .bytes = 23592960, .allocs = 1178,
			   .trend = { .verdict = VERDICT_GROWING, .rate = 393216 } };
	struct group b = { .key = "say \"hi\"", .bytes = 64, .allocs = 1,
			   .trend = { .verdict = VERDICT_STEADY } };
	struct group *v[] = { &a, &b };
	char *page = render(&r, l, false);

	assert_int_equal(count_prefix(page, "leakwatch_group_"), 0);
	free(page);
	r.group_by = GROUP_BY_LINE;
	r.groups = v;
	r.nr_groups = 2;
	page = render(&r, l, false);
	has_line(page, "# TYPE leakwatch_group_outstanding_bytes gauge");
	has_line(page, "leakwatch_group_outstanding_bytes{group_by=\"line\",key=\"/srv/app/service.py:30\"} 23592960");
	has_line(page, "leakwatch_group_outstanding_allocations{group_by=\"line\",key=\"/srv/app/service.py:30\"} 1178");
	has_line(page, "leakwatch_group_growth_bytes_per_second{group_by=\"line\",key=\"/srv/app/service.py:30\"} 393216");
	has_line(page, "leakwatch_group_growing{group_by=\"line\",key=\"/srv/app/service.py:30\"} 1");
	has_line(page, "leakwatch_group_growing{group_by=\"line\",key=\"say \\\"hi\\\"\"} 0");
	free(page);
	prom_labels__free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_listen_ok),
		cmocka_unit_test(test_listen_bad),
		cmocka_unit_test(test_render_text),
		cmocka_unit_test(test_render_openmetrics),
		cmocka_unit_test(test_render_growth),
		cmocka_unit_test(test_labels_stable),
		cmocka_unit_test(test_top_capped),
		cmocka_unit_test(test_render_before_report),
		cmocka_unit_test(test_render_python_gc),
		cmocka_unit_test(test_render_groups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
