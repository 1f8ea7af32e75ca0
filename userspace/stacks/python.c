// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A CPython interpreter seen from outside its process: opened, its thread
 * states read, its frames walked and named (python.h). */
#include <capstone/capstone.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "stacks/python_target.h"

/* ---- the target ---- */

static int read_tstates(struct py_target *t, struct py_thread *out, int max)
{
	const struct py_offsets *o = &t->o;
	uint64_t interp, ts;
	int n = 0;

	if (py_read_u64(t, o->runtime_addr + o->runtime_interp_head, &interp) || !interp ||
	    py_read_u64(t, interp + o->interp_tstate_head, &ts))
		return -EIO;
	while (ts && n < max) {
		uint64_t tid = 0, native = 0;

		out[n].tstate = ts;
		if (py_read_u64(t, ts + o->tstate_thread_id, &tid) ||
		    (o->tstate_native_id != ABSENT && py_mem_read(t, ts + o->tstate_native_id, &native, 4)))
			return -EIO;
		out[n].thread_id = tid;
		out[n].native_id = (int)native;
		n++;
		if (py_read_u64(t, ts + o->tstate_next, &ts))
			return -EIO;
	}
	return n;
}

int py_target__threads(struct py_target *t, struct py_thread *out, int max)
{
	return read_tstates(t, out, max);
}

static bool is_code(struct py_target *t, uint64_t obj)
{
	uint64_t type;

	return obj && !py_read_u64(t, obj + 8, &type) && type == t->o.code_type_addr;
}

/* Walks every thread's frames: each must name a code object. Frames of a
 * running target come and go while this reads, so a failed attempt is
 * retried. */
static int check_walk(struct py_target *t)
{
	struct py_thread threads[64];
	struct py_raw_frame frames[MAX_WALK];
	int states = 0;

	for (int attempt = 0; attempt < 5; attempt++) {
		int nt = read_tstates(t, threads, 64), checked = 0, bad = 0;

		if (nt <= 0)
			continue;
		states = nt;
		for (int i = 0; i < nt; i++) {
			int nf = py_target__walk(t, threads[i].tstate, frames, MAX_WALK);

			for (int k = 0; k < nf; k++) {
				checked++;
				bad += !is_code(t, frames[k].code);
			}
		}
		if (!bad && !checked) {
			/* an idle embedded interpreter: nothing to check against */
			py_add_check(t, "frame walk: %d thread state(s), no live frames to check", nt);
			return 0;
		}
		if (!bad) {
			py_add_check(t, "frame walk: %d thread state(s), %d frame(s), every one a code object",
				  nt, checked);
			return 0;
		}
	}
	if (!states) {
		/* no interpreter or thread state yet: it is starting up */
		py_add_check(t, "frame walk: no thread state yet");
		return -EAGAIN;
	}
	py_add_check(t, "frame walk: frames that are not code objects: the frame offsets are wrong");
	return -ENOTSUP;
}

