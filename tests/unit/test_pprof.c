// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* pprof.h: a profile written, gunzipped and decoded again with the code
 * protoc-c generates from proto/profile.proto; every id and index checked. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <setjmp.h>
#include <cmocka.h>
#include "outputs/pprof.h"
#include "proto/profile.pb-c.h"

typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__Location pb_location;

static struct lw_module app = { .path = "/opt/app/bin/server",
				.build_id = "aa5500000000000000000000000000000000ee77" };
static struct lw_module libfoo = { .path = "/usr/lib/libfoo.so.1", .stripped = true };

static const struct lw_sym main_sym = { .function = "main", .file = "server.c", .line = 9 };
static const struct lw_sym handle = { .function = "handle", .file = "server.c", .line = 40 };
static const struct lw_sym parse = { .function = "parse", .file = "parse.h", .line = 12,
				     .caller = &handle };
static const struct lw_sym grow = { .function = "grow", .file = "buf.h", .line = 3,
				    .caller = &parse };
static const struct lw_sym jitted = { .function = "py::handler" };

static struct lw_frame frame(const struct lw_module *m, uint64_t base, uint64_t off,
			     const struct lw_sym *sym)
{
	return (struct lw_frame){ .addr = base + off, .module = m, .module_offset = off,
				  .sym = sym, .mapped_exec = true };
}

/* gunzip, then decode */
static pb_profile *decode(const char *gz, size_t len)
{
	size_t cap = 1 << 20;
	uint8_t *raw = malloc(cap);
	z_stream z = {};
	pb_profile *p;

	assert_non_null(raw);
	assert_int_equal(inflateInit2(&z, 16 + 15), Z_OK);
	z.next_in = (Bytef *)gz;
	z.avail_in = len;
	z.next_out = raw;
	z.avail_out = cap;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	p = perftools__profiles__profile__unpack(NULL, z.total_out, raw);
	inflateEnd(&z);
	free(raw);
	assert_non_null(p);
	return p;
}

static const char *str(const pb_profile *p, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < p->n_string_table);
	return p->string_table[i];
}

static const pb_location *location(const pb_profile *p, uint64_t id)
{
	for (size_t i = 0; i < p->n_location; i++)
		if (p->location[i]->id == id)
			return p->location[i];
	fail_msg("no location %llu", (unsigned long long)id);
	return NULL;
}

static const char *function_name(const pb_profile *p, uint64_t id)
{
	for (size_t i = 0; i < p->n_function; i++)
		if (p->function[i]->id == id)
			return str(p, p->function[i]->name);
	fail_msg("no function %llu", (unsigned long long)id);
	return NULL;
}

static const char *label(const pb_profile *p, const Perftools__Profiles__Sample *s,
			 const char *key, int64_t *num)
{
	for (size_t i = 0; i < s->n_label; i++) {
		if (strcmp(str(p, s->label[i]->key), key))
			continue;
		*num = s->label[i]->num;
		return str(p, s->label[i]->str);
	}
	fail_msg("no label %s", key);
	return NULL;
}

