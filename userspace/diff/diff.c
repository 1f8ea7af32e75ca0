// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <argp.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "common/exitcodes.h"
#include "common/messages.h"
#include "diff/diff.h"
#include "options/cli.h"
#include "outputs/json_writer.h"

/* Frames shown under each stack of the text table; JSON has them all. */
#define DIFF_TEXT_FRAMES 3

/* One side's share of a row, before rows are merged by key. */
struct diff_part {
	const char *key;
	const struct diff_stack *stack;
	int64_t bytes, allocs;
	bool new;
};

static int by_key(const void *pa, const void *pb)
{
	const struct diff_part *a = pa, *b = pb;

	return strcmp(a->key, b->key);
}

static int by_growth(const void *pa, const void *pb)
{
	const struct diff_row *a = pa, *b = pb;
	int64_t da = a->new_bytes - a->old_bytes, db = b->new_bytes - b->old_bytes;
	int64_t ca = a->new_allocs - a->old_allocs, cb = b->new_allocs - b->old_allocs;

	if (da != db)
		return da > db ? -1 : 1;
	if (ca != cb)
		return ca > cb ? -1 : 1;
	if (a->new_bytes != b->new_bytes)
		return a->new_bytes > b->new_bytes ? -1 : 1;
	return strcmp(a->key, b->key);
}

/* The parts of one record: its stacks, its groups, or groups of its stacks
 * (keys made into keys[], which the caller frees). */
static int parts_of(const struct diff_record *r, enum group_by by, bool own_groups, bool new,
		    struct diff_part *out, char **keys)
{
	int n = 0;

	if (by != GROUP_BY_STACK && own_groups) {
		for (int i = 0; i < r->nr_groups; i++)
			out[n++] = (struct diff_part){ r->groups[i].key, NULL, r->groups[i].bytes,
						       r->groups[i].allocs, new };
		return n;
	}
	for (int i = 0; i < r->nr_stacks; i++) {
		const struct diff_stack *s = &r->stacks[i];
		const char *key = s->id;

		if (by != GROUP_BY_STACK) {
			char buf[LW_GROUP_KEY_MAX];

			group_key(by, s->frames, s->nr_frames, buf, sizeof(buf));
			if (!(keys[i] = strdup(buf)))
				return -ENOMEM;
			key = keys[i];
		}
		out[n++] = (struct diff_part){ key, by == GROUP_BY_STACK ? s : NULL, s->bytes,
					       s->allocs, new };
	}
	return n;
}

int diff__rows(const struct diff_record *old, const struct diff_record *new, enum group_by by,
	       struct diff_row **rows, bool *from_stacks)
{
	bool own = by != GROUP_BY_STACK && old->group_by == by && new->group_by == by;
	int max = old->nr_stacks + new->nr_stacks + old->nr_groups + new->nr_groups;
	struct diff_part *parts = calloc(max + 1, sizeof(*parts));
	char **keys = calloc(old->nr_stacks + new->nr_stacks + 1, sizeof(*keys));
	struct diff_row *v = calloc(max + 1, sizeof(*v));
	int n_old, n_new = 0, nr = 0, err = 0;

	*rows = NULL;
	*from_stacks = by != GROUP_BY_STACK && !own;
	if (!parts || !keys || !v) {
		err = -ENOMEM;
		goto out;
	}
	n_old = parts_of(old, by, own, false, parts, keys);
	if (n_old >= 0)
		n_new = parts_of(new, by, own, true, parts + n_old, keys + old->nr_stacks);
	if (n_old < 0 || n_new < 0) {
		err = -ENOMEM;
		goto out;
	}
	qsort(parts, n_old + n_new, sizeof(*parts), by_key);
	for (int i = 0; i < n_old + n_new; i++) {
		const struct diff_part *p = &parts[i];
		struct diff_row *row;

		if (!nr || strcmp(v[nr - 1].key, p->key))
			v[nr++] = (struct diff_row){ .key = p->key };
		row = &v[nr - 1];
		/* stacks of several processes share an id: summed */
		if (p->new) {
			row->new_bytes += p->bytes;
			row->new_allocs += p->allocs;
		} else {
			row->old_bytes += p->bytes;
			row->old_allocs += p->allocs;
		}
		if (p->stack && (!row->stack || p->new))
			row->stack = p->stack;
	}
	/* keys of groups made here must outlive this call: the rows own them
	 * through a copy */
	for (int i = 0; i < nr; i++) {
		if (by != GROUP_BY_STACK && !own && !(v[i].key = strdup(v[i].key))) {
			for (int j = 0; j < i; j++)
				free((char *)v[j].key);
			err = -ENOMEM;
			goto out;
		}
	}
	if (nr > 1)
		qsort(v, nr, sizeof(*v), by_growth);
	*rows = v;
	v = NULL;
out:
	for (int i = 0; keys && i < old->nr_stacks + new->nr_stacks; i++)
		free(keys[i]);
	free(keys);
	free(parts);
	free(v);
	return err ? err : nr;
}