static int find_interpreter(struct py_target *t, const struct lw_maps *maps, char *why, size_t len)
{
	const struct py_layout *l = NULL;
	struct module m = { .fd = -1 };
	uint64_t runtime;
	uint32_t hex = 0;
	int err = -ENOENT;

	char unread[PATH_MAX + 64] = "";

	for (size_t i = 0; i < maps->n && err; i++) {
		int oerr;

		if (!py_maybe_python(maps, i))
			continue;
		oerr = py_module_open(t->pid, maps, i, &m);
		if (oerr) {
			/* a libpython that cannot be read must not pass for no
			 * interpreter: say which, and why */
			if (oerr != -ENOEXEC && !unread[0])
				snprintf(unread, sizeof(unread), "%s: %s", maps->v[i].path,
					 strerror(-oerr));
			continue;
		}
		if (!py_module_object(&m, "_PyRuntime", &t->o.runtime_addr))
			err = 0;
		else
			py_module_close(&m);
	}
	if (err && unread[0]) {
		snprintf(why, len, "cannot read a Python candidate, %s", unread);
		return -EIO;
	}
	if (err) {
		snprintf(why, len, "no CPython interpreter (_PyRuntime) in process %d", t->pid);
		return -ENOENT;
	}
	snprintf(t->module, sizeof(t->module), "%s", m.path);
	if (py_find_version(t, &m, &hex)) {
		snprintf(why, len, "unsupported Python (version unknown) in %s", m.path);
		err = -ENOTSUP;
		goto out;
	}
	l = py_layout_of(hex);
	if (!l) {
		snprintf(why, len, "unsupported Python %u.%u in %s (3.10 to 3.13 are)", hex >> 24,
			 (hex >> 16) & 255, m.path);
		err = -ENOTSUP;
		goto out;
	}
	runtime = t->o.runtime_addr;
	t->o = l->o;
	t->o.version_hex = hex;
	t->o.runtime_addr = runtime;
	t->o.tstate_current_addr = l->runtime_tstate_current == ABSENT ? 0 :
				   runtime + l->runtime_tstate_current;
	if (py_module_object(&m, "PyCode_Type", &t->o.code_type_addr)) {
		snprintf(why, len, "Python %u.%u in %s: no PyCode_Type symbol", hex >> 24,
			 (hex >> 16) & 255, m.path);
		err = -ENOTSUP;
		goto out;
	}
	if ((l->minor >= 13 && py_check_debug_offsets(t)) || py_check_members(t, &m)) {
		snprintf(why, len, "Python %u.%u in %s: its structures do not match what this knows",
			 hex >> 24, (hex >> 16) & 255, m.path);
		err = -ENOTSUP;
		goto out;
	}
	py_find_tss_key(t, &m, l);
	py_find_tls(t, &m);
	py_find_tsd_slot(t, maps);
	py_find_arena(t, &m);
	err = check_walk(t);
	if (err) {
		snprintf(why, len, err == -EAGAIN ? "Python %u.%u in %s: not initialized yet" :
			 "Python %u.%u in %s: its frames do not read as expected",
			 hex >> 24, (hex >> 16) & 255, m.path);
		goto out;
	}
	snprintf(why, len, "Python %u.%u.%u in %s, _PyRuntime at %#" PRIx64, hex >> 24,
		 (hex >> 16) & 255, (hex >> 8) & 255, m.path, runtime);
out:
	py_module_close(&m);
	return err;
}

int py_target__open(pid_t pid, struct py_target **out, char *why, size_t why_len)
{
	struct py_target *t = calloc(1, sizeof(*t));
	struct lw_maps maps;
	char path[64];
	int err;

	*out = NULL;
	if (!t) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	t->pid = pid;
	t->codes = hashmap__new();
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	t->mem = open(path, O_RDONLY | O_CLOEXEC);
	if (t->mem < 0 || !t->codes) {
		err = t->codes ? -errno : -ENOMEM;
		snprintf(why, why_len, "cannot read the memory of process %d: %s", pid, strerror(-err));
		py_target__close(t);
		return err;
	}
	err = maps__read(pid, &maps);
	if (err) {
		snprintf(why, why_len, "cannot read /proc/%d/maps: %s", pid, strerror(-err));
		py_target__close(t);
		return err;
	}
	err = find_interpreter(t, &maps, why, why_len);
	maps__free(&maps);
	if (err) {
		py_target__close(t);
		return err;
	}
	*out = t;
	return 0;
}

void py_target__close(struct py_target *t)
{
	size_t pos = 0;
	struct code_entry *c;

	if (!t)
		return;
	while (t->codes && (c = hashmap__next(t->codes, &pos, NULL))) {
		free(c->table);
		free(c);
	}
	hashmap__free(t->codes);
	if (t->mem >= 0)
		close(t->mem);
	free(t->checks);
	free(t);
}

const struct py_offsets *py_target__offsets(const struct py_target *t)
{
	return &t->o;
}

const char *py_target__module(const struct py_target *t)
{
	return t->module;
}

const char *py_target__checks(const struct py_target *t)
{
	return t->checks ? t->checks : "";
}

int py_target__tss_tstate(struct py_target *t, uint64_t tp, uint64_t *tstate)
{
	uint64_t key = (uint64_t)t->o.tss_key, level2;

	if (t->o.tss_key < 0 || key >= LW_PY_TSD_KEYS)
		return -ENOTSUP;
	if (key < 32)
		return py_read_u64(t, tp + t->o.tss_slot_off + 16 * key, tstate);
	/* glibc's second level (bpf/python.bpf.h does the same) */
	if (py_read_u64(t, tp + t->o.tss_slot_off - 8 + 32 * 16 + 8 * (key / 32), &level2))
		return -EIO;
	if (!level2) {
		*tstate = 0;
		return 0;
	}
	return py_read_u64(t, level2 + 16 * (key % 32) + 8, tstate);
}

