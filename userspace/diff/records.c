// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/exitcodes.h"
#include "common/messages.h"
#include "diff/records.h"
#include "outputs/summary_files.h"

/* "2026-11-27T01:23:45[.123][Z]" as seconds since the epoch: 0 or -EINVAL. */
static int parse_utc(const char *s, double *out)
{
	struct tm tm = {};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	double frac = 0;

	if (!p)
		return -EINVAL;
	if (*p == '.') {
		char *end;

		frac = strtod(p, &end);
		if (end == p + 1)
			return -EINVAL;
		p = end;
	}
	if (*p == 'Z')
		p++;
	if (*p)
		return -EINVAL;
	*out = (double)timegm(&tm) + frac;
	return 0;
}

int diff_at__parse(const char *s, struct diff_at *out)
{
	*out = (struct diff_at){ .kind = DIFF_AT_LAST, .text = s };
	if (!strcmp(s, "last"))
		return 0;
	if (strchr(s, 'T') && strchr(s, '-')) {
		out->kind = DIFF_AT_UTC;
		return parse_utc(s, &out->seconds);
	}
	out->kind = DIFF_AT_ELAPSED;
	return parse_duration(s, &out->seconds);
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *string_of(json_object *o, const char *key)
{
	json_object *v = member(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* An integer member: 0, or -EINVAL when absent or not a number. */
static int int_of(json_object *o, const char *key, int64_t *out)
{
	json_object *v = member(o, key);

	if (!v || !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return -EINVAL;
	*out = json_object_get_int64(v);
	return 0;
}

static bool is_report(json_object *o)
{
	const char *type = string_of(o, "type");

	return type && (!strcmp(type, "interval") || !strcmp(type, "summary"));
}

/* Whether record o is at or before at. */
static bool at_or_before(json_object *o, const struct diff_at *at)
{
	json_object *v;
	const char *time;
	double t;

	switch (at->kind) {
	case DIFF_AT_ELAPSED:
		v = member(o, "elapsed_s");
		/* a hair of slack: elapsed_s is written with limited digits */
		return v && json_object_get_double(v) <= at->seconds + 1e-6;
	case DIFF_AT_UTC:
		time = string_of(o, "time");
		return time && !parse_utc(time, &t) && t <= at->seconds + 1e-6;
	default:
		return true;
	}
}

static void frame_of(json_object *f, struct group_frame *out)
{
	const char *kind = string_of(f, "kind");
	const char *addr = string_of(f, "addr");
	int64_t v;

	*out = (struct group_frame){
		.python = kind && !strcmp(kind, "python"),
		.module = string_of(f, "module"),
		.function = string_of(f, "function"),
		.file = string_of(f, "file"),
	};
	if (!int_of(f, "module_offset", &v))
		out->module_offset = v;
	if (!int_of(f, "line", &v))
		out->line = v;
	if (addr)
		out->addr = strtoull(addr, NULL, 16);
}

/* The parts of record o that diff uses, into r. 0, or -EINVAL naming the
 * member in *what. */
static int fill(json_object *o, struct diff_record *r, const char **what)
{
	json_object *totals = member(o, "totals"), *stacks = member(o, "stacks");
	json_object *groups = member(o, "groups");
	const char *by = string_of(o, "group_by");
	int nr;

	snprintf(r->type, sizeof(r->type), "%s", string_of(o, "type"));
	r->time = string_of(o, "time");
	r->elapsed_s = member(o, "elapsed_s") ? json_object_get_double(member(o, "elapsed_s")) : 0;
	*what = "totals";
	if (!totals || int_of(totals, "outstanding_bytes", &r->bytes) ||
	    int_of(totals, "outstanding_allocs", &r->allocs))
		return -EINVAL;
	*what = "stacks";
	if (!stacks || !json_object_is_type(stacks, json_type_array))
		return -EINVAL;
	nr = json_object_array_length(stacks);
	r->stacks = calloc(nr + 1, sizeof(*r->stacks));
	if (!r->stacks)
		return -ENOMEM;
	for (int i = 0; i < nr; i++) {
		json_object *s = json_object_array_get_idx(stacks, i), *frames = member(s, "frames");
		struct diff_stack *d = &r->stacks[r->nr_stacks++];
		int nf;

		if (!(d->id = string_of(s, "id")) || int_of(s, "outstanding_bytes", &d->bytes) ||
		    int_of(s, "outstanding_allocs", &d->allocs) || !frames ||
		    !json_object_is_type(frames, json_type_array))
			return -EINVAL;
		nf = json_object_array_length(frames);
		d->frames = calloc(nf + 1, sizeof(*d->frames));
		if (!d->frames)
			return -ENOMEM;
		for (int j = 0; j < nf; j++)
			frame_of(json_object_array_get_idx(frames, j), &d->frames[d->nr_frames++]);
	}
	if (!by || group_by__parse(by, &r->group_by) || !groups ||
	    !json_object_is_type(groups, json_type_array)) {
		r->group_by = GROUP_BY_STACK;
		return 0;
	}
	*what = "groups";
	nr = json_object_array_length(groups);
	r->groups = calloc(nr + 1, sizeof(*r->groups));
	if (!r->groups)
		return -ENOMEM;
	for (int i = 0; i < nr; i++) {
		json_object *g = json_object_array_get_idx(groups, i);
		struct diff_group *d = &r->groups[r->nr_groups++];

		if (!(d->key = string_of(g, "key")) || int_of(g, "outstanding_bytes", &d->bytes) ||
		    int_of(g, "outstanding_allocs", &d->allocs))
			return -EINVAL;
	}
	return 0;
}

static bool blank(const char *s)
{
	return !s[strspn(s, " \t\r\n")];
}

int diff_record__read(const char *path, const struct diff_at *at, struct diff_record *out)
{
	json_tokener *tok = json_tokener_new();
	json_object *picked = NULL, *first = NULL;
	FILE *f = fopen(path, "re");
	int nr = 0, line = 0, start = 0, picked_line = 0, err = LW_EXIT_FAILURE;
	const char *what;
	size_t cap = 0;
	ssize_t len;
	char *buf = NULL;
	bool inside = false; /* an object goes on over several lines */

	*out = (struct diff_record){ .path = path };
	if (!f) {
		lw_say("cannot read %s: %s", path, strerror(errno));
		json_tokener_free(tok);
		return LW_EXIT_USAGE;
	}
	if (!tok) {
		lw_say("out of memory reading %s", path);
		goto out;
	}
	/* as leakwatch writes it: no trailing commas, no single quotes */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	while ((len = getline(&buf, &cap, f)) >= 0) {
		enum json_tokener_error jerr;
		json_object *o;

		line++;
		/* a command's own lines share --json -'s stdout: not ours */
		if (!inside && buf[strspn(buf, " \t\r\n")] != '{')
			continue;
		if (!inside)
			start = line;
		o = json_tokener_parse_ex(tok, buf, len);
		jerr = json_tokener_get_error(tok);
		if (jerr == json_tokener_continue) {
			inside = true; /* pretty-printed: more lines to come */
			continue;
		}
		inside = false;
		if (jerr != json_tokener_success || !blank(buf + json_tokener_get_parse_end(tok))) {
			lw_say("%s line %d: not valid JSON (%s): give a file that leakwatch --json or "
			       "--summary-dir wrote", path, line, jerr != json_tokener_success ?
			       json_tokener_error_desc(jerr) : "text after the object");
			json_object_put(o);
			goto out;
		}
		json_tokener_reset(tok);
		if (!json_object_is_type(o, json_type_object) || !is_report(o)) {
			json_object_put(o);
			continue;
		}
		nr++;
		if (!first)
			first = json_object_get(o);
		if (at_or_before(o, at)) {
			json_object_put(picked);
			picked = o;
			picked_line = start;
		} else {
			json_object_put(o);
		}
	}
	if (ferror(f)) {
		lw_say("cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (inside) {
		lw_say("%s line %d: not valid JSON (cut off at the end of the file): give a file that "
		       "leakwatch --json or --summary-dir wrote", path, line);
		goto out;
	}
	if (!nr) {
		lw_say("%s: no leakwatch report in it: give a file that leakwatch --json or "
		       "--summary-dir wrote", path);
		goto out;
	}
	if (!picked) {
		json_object *t = member(first, "elapsed_s");

		lw_say("%s: no report at or before --at %s (the first is at %.3f s, %s)", path,
		       at->text, t ? json_object_get_double(t) : 0.0,
		       string_of(first, "time") ? string_of(first, "time") : "no time");
		goto out;
	}
	out->line = picked_line;
	out->json = picked;
	picked = NULL;
	err = fill(out->json, out, &what);
	if (err == -ENOMEM) {
		lw_say("out of memory reading %s", path);
		err = LW_EXIT_FAILURE;
	} else if (err) {
		lw_say("%s line %d: a report without a well-formed %s: give a file that leakwatch "
		       "--json or --summary-dir wrote", path, out->line, what);
		err = LW_EXIT_FAILURE;
	}
out:
	json_object_put(picked);
	json_object_put(first);
	json_tokener_free(tok);
	free(buf);
	fclose(f);
	if (err)
		diff_record__free(out);
	return err;
}

void diff_record__free(struct diff_record *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->nr_stacks; i++)
		free(r->stacks[i].frames);
	free(r->stacks);
	free(r->groups);
	json_object_put(r->json);
	r->stacks = NULL;
	r->groups = NULL;
	r->json = NULL;
	r->nr_stacks = r->nr_groups = 0;
}
