// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --html FILE: one self-contained page (styles, script and data inline, no
 * network) rewritten after every report. Each version goes to a temporary
 * file in the same directory and is renamed over FILE, so a browser that
 * reloads never reads half a page. The script (tools/html/report.js, built
 * in) draws from one JSON object in the page; the history of totals and
 * RSS, which struct report does not carry, is kept here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/exitcodes.h"
#include "outputs/exporter.h"
#include "common/hashmap.h"
#include "outputs/html.h"
#include "outputs/json_writer.h"
#include "common/messages.h"
#include "outputs/report_json.h"

/* Reports of totals and RSS kept for the chart (a long watch keeps its
 * last ones), and processes charted. */
#define HTML_HISTORY 512
#define HTML_PROCS 32
/* Stacks drawn in the chart (the table lists every stack of the report). */
#define HTML_CHART_STACKS 10

struct html_proc {
	pid_t pid;
	char comm[16];
	long long rss[HTML_HISTORY]; /* by history slot; -1 unknown */
	long long gc_pause_ns[HTML_HISTORY]; /* CPython's collections: paused since
					      * the report before; -1 not timed */
};

struct html {
	char *path;
	char *tmpl;                 /* "DIR/.NAME.XXXXXX", for mkstemp */
	bool failing;               /* said so once; quiet until a write works */
	double t[HTML_HISTORY];     /* ring: elapsed_s per report */
	int64_t total[HTML_HISTORY];
	unsigned int n, head;
	struct html_proc procs[HTML_PROCS];
	int nr_procs;
};

static bool html_wanted(const struct output_opts *opts)
{
	return opts->html_path;
}

/* Temporary name beside path: rename() is atomic only within a file system. */
static char *temp_template(const char *path)
{
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path + 1) : 0;
	char *t;

	if (asprintf(&t, "%.*s.%s.XXXXXX", dir_len, path, slash ? slash + 1 : path) < 0)
		return NULL;
	return t;
}

static void html_close(void *state);

static int html_open(void **state, const struct output_opts *opts)
{
	struct html *h = calloc(1, sizeof(*h));
	struct stat st;
	char *probe = NULL;
	int fd;

	*state = NULL;
	if (!h || !(h->path = strdup(opts->html_path)) || !(h->tmpl = temp_template(h->path)) ||
	    !(probe = strdup(h->tmpl))) {
		lw_say("out of memory");
		html_close(h);
		return LW_EXIT_FAILURE;
	}
	if (!stat(h->path, &st) && S_ISDIR(st.st_mode)) {
		lw_say("cannot write --html %s: it is a directory; give a file name", h->path);
		goto usage;
	}
	/* the directory must take the temporary files: find out now, before
	 * any probe goes in, rather than at the first report */
	fd = mkostemp(probe, O_CLOEXEC);
	if (fd < 0) {
		lw_say("cannot write --html %s: %s", h->path, strerror(errno));
		goto usage;
	}
	close(fd);
	unlink(probe);
	free(probe);
	*state = h;
	return 0;
usage:
	free(probe);
	html_close(h);
	return LW_EXIT_USAGE;
}

static struct html_proc *proc_of(struct html *h, const struct report_process *p)
{
	struct html_proc *hp;

	for (int i = 0; i < h->nr_procs; i++)
		if (h->procs[i].pid == p->pid)
			return &h->procs[i];
	if (h->nr_procs == HTML_PROCS)
		return NULL;
	hp = &h->procs[h->nr_procs++];
	hp->pid = p->pid;
	memcpy(hp->comm, p->comm, sizeof(hp->comm));
	for (int i = 0; i < HTML_HISTORY; i++)
		hp->rss[i] = hp->gc_pause_ns[i] = -1;
	return hp;
}

static void remember(struct html *h, const struct report *r)
{
	unsigned int slot = h->head;

	h->t[slot] = r->elapsed_s;
	h->total[slot] = r->totals.outstanding_bytes;
	for (int i = 0; i < h->nr_procs; i++)
		h->procs[i].rss[slot] = h->procs[i].gc_pause_ns[slot] = -1;
	for (int i = 0; i < r->nr_procs; i++) {
		struct html_proc *hp = proc_of(h, &r->procs[i]);
		const struct py_report *py = &r->procs[i].python;

		if (!hp)
			continue;
		hp->rss[slot] = r->procs[i].rss_bytes;
		if (py->present && py->gc.available && py->gc.timed)
			hp->gc_pause_ns[slot] = py->gc.interval.total_ns;
	}
	h->head = (h->head + 1) % HTML_HISTORY;
	if (h->n < HTML_HISTORY)
		h->n++;
}