int py_target__tls_tstate(struct py_target *t, uint64_t tp, uint64_t *tstate)
{
	uint64_t dtv, block;

	switch (t->o.tls_kind) {
	case PY_TLS_FS_OFFSET:
		return py_read_u64(t, tp + t->o.tls_offset, tstate);
	case PY_TLS_DTV:
		if (py_read_u64(t, tp + TCB_DTV, &dtv) ||
		    py_read_u64(t, dtv + 16 * (uint64_t)t->o.tls_module, &block))
			return -EIO;
		/* a module whose block this thread has not allocated yet */
		if (!block || block == UINT64_MAX)
			return -ENOENT;
		return py_read_u64(t, block + t->o.tls_offset, tstate);
	default:
		return -ENOTSUP;
	}
}

static uint32_t field(const uint8_t *buf, uint32_t off, size_t size)
{
	uint32_t v = 0;

	memcpy(&v, buf + off, size);
	return v;
}

static uint64_t field64(const uint8_t *buf, uint32_t off)
{
	uint64_t v;

	memcpy(&v, buf + off, 8);
	return v;
}

int py_target__walk(struct py_target *t, uint64_t tstate, struct py_raw_frame *out, int max)
{
	const struct py_offsets *o = &t->o;
	uint32_t size = o->frame_code;
	uint8_t f[128];
	uint64_t frame;
	int n = 0;

	/* read no further than the fields: a frame may end its mapping */
	if (o->frame_previous > size)
		size = o->frame_previous;
	if (o->frame_instr > size)
		size = o->frame_instr;
	if (o->frame_is_entry != ABSENT && o->frame_is_entry > size)
		size = o->frame_is_entry;
	if (o->frame_owner != ABSENT && o->frame_owner > size)
		size = o->frame_owner;
	size += 8;
	if (size > sizeof(f))
		return -EINVAL;

	if (py_read_u64(t, tstate + o->tstate_frame, &frame))
		return -EIO;
	if (o->cframe_current_frame != ABSENT && frame &&
	    py_read_u64(t, frame + o->cframe_current_frame, &frame))
		return -EIO;
	for (int steps = 0; frame && n < max && steps < 4 * MAX_WALK; steps++) {
		if (py_mem_read(t, frame, f, size))
			return n ? n : -EIO;
		if (o->owner_cstack != ABSENT && field(f, o->frame_owner, 1) == o->owner_cstack) {
			/* the evaluation loop's shim: the frame before it was its entry */
			if (n)
				out[n - 1].entry = true;
		} else {
			out[n].code = field64(f, o->frame_code);
			out[n].instr = o->interp_frames ? field64(f, o->frame_instr) :
							  field(f, o->frame_instr, 4);
			out[n].entry = o->frame_is_entry != ABSENT && field(f, o->frame_is_entry, 1);
			n++;
		}
		frame = field64(f, o->frame_previous);
	}
	return n;
}

/* A str object as UTF-8: compact strings only, which code objects' names
 * and file names always are. */
static int read_str(struct py_target *t, uint64_t obj, char *out, size_t len)
{
	const struct py_offsets *o = &t->o;
	uint8_t hdr[64];
	uint32_t state, kind;
	uint64_t n, data;
	size_t used = 0;
	uint8_t buf[1024];

	out[0] = 0;
	if (py_mem_read(t, obj, hdr, o->unicode_state + 4))
		return -EIO;
	n = field64(hdr, o->unicode_length);
	state = field(hdr, o->unicode_state, 4);
	kind = (state >> 2) & 7;
	if (!(state & (1 << 5)) || (kind != 1 && kind != 2 && kind != 4))
		return -EINVAL;
	data = obj + ((state & (1 << 6)) ? o->unicode_ascii_data : o->unicode_compact_data);
	if (n > sizeof(buf) / kind)
		n = sizeof(buf) / kind;
	if (py_mem_read(t, data, buf, n * kind))
		return -EIO;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t c = kind == 1 ? buf[i] : kind == 2 ? field(buf, i * 2, 2) : field(buf, i * 4, 4);
		char enc[4];
		size_t el;

		if (c < 0x80) {
			enc[0] = c;
			el = 1;
		} else if (c < 0x800) {
			enc[0] = 0xc0 | c >> 6;
			enc[1] = 0x80 | (c & 63);
			el = 2;
		} else if (c < 0x10000) {
			enc[0] = 0xe0 | c >> 12;
			enc[1] = 0x80 | ((c >> 6) & 63);
			enc[2] = 0x80 | (c & 63);
			el = 3;
		} else {
			enc[0] = 0xf0 | c >> 18;
			enc[1] = 0x80 | ((c >> 12) & 63);
			enc[2] = 0x80 | ((c >> 6) & 63);
			enc[3] = 0x80 | (c & 63);
			el = 4;
		}
		if (used + el >= len)
			break;
		memcpy(out + used, enc, el);
		used += el;
	}
	out[used] = 0;
	return 0;
}