/* Frees rows from diff__rows. */
static void rows_free(struct diff_row *rows, int nr, bool own_keys)
{
	for (int i = 0; own_keys && i < nr; i++)
		free((char *)rows[i].key);
	free(rows);
}

static const char *human(int64_t v, bool sign, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = v < 0 ? -(double)v : (double)v;
	const char *s = v < 0 ? "-" : sign && v > 0 ? "+" : "";
	int u = 0;

	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%s%.0f B", s, d);
	else
		snprintf(buf, len, d >= 100 ? "%s%.0f %s" : "%s%.1f %s", s, d, units[u]);
	return buf;
}

static void side_line(FILE *f, const char *name, const struct diff_record *r)
{
	char a[32];

	fprintf(f, "  %s: %s line %d: %s at %.1f s (%s), %s in %" PRId64 " allocations\n", name,
		r->path, r->line, r->type, r->elapsed_s, r->time ? r->time : "no time",
		human(r->bytes, false, a, sizeof(a)), r->allocs);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static void frame_line(FILE *f, int i, const struct group_frame *fr)
{
	fprintf(f, "        #%-2d ", i);
	if (fr->function)
		fprintf(f, "%s", fr->function);
	else
		fprintf(f, "0x%" PRIx64, fr->module ? fr->module_offset : fr->addr);
	if (fr->file)
		fprintf(f, " %s:%d", base_name(fr->file), fr->line);
	fprintf(f, " [%s]\n", fr->python ? "python" : fr->module ? base_name(fr->module) : "anon");
}

void diff__print_text(FILE *f, const struct diff_record *old, const struct diff_record *new,
		      enum group_by by, const struct diff_row *rows, int nr, int top,
		      bool from_stacks)
{
	char a[32], b[32];

	fprintf(f, "leakwatch diff by %s\n", group_by__name(by));
	side_line(f, "old", old);
	side_line(f, "new", new);
	fprintf(f, "  change: %s in %+" PRId64 " allocations over %.1f s\n",
		human(new->bytes - old->bytes, true, a, sizeof(a)), new->allocs - old->allocs,
		new->elapsed_s - old->elapsed_s);
	if (from_stacks)
		fprintf(f, "  groups made from the stacks each report lists (its top -T); watch with "
			"--group-by %s to count every stack\n", group_by__name(by));
	if (!nr) {
		fprintf(f, "  no %s in either report\n", by == GROUP_BY_STACK ? "stacks" : "groups");
		return;
	}
	fprintf(f, "  %10s %11s %8s %8s  %s\n", "SIZE", "DIFF", "COUNT", "DIFF",
		by == GROUP_BY_STACK ? "STACK" : "KEY");
	for (int i = 0; i < nr && i < top; i++) {
		const struct diff_row *r = &rows[i];
		int first;

		fprintf(f, "  %10s %11s %8" PRId64 " %+8" PRId64 "  %s\n",
			human(r->new_bytes, false, a, sizeof(a)),
			human(r->new_bytes - r->old_bytes, true, b, sizeof(b)), r->new_allocs,
			r->new_allocs - r->old_allocs, r->key);
		/* from the frame a group's key would take: past the allocator and
		 * the runtime, to the code that asked */
		first = r->stack ? group_key_frame(r->stack->frames, r->stack->nr_frames) : 0;
		if (first < 0)
			first = 0;
		for (int j = first; r->stack && j < r->stack->nr_frames && j < first + DIFF_TEXT_FRAMES;
		     j++)
			frame_line(f, j, &r->stack->frames[j]);
	}
	if (nr > top)
		fprintf(f, "  ... %d more (-T shows more)\n", nr - top);
	fflush(f);
}

static void side_json(struct jw *w, const char *name, const struct diff_record *r)
{
	jw_object(w, name);
	jw_string(w, "file", r->path);
	jw_int(w, "line", r->line);
	jw_string(w, "type", r->type);
	jw_string(w, "time", r->time);
	jw_double(w, "elapsed_s", r->elapsed_s);
	jw_int(w, "outstanding_bytes", r->bytes);
	jw_int(w, "outstanding_allocs", r->allocs);
	jw_object_end(w);
}

static void frame_json(struct jw *w, const struct group_frame *fr)
{
	jw_object(w, NULL);
	jw_string(w, "kind", fr->python ? "python" : "native");
	jw_string(w, "module", fr->module);
	if (fr->module)
		jw_uint(w, "module_offset", fr->module_offset);
	else
		jw_null(w, "module_offset");
	jw_string(w, "function", fr->function);
	jw_string(w, "file", fr->file);
	if (fr->file)
		jw_int(w, "line", fr->line);
	else
		jw_null(w, "line");
	jw_object_end(w);
}

void diff__print_json(FILE *f, const struct diff_record *old, const struct diff_record *new,
		      enum group_by by, const struct diff_row *rows, int nr, int top,
		      bool from_stacks)
{
	struct jw w;

	jw_init(&w, f);
	jw_object(&w, NULL);
	jw_string(&w, "type", "diff");
	jw_int(&w, "schema", 1);
	jw_string(&w, "group_by", group_by__name(by));
	side_json(&w, "old", old);
	side_json(&w, "new", new);
	jw_int(&w, "outstanding_bytes_diff", new->bytes - old->bytes);
	jw_int(&w, "outstanding_allocs_diff", new->allocs - old->allocs);
	jw_double(&w, "elapsed_s_diff", new->elapsed_s - old->elapsed_s);
	if (by != GROUP_BY_STACK)
		jw_bool(&w, "groups_from_stacks", from_stacks);
	jw_array(&w, by == GROUP_BY_STACK ? "stacks" : "groups");
	for (int i = 0; i < nr && i < top; i++) {
		const struct diff_row *r = &rows[i];

		jw_object(&w, NULL);
		jw_string(&w, by == GROUP_BY_STACK ? "id" : "key", r->key);
		jw_int(&w, "outstanding_bytes", r->new_bytes);
		jw_int(&w, "outstanding_bytes_diff", r->new_bytes - r->old_bytes);
		jw_int(&w, "outstanding_allocs", r->new_allocs);
		jw_int(&w, "outstanding_allocs_diff", r->new_allocs - r->old_allocs);
		if (r->stack) {
			jw_array(&w, "frames");
			for (int j = 0; j < r->stack->nr_frames; j++)
				frame_json(&w, &r->stack->frames[j]);
			jw_array_end(&w);
		}
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_object_end(&w);
	fputc('\n', f);
	fflush(f);
}

static const char diff_doc[] =
"What changed between two leakwatch reports: each stack (matched by its id) or\n"
"group (by its key) with its outstanding bytes and allocations in NEW and their\n"
"change since OLD, most growth first (tracemalloc's compare_to).\n"
"\n"
"USAGE: leakwatch diff OLD NEW [--group-by KEY] [--json FILE] [--at TIME]\n"
"                            [-T N]\n"
"\n"
"OLD and NEW are files --json wrote (JSON lines: the last report in each) or\n"
"--summary-dir wrote. Needs no privilege.\n"
"\n"
"EXAMPLES:\n"
"  leakwatch diff lw/leakwatch-A.json lw/leakwatch-B.json  # two summary files\n"
"  leakwatch diff run.json run.json --at 60 --at last  # since 60 s in\n"
"  leakwatch diff old.json new.json --group-by line -T 20\n"
"  leakwatch diff old.json new.json --json -      # one JSON object\n"
"\v"
"TIME: 'last'; seconds since the probes went in (60, 90s, 5m: the record's\n"
"elapsed_s); or a UTC time as records write it (2026-11-27T01:23:45.123Z).\n"
"The last report at or before TIME is used. One --at picks in both files; a\n"
"second --at picks in NEW.\n"
"\n"
"EXIT STATUS: 0 done; 1 a file with no report, malformed JSON, or no report\n"
"at TIME; 64 bad usage or a file that cannot be read.\n";

enum {
	DIFF_OPT_GROUP_BY = 0x100,
	DIFF_OPT_JSON,
	DIFF_OPT_AT,
};

static const struct argp_option diff_options[] = {
	{ "group-by", DIFF_OPT_GROUP_BY, "KEY", 0, "stack (default), line, function, file or "
	  "module", 0 },
	{ "json", DIFF_OPT_JSON, "FILE", 0, "One JSON object to FILE, or stdout for '-' "
	  "(replaces the table)", 0 },
	{ "at", DIFF_OPT_AT, "TIME", 0, "The report at or before TIME instead of the last "
	  "(repeat: OLD's, then NEW's)", 0 },
	{ "top", 'T', "N", 0, "Rows shown (default 10)", 0 },
	{ "help", 'h', NULL, 0, "Show this help", -1 },
	{},
};

struct diff_env {
	const char *paths[2];
	enum group_by by;
	const char *json_path;
	struct diff_at at[2];
	int nr_at;
	int top;
};

static void diff_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void diff_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lw_vsay(fmt, ap);
	va_end(ap);
	exit(LW_EXIT_USAGE);
}

static const char *diff_bad_arg;
static const struct argp diff_argp;

static error_t diff_parse(int key, char *arg, struct argp_state *state)
{
	struct diff_env *env = state->input;
	long v;

	switch (key) {
	case DIFF_OPT_GROUP_BY:
		if (group_by__parse(arg, &env->by))
			diff_usage_error("bad --group-by value '%s': expected stack, line, function, "
					 "file or module", arg);
		break;
	case DIFF_OPT_JSON:
		if (!arg[0])
			diff_usage_error("--json needs a FILE, or - for stdout");
		env->json_path = arg;
		break;
	case DIFF_OPT_AT:
		if (env->nr_at == 2)
			diff_usage_error("--at given three times: once for both files, or twice (OLD's, "
					 "then NEW's)");
		if (diff_at__parse(arg, &env->at[env->nr_at++]))
			diff_usage_error("bad --at value '%s': expected last, seconds since the probes "
					 "went in (60, 5m) or a UTC time (2026-11-27T01:23:45Z)", arg);
		break;
	case 'T':
		if (parse_long(arg, 1, 100000, &v))
			diff_usage_error("bad -T value '%s': expected a number of rows from 1 to 100000",
					 arg);
		env->top = v;
		break;
	case 'h':
		/* argp_state_help prints nothing under ARGP_NO_ERRS */
		argp_help(&diff_argp, stdout, ARGP_HELP_STD_HELP & ~ARGP_HELP_EXIT_OK,
			  "leakwatch diff");
		exit(LW_EXIT_OK);
	case ARGP_KEY_ERROR:
		diff_bad_arg = state->next > 0 && state->next <= state->argc ?
			state->argv[state->next - 1] : NULL;
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num >= 2)
			diff_usage_error("unexpected argument '%s': usage is leakwatch diff OLD NEW "
					 "[OPTIONS]", arg);
		env->paths[state->arg_num] = arg;
		break;
	case ARGP_KEY_END:
		if (!env->paths[1])
			diff_usage_error("diff needs two reports: leakwatch diff OLD NEW (files --json "
					 "or --summary-dir wrote)");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp diff_argp = {
	.options = diff_options,
	.parser = diff_parse,
	.args_doc = "OLD NEW",
	.doc = diff_doc,
};

int diff__main(int argc, char **argv)
{
	struct diff_env env = { .by = GROUP_BY_STACK, .top = 10 };
	struct diff_record old, new;
	struct diff_row *rows;
	bool from_stacks;
	FILE *out = stdout;
	int nr, err;

	if (argp_parse(&diff_argp, argc, argv, ARGP_NO_ERRS | ARGP_NO_HELP, NULL, &env))
		diff_usage_error("unknown option, or an option without its value: '%s' (see "
				 "leakwatch diff --help)", diff_bad_arg ? diff_bad_arg : "?");
	if (env.nr_at == 1)
		env.at[1] = env.at[0];
	err = diff_record__read(env.paths[0], &env.at[0], &old);
	if (err)
		return err;
	err = diff_record__read(env.paths[1], &env.at[1], &new);
	if (err) {
		diff_record__free(&old);
		return err;
	}
	nr = diff__rows(&old, &new, env.by, &rows, &from_stacks);
	if (nr < 0) {
		lw_say("out of memory comparing %s and %s", env.paths[0], env.paths[1]);
		err = LW_EXIT_FAILURE;
		goto out;
	}
	if (env.json_path && strcmp(env.json_path, "-") && !(out = fopen(env.json_path, "we"))) {
		lw_say("cannot write --json %s: %s", env.json_path, strerror(errno));
		err = LW_EXIT_USAGE;
	} else if (env.json_path) {
		diff__print_json(out, &old, &new, env.by, rows, nr, env.top, from_stacks);
	} else {
		diff__print_text(out, &old, &new, env.by, rows, nr, env.top, from_stacks);
	}
	if (out && (ferror(out) | (out != stdout && fclose(out)))) {
		lw_say("cannot write the diff to %s", env.json_path ? env.json_path : "stdout");
		err = LW_EXIT_FAILURE;
	}
	rows_free(rows, nr, from_stacks);
out:
	diff_record__free(&old);
	diff_record__free(&new);
	return err;
}
