// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "outputs/atomic_file.h"
#include "common/hashmap.h"
#include "outputs/pprof.h"
#include "proto/profile.pb-c.h"

/* protobuf-c's names, shortened for this file */
typedef Perftools__Profiles__Profile pb_profile;
typedef Perftools__Profiles__ValueType pb_value_type;
typedef Perftools__Profiles__Sample pb_sample;
typedef Perftools__Profiles__Label pb_label;
typedef Perftools__Profiles__Mapping pb_mapping;
typedef Perftools__Profiles__Location pb_location;
typedef Perftools__Profiles__Line pb_line;
typedef Perftools__Profiles__Function pb_function;

#define CHUNK_BYTES (256 * 1024)

/* The messages of one profile live in chunks freed together. */
struct chunk {
	struct chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct vec {
	void **v;
	size_t n, cap;
};

struct builder {
	struct chunk *chunks;
	struct vec strings, samples, mappings, locations, functions;
	struct hashmap *string_ids;   /* (FNV-1a, length) -> string index + 1 */
	struct hashmap *location_ids; /* (module, file offset) or (pid tag, address) -> location */
	struct hashmap *function_ids; /* (name, file) string indexes -> function */
	struct hashmap *mapping_ids;  /* (module, 0) -> mapping */
	pb_mapping *main_mapping;     /* the one holding main(), shown first */
	bool failed;                  /* out of memory somewhere */
};

struct pprof_out {
	struct export_file file; /* first (atomic_file.h) */
	bool every;      /* at every report, not only at exit */
};

/* Zeroed memory that lasts until builder_free. */
static void *alloc(struct builder *b, size_t size)
{
	struct chunk *c = b->chunks;
	void *p;

	size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!c || c->size - c->used < size) {
		size_t want = size > CHUNK_BYTES ? size : CHUNK_BYTES;

		c = calloc(1, sizeof(*c) + want);
		if (!c) {
			b->failed = true;
			return NULL;
		}
		c->size = want;
		c->next = b->chunks;
		b->chunks = c;
	}
	p = (char *)c->data + c->used;
	c->used += size;
	return p;
}

static void push(struct builder *b, struct vec *v, void *p)
{
	if (v->n == v->cap) {
		size_t want = v->cap ? v->cap * 2 : 256;
		void **grown = realloc(v->v, want * sizeof(*grown));

		if (!grown) {
			b->failed = true;
			return;
		}
		v->v = grown;
		v->cap = want;
	}
	v->v[v->n++] = p;
}

/* The index of s in the string table, added on first use; 0 for NULL. */
static int64_t intern(struct builder *b, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	struct lw_key key;
	size_t len = 0;
	void *found;

	if (!s || !*s)
		return 0;
	for (len = 0; s[len]; len++)
		h = (h ^ (unsigned char)s[len]) * 0x100000001b3ULL;
	key = (struct lw_key){ h, len };
	found = hashmap__get(b->string_ids, key);
	if (found && !strcmp(b->strings.v[(uintptr_t)found - 1], s))
		return (uintptr_t)found - 1;
	push(b, &b->strings, (void *)s);
	/* a hash collision only costs a duplicate entry, which pprof allows */
	if (!found && hashmap__set(b->string_ids, key, (void *)(uintptr_t)b->strings.n))
		b->failed = true;
	return b->strings.n - 1;
}

static pb_mapping *mapping_of(struct builder *b, const struct lw_module *module)
{
	struct lw_key key = { (uintptr_t)module, 0 };
	pb_mapping *m = hashmap__get(b->mapping_ids, key);

	if (m)
		return m;
	m = alloc(b, sizeof(*m));
	if (!m)
		return NULL;
	perftools__profiles__mapping__init(m);
	m->id = b->mappings.n + 1;
	/* addresses are file offsets: start 0, file offset 0, limit grows */
	m->filename = intern(b, module->path);
	m->build_id = intern(b, module->build_id);
	m->has_functions = m->has_filenames = m->has_line_numbers = true;
	m->has_inline_frames = !module->stripped;
	push(b, &b->mappings, m);
	if (hashmap__set(b->mapping_ids, key, m))
		b->failed = true;
	return m;
}

static uint64_t function_of(struct builder *b, const struct lw_sym *sym)
{
	int64_t name = intern(b, sym->function), file = intern(b, sym->file);
	struct lw_key key = { name, file };
	pb_function *fn = hashmap__get(b->function_ids, key);

	if (fn)
		return fn->id;
	fn = alloc(b, sizeof(*fn));
	if (!fn)
		return 0;
	perftools__profiles__function__init(fn);
	fn->id = b->functions.n + 1;
	fn->name = fn->system_name = name;
	fn->filename = file;
	push(b, &b->functions, fn);
	if (hashmap__set(b->function_ids, key, fn))
		b->failed = true;
	return fn->id;
}