static void test_round_trip(void **state)
{
	/* pid 10: grow and parse inlined into handle at one address, main,
	 * an unnamed address in a stripped library, a JIT function; pid 11
	 * (another ASLR base): main alone, the same code as pid 10's main */
	struct lw_frame a[] = {
		frame(&app, 0x555500000000, 0x1200, &grow),
		frame(&app, 0x555500000000, 0x1200, &parse),
		frame(&app, 0x555500000000, 0x1200, &handle),
		frame(&app, 0x555500000000, 0x1100, &main_sym),
		frame(&libfoo, 0x7f0000000000, 0x2a, NULL),
		{ .addr = 0x7e0000001000, .sym = &jitted, .mapped_exec = true },
	};
	struct lw_frame b[] = { frame(&app, 0x566600000000, 0x1100, &main_sym) };
	struct lw_site sa = { .pid = 10, .id = 0x52d480aaf5f982f2, .frames = a, .nr_frames = 6,
			      .bytes = 409600, .allocs = 100, .category = LW_CAT_MALLOC };
	struct lw_site sb = { .pid = 11, .id = 0x1, .frames = b, .nr_frames = 1, .bytes = 7,
			      .allocs = 1, .category = LW_CAT_MMAP };
	struct lw_site *all[] = { &sa, &sb };
	struct report r = { .summary = true, .when = { .tv_sec = 1795753800 }, .elapsed_s = 60,
			    .stacks = all, .nr_stacks = 1, .all_stacks = all, .nr_all_stacks = 2 };
	const pb_location *loc;
	const Perftools__Profiles__Mapping *m;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	pb_profile *p;
	int64_t num;

	assert_non_null(f);
	assert_int_equal(pprof__write(f, &r), 0);
	fclose(f);
	p = decode(buf, len);
	free(buf);

	assert_string_equal(p->string_table[0], "");
	assert_int_equal(p->n_sample_type, 2);
	assert_string_equal(str(p, p->sample_type[0]->type), "inuse_space");
	assert_string_equal(str(p, p->sample_type[0]->unit), "bytes");
	assert_string_equal(str(p, p->sample_type[1]->type), "inuse_objects");
	assert_string_equal(str(p, p->sample_type[1]->unit), "count");
	assert_string_equal(str(p, p->default_sample_type), "inuse_space");
	assert_true(p->time_nanos == (1795753800LL - 60) * 1000000000LL);
	assert_true(p->duration_nanos == 60LL * 1000000000LL);

	/* every stack, with its values and labels */
	assert_int_equal(p->n_sample, 2);
	assert_int_equal(p->sample[0]->n_value, 2);
	assert_int_equal(p->sample[0]->value[0], 409600);
	assert_int_equal(p->sample[0]->value[1], 100);
	assert_int_equal(p->sample[1]->value[0], 7);
	assert_string_equal(label(p, p->sample[0], "pid", &num), "");
	assert_int_equal(num, 10);
	assert_string_equal(label(p, p->sample[0], "stack_id", &num), "52d480aaf5f982f2");
	assert_string_equal(label(p, p->sample[0], "category", &num), "malloc");
	assert_string_equal(label(p, p->sample[1], "category", &num), "mmap");

	/* the inlined chain is one location, innermost first */
	assert_int_equal(p->sample[0]->n_location_id, 4);
	loc = location(p, p->sample[0]->location_id[0]);
	assert_int_equal(loc->address, 0x1200);
	assert_int_equal(loc->n_line, 3);
	assert_string_equal(function_name(p, loc->line[0]->function_id), "grow");
	assert_int_equal(loc->line[0]->line, 3);
	assert_string_equal(function_name(p, loc->line[1]->function_id), "parse");
	assert_string_equal(function_name(p, loc->line[2]->function_id), "handle");
	assert_int_equal(loc->line[2]->line, 40);
	/* main: the same location in both processes, addressed by file offset */
	assert_int_equal(p->sample[0]->location_id[1], p->sample[1]->location_id[0]);
	loc = location(p, p->sample[0]->location_id[1]);
	assert_int_equal(loc->address, 0x1100);
	assert_int_equal(loc->n_line, 1);
	/* the mapping of the main binary comes first */
	m = p->mapping[0];
	assert_int_equal(m->id, loc->mapping_id);
	assert_string_equal(str(p, m->filename), "/opt/app/bin/server");
	assert_string_equal(str(p, m->build_id), app.build_id);
	assert_int_equal(m->memory_start, 0);
	assert_int_equal(m->file_offset, 0);
	assert_int_equal(m->memory_limit, 0x1201);
	assert_true(m->has_functions && m->has_filenames && m->has_line_numbers);
	/* no symbol: no line, and the mapping says so */
	loc = location(p, p->sample[0]->location_id[2]);
	assert_int_equal(loc->n_line, 0);
	assert_int_equal(loc->address, 0x2a);
	assert_int_equal(p->n_mapping, 2);
	m = p->mapping[1];
	assert_int_equal(m->id, loc->mapping_id);
	assert_string_equal(str(p, m->filename), "/usr/lib/libfoo.so.1");
	assert_int_equal(m->build_id, 0);
	assert_false(m->has_functions);
	assert_false(m->has_inline_frames);
	/* JIT code: no mapping, the address itself */
	loc = location(p, p->sample[0]->location_id[3]);
	assert_int_equal(loc->mapping_id, 0);
	assert_true(loc->address == 0x7e0000001000);
	assert_string_equal(function_name(p, loc->line[0]->function_id), "py::handler");
	/* functions once each */
	assert_int_equal(p->n_function, 5);
	assert_int_equal(p->n_location, 4);
	perftools__profiles__profile__free_unpacked(p, NULL);
}

static void test_empty(void **state)
{
	struct report r = { .summary = true };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	pb_profile *p;

	assert_non_null(f);
	assert_int_equal(pprof__write(f, &r), 0);
	fclose(f);
	p = decode(buf, len);
	free(buf);
	assert_int_equal(p->n_sample, 0);
	assert_int_equal(p->n_sample_type, 2);
	assert_string_equal(p->string_table[0], "");
	perftools__profiles__profile__free_unpacked(p, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