/* Slot of history sample i, 0 = oldest held. */
static unsigned int slot_of(const struct html *h, unsigned int i)
{
	return (h->head + HTML_HISTORY - h->n + i) % HTML_HISTORY;
}

/* A process's samples in history order, null where unknown (< 0). */
static void samples(struct jw *w, const struct html *h, const char *name, const long long *v)
{
	jw_array(w, name);
	for (unsigned int i = 0; i < h->n; i++) {
		long long x = v[slot_of(h, i)];

		if (x >= 0)
			jw_int(w, NULL, x);
		else
			jw_null(w, NULL);
	}
	jw_array_end(w);
}

static void history(struct jw *w, const struct html *h)
{
	jw_object(w, "history");
	jw_array(w, "t");
	for (unsigned int i = 0; i < h->n; i++)
		jw_double(w, NULL, h->t[slot_of(h, i)]);
	jw_array_end(w);
	jw_array(w, "outstanding_bytes");
	for (unsigned int i = 0; i < h->n; i++)
		jw_int(w, NULL, h->total[slot_of(h, i)]);
	jw_array_end(w);
	jw_array(w, "rss");
	for (int p = 0; p < h->nr_procs; p++) {
		const struct html_proc *hp = &h->procs[p];

		jw_object(w, NULL);
		jw_int(w, "pid", hp->pid);
		jw_string(w, "comm", hp->comm);
		samples(w, h, "bytes", hp->rss);
		samples(w, h, "gc_pause_ns", hp->gc_pause_ns);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
}

static void stack_id(const struct lw_site *s, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64, s->id);
}

/* The stacks of the report, as the text and JSON reports show them. */
static void stacks(struct jw *w, const struct report *r)
{
	jw_array(w, "stacks");
	for (int i = 0; i < r->nr_stacks; i++) {
		const struct lw_site *s = r->stacks[i];

		/* what the JSON lines say of it, and its history for the chart */
		jw_object(w, NULL);
		report_json__stack_members(w, s, r);
		if (i < HTML_CHART_STACKS) {
			jw_object(w, "series");
			jw_array(w, "t");
			for (unsigned int k = 0; k < s->series.n; k++)
				jw_double(w, NULL, series__time(&s->series, k));
			jw_array_end(w);
			jw_array(w, "bytes");
			for (unsigned int k = 0; k < s->series.n; k++)
				jw_int(w, NULL, series__bytes(&s->series, k));
			jw_array_end(w);
			jw_object_end(w);
		}
		jw_object_end(w);
	}
	jw_array_end(w);
}

/*
 * Every stack holding memory, for the flame graph: a table of distinct
 * frames and each stack as indices into it (innermost first, as in JSON),
 * so that code shared by thousands of stacks is written once.
 */