/* The fields of the code object at code that say which one it is. */
static int read_code_fields(struct py_target *t, uint64_t code, struct code_entry *c)
{
	const struct py_offsets *o = &t->o;
	uint8_t buf[256];
	uint32_t size = o->co_linetable + 8;

	if (o->co_qualname != ABSENT && o->co_qualname + 8 > size)
		size = o->co_qualname + 8;
	if (size > sizeof(buf) || py_mem_read(t, code, buf, size))
		return -EIO;
	c->type = field64(buf, 8);
	c->name = field64(buf, o->co_name);
	c->qualname = o->co_qualname != ABSENT ? field64(buf, o->co_qualname) : c->name;
	c->filename = field64(buf, o->co_filename);
	c->linetable = field64(buf, o->co_linetable);
	c->firstlineno = (int32_t)field(buf, o->co_firstlineno, 4);
	return c->type == o->code_type_addr ? 0 : -ESTALE;
}

static struct code_entry *load_code(struct py_target *t, uint64_t code,
				     const struct code_entry *now)
{
	const struct py_offsets *o = &t->o;
	struct code_entry *c = calloc(1, sizeof(*c));
	uint64_t len;

	if (!c)
		return NULL;
	*c = *now;
	if (read_str(t, c->qualname, c->qualname_s, sizeof(c->qualname_s)) ||
	    read_str(t, c->filename, c->filename_s, sizeof(c->filename_s)) ||
	    py_read_u64(t, c->linetable + o->bytes_size, &len) || len > MAX_LINETABLE ||
	    !(c->table = malloc(len ? len : 1)) ||
	    (len && py_mem_read(t, c->linetable + o->bytes_data, c->table, len))) {
		free(c->table);
		free(c);
		return NULL;
	}
	c->table_len = len;
	return c;
}

int py_target__symbolize(struct py_target *t, uint64_t code, uint64_t instr, struct py_symbol *out)
{
	const struct py_offsets *o = &t->o;
	struct lw_key key = { code, 0 };
	struct code_entry now, *c;
	int64_t addr;
	int err;

	err = read_code_fields(t, code, &now);
	if (err)
		return err;
	c = hashmap__get(t->codes, key);
	if (!c || c->type != now.type || c->name != now.name || c->qualname != now.qualname ||
	    c->filename != now.filename || c->linetable != now.linetable ||
	    c->firstlineno != now.firstlineno) {
		/* new, or the memory now holds another code object */
		struct code_entry *fresh = load_code(t, code, &now);

		if (!fresh)
			return -EIO;
		if (hashmap__set(t->codes, key, fresh)) {
			free(fresh->table);
			free(fresh);
			return -ENOMEM;
		}
		if (c) {
			free(c->table);
			free(c);
		}
		c = fresh;
	}
	if (o->interp_frames)
		addr = instr ? (int64_t)(instr - (code + o->co_code_adaptive)) : -1;
	else
		addr = (int64_t)(int32_t)instr * 2;
	snprintf(out->qualname, sizeof(out->qualname), "%s", c->qualname_s);
	snprintf(out->filename, sizeof(out->filename), "%s", c->filename_s);
	out->firstlineno = c->firstlineno;
	out->line = py_linetable_line(o->version_hex, c->table, c->table_len, c->firstlineno, addr);
	return 0;
}