/* The location of frame f (the innermost of the functions inlined at its
 * address) of process pid. */
static pb_location *location_of(struct builder *b, pid_t pid, const struct lw_frame *f)
{
	/* frames outside any module (JIT code) are told apart by process */
	struct lw_key key = f->module ? (struct lw_key){ (uintptr_t)f->module, f->module_offset } :
					(struct lw_key){ ((uint64_t)pid << 1) | 1, f->addr };
	pb_location *loc = hashmap__get(b->location_ids, key);
	pb_mapping *m = NULL;
	const struct lw_sym *sym;
	size_t nr = 0;

	if (loc)
		return loc;
	loc = alloc(b, sizeof(*loc));
	if (!loc)
		return NULL;
	perftools__profiles__location__init(loc);
	loc->id = b->locations.n + 1;
	loc->address = f->addr;
	if (f->module && (m = mapping_of(b, f->module))) {
		loc->mapping_id = m->id;
		loc->address = f->module_offset;
		if (m->memory_limit <= f->module_offset)
			m->memory_limit = f->module_offset + 1;
	}
	for (sym = f->sym; sym && sym->function; sym = sym->caller)
		nr++;
	if (!nr && m)
		m->has_functions = m->has_filenames = m->has_line_numbers = false;
	loc->line = alloc(b, nr * sizeof(*loc->line));
	for (sym = f->sym; loc->line && sym && sym->function; sym = sym->caller) {
		pb_line *line = alloc(b, sizeof(*line));

		if (!line)
			break;
		perftools__profiles__line__init(line);
		line->function_id = function_of(b, sym);
		line->line = sym->line > 0 ? sym->line : 0;
		loc->line[loc->n_line++] = line;
		if (m && !sym->file)
			m->has_filenames = false;
		if (m && sym->line <= 0)
			m->has_line_numbers = false;
		if (m && !sym->caller && !strcmp(sym->function, "main"))
			b->main_mapping = m;
	}
	push(b, &b->locations, loc);
	if (hashmap__set(b->location_ids, key, loc))
		b->failed = true;
	return loc;
}

static pb_label *label(struct builder *b, const char *key, const char *str, int64_t num)
{
	pb_label *l = alloc(b, sizeof(*l));

	if (!l)
		return NULL;
	perftools__profiles__label__init(l);
	l->key = intern(b, key);
	if (str)
		l->str = intern(b, str);
	else
		l->num = num;
	return l;
}

static void add_sample(struct builder *b, const struct lw_site *s)
{
	pb_sample *sample = alloc(b, sizeof(*sample));
	char *id = alloc(b, 17);

	if (!sample || !id)
		return;
	perftools__profiles__sample__init(sample);
	sample->location_id = alloc(b, (s->nr_frames + 1) * sizeof(*sample->location_id));
	sample->value = alloc(b, 2 * sizeof(*sample->value));
	sample->label = alloc(b, 3 * sizeof(*sample->label));
	if (!sample->location_id || !sample->value || !sample->label)
		return;
	for (int i = 0; i < s->nr_frames; i++) {
		const struct lw_frame *f = &s->frames[i], *prev = i ? f - 1 : NULL;
		pb_location *loc;

		/* the functions inlined at one address share its location */
		if (prev && prev->addr == f->addr && prev->sym && prev->sym->caller &&
		    prev->sym->caller == f->sym)
			continue;
		loc = location_of(b, s->pid, f);
		if (!loc)
			return;
		sample->location_id[sample->n_location_id++] = loc->id;
	}
	sample->value[0] = s->bytes;
	sample->value[1] = s->allocs;
	sample->n_value = 2;
	snprintf(id, 17, "%016" PRIx64, s->id);
	sample->label[0] = label(b, "pid", NULL, s->pid);
	sample->label[1] = label(b, "stack_id", id, 0);
	sample->label[2] = label(b, "category", category_name(s->category), 0);
	sample->n_label = 3;
	push(b, &b->samples, sample);
}

static pb_value_type *value_type(struct builder *b, const char *type, const char *unit)
{
	pb_value_type *v = alloc(b, sizeof(*v));

	if (!v)
		return NULL;
	perftools__profiles__value_type__init(v);
	v->type = intern(b, type);
	v->unit = intern(b, unit);
	return v;
}

static void builder_free(struct builder *b)
{
	while (b->chunks) {
		struct chunk *next = b->chunks->next;

		free(b->chunks);
		b->chunks = next;
	}
	free(b->strings.v);
	free(b->samples.v);
	free(b->mappings.v);
	free(b->locations.v);
	free(b->functions.v);
	hashmap__free(b->string_ids);
	hashmap__free(b->location_ids);
	hashmap__free(b->function_ids);
	hashmap__free(b->mapping_ids);
}