static int flame(struct jw *w, const struct report *r)
{
	struct hashmap *seen = hashmap__new();
	const struct lw_frame **table = NULL;
	size_t nr = 0, cap = 0;
	char id[20];

	if (!seen)
		return -ENOMEM;
	jw_object(w, "flame");
	jw_array(w, "stacks");
	for (int i = 0; i < r->nr_all_stacks; i++) {
		const struct lw_site *s = r->all_stacks[i];

		if (s->bytes <= 0)
			continue;
		stack_id(s, id, sizeof(id));
		jw_object(w, NULL);
		jw_string(w, "id", id);
		jw_int(w, "pid", s->pid);
		jw_int(w, "bytes", s->bytes);
		jw_array(w, "frames");
		for (int j = 0; j < s->nr_frames; j++) {
			const struct lw_frame *f = &s->frames[j];
			/* a resolved frame is its symbol at its offset; inlined
			 * frames share the offset, not the symbol */
			struct lw_key key = f->sym ? (struct lw_key){ (uintptr_t)f->sym, f->module_offset }
						   : (struct lw_key){ 0, f->addr };
			uintptr_t idx = (uintptr_t)hashmap__get(seen, key);

			if (!idx) {
				if (nr == cap) {
					size_t want = cap ? cap * 2 : 256;
					const struct lw_frame **v = realloc(table, want * sizeof(*v));

					if (!v)
						goto nomem;
					table = v;
					cap = want;
				}
				table[nr++] = f;
				idx = nr; /* 1-based: 0 is "not seen" */
				if (hashmap__set(seen, key, (void *)idx))
					goto nomem;
			}
			jw_uint(w, NULL, idx - 1);
		}
		jw_array_end(w);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_array(w, "frames");
	for (size_t i = 0; i < nr; i++) {
		jw_object(w, NULL);
		report_json__frame_members(w, table[i]);
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_object_end(w);
	free(table);
	hashmap__free(seen);
	return 0;
nomem:
	free(table);
	hashmap__free(seen);
	return -ENOMEM;
}

/* The JSON lines' members where the script reads the same (report_json.h),
 * in fewer of them, and what only the page needs: the history, each top
 * stack's series and the flame graph. */
static int data(FILE *f, const struct html *h, const struct report *r)
{
	struct jw w;

	report_json__begin(&w, f, r);
	report_json__time_members(&w, r);
	jw_double(&w, "interval_s", r->interval_s);
	jw_double(&w, "sample_rate", report_counts__sample_rate(&r->totals, &r->sampling));
	jw_object(&w, "totals");
	report_json__count_members(&w, &r->totals, r->growth);
	jw_object_end(&w);
	jw_array(&w, "processes");
	for (int i = 0; i < r->nr_procs; i++) {
		const struct report_process *p = &r->procs[i];

		jw_object(&w, NULL);
		report_json__process_id_members(&w, p);
		report_json__process_state_members(&w, p);
		jw_int(&w, "outstanding_bytes", p->counts.outstanding_bytes);
		jw_string(&w, "note", p->note[0] ? p->note : NULL);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	history(&w, h);
	stacks(&w, r);
	if (flame(&w, r))
		return -ENOMEM;
	jw_object_end(&w);
	return 0;
}

/*
 * JSON into a script element: the element ends at the first "</script"
 * and "<!--" changes how the parser reads on, and '<' can only occur in
 * strings, where "\u003c" means the same.
 */
static void put_script_json(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '<')
			fputs("\\u003c", f);
		else
			fputc(s[i], f);
	}
}

static void page(FILE *f, const char *json, size_t len, const struct report *r)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"generator\" content=\"leakwatch\">\n", f);
	fprintf(f, "<title>leakwatch %s</title>\n<style>\n", r->summary ? "summary" : "report");
	fwrite(lw_html_report_css, 1, lw_html_report_css_len, f);
	fputs("</style>\n</head>\n<body>\n"
	      "<noscript><p>This report is drawn by its embedded script: allow scripts for "
	      "this file to see it.</p></noscript>\n"
	      "<script type=\"application/json\" id=\"leakwatch-data\">", f);
	put_script_json(f, json, len);
	fputs("</script>\n<script>\n", f);
	fwrite(lw_html_report_js, 1, lw_html_report_js_len, f);
	fputs("</script>\n</body>\n</html>\n", f);
}

static void failed(struct html *h, const char *what, int err)
{
	if (!h->failing)
		lw_say("cannot write --html %s (%s: %s); will try again at the next report",
		       h->path, what, strerror(err));
	h->failing = true;
}

static void html_report(void *state, const struct report *r)
{
	struct html *h = state;
	char *json = NULL, *tmp = NULL;
	size_t len = 0;
	FILE *m, *f = NULL;
	int fd, err;

	remember(h, r);
	m = open_memstream(&json, &len);
	if (!m) {
		failed(h, "memory", errno);
		return;
	}
	err = data(m, h, r);
	if (fclose(m) && !err)
		err = -errno;
	if (err) {
		failed(h, "memory", -err);
		goto out;
	}
	tmp = strdup(h->tmpl);
	if (!tmp) {
		failed(h, "memory", ENOMEM);
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		failed(h, "temporary file", errno);
		goto out;
	}
	/* mkstemp makes it private; a report is read like any file written here */
	fchmod(fd, 0644);
	f = fdopen(fd, "w");
	if (!f) {
		failed(h, "temporary file", errno);
		close(fd);
		unlink(tmp);
		goto out;
	}
	page(f, json, len, r);
	errno = 0;
	if (fflush(f) || ferror(f)) {
		failed(h, "write", errno ? errno : EIO);
		fclose(f);
		unlink(tmp);
		goto out;
	}
	if (fclose(f)) {
		failed(h, "write", errno);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, h->path)) {
		failed(h, "rename", errno);
		unlink(tmp);
		goto out;
	}
	h->failing = false;
out:
	free(tmp);
	free(json);
}

static void html_close(void *state)
{
	struct html *h = state;

	if (!h)
		return;
	free(h->path);
	free(h->tmpl);
	free(h);
}

const struct exporter html_exporter = {
	.name = "html",
	.wanted = html_wanted,
	.open = html_open,
	.report = html_report,
	.close = html_close,
};
