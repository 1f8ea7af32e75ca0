// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <math.h>
#include <inttypes.h>
#include <string.h>
#include "outputs/json_writer.h"

void jw_init(struct jw *w, FILE *f)
{
	w->f = f;
	w->depth = 0;
	w->first[0] = true;
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f); /* UTF-8 passes through */
		}
	}
	fputc('"', f);
}

/* Separator and member name before a value. */
static void member(struct jw *w, const char *key)
{
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
	if (key) {
		put_string(w->f, key);
		fputc(':', w->f);
	}
}

static void open_(struct jw *w, const char *key, char c)
{
	member(w, key);
	fputc(c, w->f);
	if (w->depth + 1 < JW_MAX_DEPTH)
		w->depth++;
	w->first[w->depth] = true;
}

static void close_(struct jw *w, char c)
{
	fputc(c, w->f);
	if (w->depth > 0)
		w->depth--;
}

void jw_object(struct jw *w, const char *key) { open_(w, key, '{'); }
void jw_object_end(struct jw *w) { close_(w, '}'); }
void jw_array(struct jw *w, const char *key) { open_(w, key, '['); }
void jw_array_end(struct jw *w) { close_(w, ']'); }

void jw_string(struct jw *w, const char *key, const char *val)
{
	member(w, key);
	if (val)
		put_string(w->f, val);
	else
		fputs("null", w->f);
}

void jw_int(struct jw *w, const char *key, int64_t val)
{
	member(w, key);
	fprintf(w->f, "%" PRId64, val);
}

void jw_uint(struct jw *w, const char *key, uint64_t val)
{
	member(w, key);
	fprintf(w->f, "%" PRIu64, val);
}

void jw_double(struct jw *w, const char *key, double val)
{
	member(w, key);
	char buf[64];
	size_t n;

	if (!isfinite(val)) {
		fputs("null", w->f);
		return;
	}
	if (fabs(val) >= 1e15) {
		/* beyond where a fixed 3-decimal form is useful */
		fprintf(w->f, "%.17g", val);
		return;
	}
	/* millisecond / milli-byte precision, no exponent, trailing zeros cut */
	n = snprintf(buf, sizeof(buf), "%.3f", val);
	while (n > 1 && buf[n - 1] == '0')
		buf[--n] = 0;
	if (buf[n - 1] == '.')
		buf[--n] = 0;
	if (!strcmp(buf, "-0"))
		strcpy(buf, "0");
	fputs(buf, w->f);
}

void jw_bool(struct jw *w, const char *key, bool val)
{
	member(w, key);
	fputs(val ? "true" : "false", w->f);
}

void jw_null(struct jw *w, const char *key)
{
	member(w, key);
	fputs("null", w->f);
}
