/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Writes one JSON value (an object per line for JSON lines) to a FILE.
 * key is the member name inside objects and NULL inside arrays. */
#ifndef LW_JSON_WRITER_H
#define LW_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 16

struct jw {
	FILE *f;
	int depth;
	bool first[JW_MAX_DEPTH]; /* no member written yet at this depth */
};

void jw_init(struct jw *w, FILE *f);
void jw_object(struct jw *w, const char *key);
void jw_object_end(struct jw *w);
void jw_array(struct jw *w, const char *key);
void jw_array_end(struct jw *w);
void jw_string(struct jw *w, const char *key, const char *val); /* NULL writes null */
void jw_int(struct jw *w, const char *key, int64_t val);
void jw_uint(struct jw *w, const char *key, uint64_t val);
void jw_double(struct jw *w, const char *key, double val);      /* non-finite writes null */
void jw_bool(struct jw *w, const char *key, bool val);
void jw_null(struct jw *w, const char *key);

#endif