/* buf, gzipped, to f. */
static int gzip_to(FILE *f, const uint8_t *buf, size_t len)
{
	unsigned char out[64 * 1024];
	z_stream z = {};
	int ret;

	if (len > UINT_MAX)
		return -EFBIG;
	/* 16 + window bits: a gzip header and trailer, as pprof wants on disk */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)buf;
	z.avail_in = len;
	do {
		z.next_out = out;
		z.avail_out = sizeof(out);
		ret = deflate(&z, Z_FINISH);
		if (fwrite(out, 1, sizeof(out) - z.avail_out, f) != sizeof(out) - z.avail_out)
			break;
	} while (ret == Z_OK);
	deflateEnd(&z);
	if (ferror(f))
		return errno ? -errno : -EIO;
	return ret == Z_STREAM_END ? 0 : -EIO;
}

int pprof__write(FILE *f, const struct report *r)
{
	pb_profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
	struct builder b = {
		.string_ids = hashmap__new(),
		.location_ids = hashmap__new(),
		.function_ids = hashmap__new(),
		.mapping_ids = hashmap__new(),
	};
	pb_value_type *types[2];
	int64_t comment[2];
	uint8_t *buf = NULL;
	int64_t when_ns;
	size_t len = 0;
	int err;

	b.failed = !b.string_ids || !b.location_ids || !b.function_ids || !b.mapping_ids;
	if (b.failed)
		goto out;
	push(&b, &b.strings, ""); /* string_table[0] is always "" */
	types[0] = value_type(&b, "inuse_space", "bytes");
	types[1] = value_type(&b, "inuse_objects", "count");
	for (int i = 0; i < r->nr_all_stacks && !b.failed; i++)
		add_sample(&b, r->all_stacks[i]);
	p.n_sample_type = 2;
	p.sample_type = types;
	p.default_sample_type = intern(&b, "inuse_space");
	p.period_type = value_type(&b, "space", "bytes");
	p.period = 1;
	comment[0] = intern(&b, "leakwatch: outstanding (allocated, not yet freed) memory per stack");
	p.n_comment = 1;
	if (r->sampling.mode) {
		comment[1] = intern(&b, "sampled: values are unbiased estimates");
		p.n_comment = 2;
	}
	p.comment = comment;
	when_ns = r->when.tv_sec * 1000000000LL + r->when.tv_nsec;
	p.duration_nanos = r->elapsed_s * 1e9;
	p.time_nanos = when_ns - p.duration_nanos;
	if (b.failed || !types[0] || !types[1] || !p.period_type)
		goto out;
	/* pprof takes mapping[0] for the main binary */
	for (size_t i = 1; b.main_mapping && i < b.mappings.n; i++) {
		if (b.mappings.v[i] == b.main_mapping) {
			b.mappings.v[i] = b.mappings.v[0];
			b.mappings.v[0] = b.main_mapping;
		}
	}
	p.n_sample = b.samples.n;
	p.sample = (pb_sample **)b.samples.v;
	p.n_mapping = b.mappings.n;
	p.mapping = (pb_mapping **)b.mappings.v;
	p.n_location = b.locations.n;
	p.location = (pb_location **)b.locations.v;
	p.n_function = b.functions.n;
	p.function = (pb_function **)b.functions.v;
	p.n_string_table = b.strings.n;
	p.string_table = (char **)b.strings.v;

	len = perftools__profiles__profile__get_packed_size(&p);
	buf = malloc(len ? len : 1);
	if (!buf) {
		b.failed = true;
		goto out;
	}
	perftools__profiles__profile__pack(&p, buf);
out:
	err = b.failed ? -ENOMEM : gzip_to(f, buf, len);
	free(buf);
	builder_free(&b);
	return err;
}

static bool wanted(const struct output_opts *opts)
{
	return opts->pprof_path;
}

static int open_pprof(void **state, const struct output_opts *opts)
{
	int err = export_file__open(state, sizeof(struct pprof_out), opts->pprof_path, "--pprof");

	if (!err)
		((struct pprof_out *)*state)->every = opts->pprof_every;
	return err;
}

static void report(void *state, const struct report *r)
{
	struct pprof_out *po = state;

	if (r->summary || po->every)
		export_file__write(&po->file, r, pprof__write, po->every);
}

const struct exporter pprof_exporter = {
	.name = "pprof",
	.wanted = wanted,
	.open = open_pprof,
	.report = report,
	.close = export_file__close,
};
