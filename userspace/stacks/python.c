// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <capstone/capstone.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "probes/allocator.h"
#include "symbols/elf_symbols.h"
#include "common/hashmap.h"
#include "probes/insn.h"
#include "probes/x86_eval.h"
#include "targets/proc.h"
#include "stacks/python.h"

#define ABSENT PY_NO_OFFSET /* no such field in this version */
#define MAX_MEMBERS 64
#define MAX_LINETABLE (1 << 16)
#define MAX_WALK 256
/* glibc x86-64: the thread pointer's dtv at tcbhead_t + 8 */
#define TCB_DTV 8
/* Py_tss_t: int _is_initialized; pthread_key_t _key */
#define TSS_KEY_IN_TSS 4

/*
 * Each supported version's layout, from its CPython headers (offsetof on
 * 3.10.13, 3.11.7, 3.12.1, 3.13.0). The binary's own tables replace what
 * they cover and are compared with these. Columns beyond struct py_offsets:
 * where _PyRuntime keeps the autoTSSkey (a Py_tss_t) and the GIL holder.
 */
struct py_layout {
	uint32_t minor;
	uint32_t runtime_tss;
	uint32_t runtime_tstate_current;
	struct py_offsets o;
};

static const struct py_layout layouts[] = {
	{ 10, 584, 568, {
		.interp_frames = 0,
		.runtime_interp_head = 32, .interp_tstate_head = 8, .tstate_next = 8,
		.tstate_thread_id = 176, .tstate_native_id = ABSENT,
		.tstate_frame = 24, .cframe_current_frame = ABSENT,
		.frame_code = 32, .frame_previous = 24, .frame_instr = 96,
		.frame_is_entry = ABSENT, .frame_owner = ABSENT, .owner_cstack = ABSENT,
		.co_filename = 104, .co_name = 112, .co_qualname = ABSENT, .co_firstlineno = 40,
		.co_linetable = 120, .co_code_adaptive = ABSENT,
		.unicode_state = 32, .unicode_length = 16, .unicode_ascii_data = 48,
		.unicode_compact_data = 72, .bytes_size = 16, .bytes_data = 32 } },
	{ 11, 592, 576, {
		.interp_frames = 1,
		.runtime_interp_head = 40, .interp_tstate_head = 16, .tstate_next = 8,
		.tstate_thread_id = 152, .tstate_native_id = 160,
		.tstate_frame = 56, .cframe_current_frame = 8,
		.frame_code = 32, .frame_previous = 48, .frame_instr = 56,
		.frame_is_entry = 68, .frame_owner = 69, .owner_cstack = ABSENT,
		.co_filename = 112, .co_name = 120, .co_qualname = 128, .co_firstlineno = 72,
		.co_linetable = 136, .co_code_adaptive = 184,
		.unicode_state = 32, .unicode_length = 16, .unicode_ascii_data = 48,
		.unicode_compact_data = 72, .bytes_size = 16, .bytes_data = 32 } },
	{ 12, 1544, ABSENT, {
		.interp_frames = 1,
		.runtime_interp_head = 40, .interp_tstate_head = 72, .tstate_next = 8,
		.tstate_thread_id = 136, .tstate_native_id = 144,
		.tstate_frame = 56, .cframe_current_frame = 0,
		.frame_code = 0, .frame_previous = 8, .frame_instr = 56,
		.frame_is_entry = ABSENT, .frame_owner = 70, .owner_cstack = 3,
		.co_filename = 112, .co_name = 120, .co_qualname = 128, .co_firstlineno = 68,
		.co_linetable = 136, .co_code_adaptive = 192,
		.unicode_state = 32, .unicode_length = 16, .unicode_ascii_data = 40,
		.unicode_compact_data = 56, .bytes_size = 16, .bytes_data = 32 } },
	{ 13, 2160, ABSENT, {
		.interp_frames = 1,
		.runtime_interp_head = 632, .interp_tstate_head = 7344, .tstate_next = 8,
		.tstate_thread_id = 152, .tstate_native_id = 160,
		.tstate_frame = 72, .cframe_current_frame = ABSENT,
		.frame_code = 0, .frame_previous = 8, .frame_instr = 56,
		.frame_is_entry = ABSENT, .frame_owner = 70, .owner_cstack = 3,
		.co_filename = 112, .co_name = 120, .co_qualname = 128, .co_firstlineno = 68,
		.co_linetable = 136, .co_code_adaptive = 200,
		.unicode_state = 32, .unicode_length = 16, .unicode_ascii_data = 40,
		.unicode_compact_data = 56, .bytes_size = 16, .bytes_data = 32 } },
};

/* glibc 2.36 x86-64: specific_1stblock at 0x310 in struct pthread, data at +8 */
#define GLIBC_TSD_SLOT_FALLBACK 0x318

/* What a cached code object looked like, and its names and lines. */
struct code_entry {
	uint64_t type, name, qualname, filename, linetable;
	int32_t firstlineno;
	char qualname_s[256];
	char filename_s[512];
	uint8_t *table;
	size_t table_len;
};

struct py_target {
	pid_t pid;
	int mem;
	char module[PATH_MAX];
	struct py_offsets o;
	char *checks;
	size_t checks_len;
	struct hashmap *codes;
};

/* ---- version strings and line tables ---- */

int py_version_parse(const char *s, uint32_t *hex)
{
	unsigned int major, minor, micro = 0;
	int n = 0;

	if (sscanf(s, "%u.%u%n", &major, &minor, &n) < 2 || !n)
		return -EINVAL;
	if (s[n] == '.' && sscanf(s + n + 1, "%u", &micro) != 1)
		return -EINVAL;
	if (major > 255 || minor > 255 || micro > 255)
		return -EINVAL;
	*hex = major << 24 | minor << 16 | micro << 8 | 0xf0;
	return 0;
}

/* 3.10 (PEP 626): pairs of (bytes covered, signed line delta); -128 says
 * "no line"; ranges of length 0 only carry a line change. */
static int lines_310(const uint8_t *t, size_t len, int firstlineno, int64_t addr)
{
	int64_t start = 0, end;
	int line = firstlineno;

	for (size_t i = 0; i + 1 < len; i += 2) {
		int8_t ldelta = (int8_t)t[i + 1];

		end = start + t[i];
		if (ldelta != -128)
			line += ldelta;
		if (addr >= start && addr < end)
			return ldelta == -128 ? -1 : line;
		start = end;
	}
	return -1;
}

static int read_varint(const uint8_t *t, size_t len, size_t *i, uint32_t *out)
{
	uint32_t v = 0;
	int shift = 0;

	for (;;) {
		if (*i >= len || shift > 28)
			return -1;
		v |= (uint32_t)(t[*i] & 63) << shift;
		shift += 6;
		if (!(t[(*i)++] & 64))
			break;
	}
	*out = v;
	return 0;
}

/* 3.11+ locations (Objects/locations.md): an entry starts with a byte
 * 1CCCCLLL: code C, covering L+1 code units; the code says how the line
 * changes and which column bytes follow. */
static int locations_311(const uint8_t *t, size_t len, int firstlineno, int64_t addr)
{
	int64_t start = 0, end;
	int line = firstlineno;
	size_t i = 0;

	while (i < len) {
		uint8_t first = t[i++];
		int code = (first >> 3) & 15, result;
		uint32_t v, skip;

		if (!(first & 128))
			return -1;
		end = start + 2 * ((first & 7) + 1);
		switch (code) {
		case 15: /* no location */
			result = -1;
			break;
		case 14: /* long form: line delta, end line, column, end column */
		case 13: /* no columns: line delta only */
			if (read_varint(t, len, &i, &v))
				return -1;
			line += (v & 1) ? -(int)(v >> 1) : (int)(v >> 1);
			result = line;
			for (int k = 0; code == 14 && k < 3; k++)
				if (read_varint(t, len, &i, &skip))
					return -1;
			break;
		case 10: case 11: case 12: /* one line form: delta code - 10, two column bytes */
			line += code - 10;
			result = line;
			i += 2;
			break;
		default: /* short form: same line, one column byte */
			result = line;
			i += 1;
			break;
		}
		if (addr >= start && addr < end)
			return result;
		start = end;
	}
	return -1;
}

int py_linetable_line(uint32_t version_hex, const uint8_t *table, size_t len, int firstlineno,
		      int64_t addr)
{
	if (addr < 0)
		return firstlineno;
	if (version_hex < 0x030b0000)
		return lines_310(table, len, firstlineno, addr);
	return locations_311(table, len, firstlineno, addr);
}

/* ---- reading machine code (probes/x86_eval.h) ---- */

int py_tsd_slot_from_code(const uint8_t *code, size_t len, uint64_t addr, uint32_t *slot_off)
{
	struct eval e = { 0 };
	struct eval_result r;

	/* the key arrives in %edi */
	e.regs[X86_REG_RDI] = (struct sym_val){ .known = true, .key_coef = 1 };
	r = eval_until_stop(&e, code, len, addr);
	/* the first load through the key reads specific_1stblock[key].data */
	if (r.stop != STOP_LOAD || !r.addr.tp || r.addr.key_coef != 16 || r.addr.value <= 0 ||
	    r.addr.value > 0x4000)
		return -ENOENT;
	*slot_off = r.addr.value;
	return 0;
}

int py_tss_key_addr_from_code(const uint8_t *code, size_t len, uint64_t addr, py_read_fn read,
			      void *ctx, uint64_t *key_addr)
{
	struct eval e = { .read = read, .ctx = ctx };
	struct eval_result r = eval_until_stop(&e, code, len, addr);
	struct sym_val *rdi = &e.regs[X86_REG_RDI];

	if (r.stop != STOP_CALL)
		return -ENOENT;
	/* either the key itself was loaded into %edi (pthread_getspecific
	 * inlined) or %rdi points at the Py_tss_t (PyThread_tss_*) */
	if (rdi->loaded32) {
		*key_addr = rdi->load_addr;
		return 0;
	}
	if (rdi->known && !rdi->tp && !rdi->key_coef && rdi->value) {
		*key_addr = rdi->value + TSS_KEY_IN_TSS;
		return 0;
	}
	return -ENOENT;
}

int py_tls_from_code(const uint8_t *code, size_t len, uint64_t addr, py_read_fn read, void *ctx,
		     uint32_t *kind, uint32_t *module, int64_t *offset)
{
	struct eval e = { .read = read, .ctx = ctx };
	struct eval_result r = eval_until_stop(&e, code, len, addr);
	struct sym_val *rdi = &e.regs[X86_REG_RDI];
	uint64_t ti[2];

	if (r.stop == STOP_LOAD && r.addr.tp && !r.addr.key_coef) {
		/* local-exec (%fs:off) or initial-exec (GOT offset, then %fs:(reg)) */
		*kind = PY_TLS_FS_OFFSET;
		*module = 0;
		*offset = r.addr.value;
		return 0;
	}
	if (r.stop == STOP_CALL && r.tls_call && rdi->known && !rdi->tp && read &&
	    !read(ctx, rdi->value, ti, sizeof(ti)) && ti[0] && ti[0] < 1u << 16) {
		/* general dynamic: %rdi is a tls_index {module, offset} the
		 * dynamic linker filled in */
		*kind = PY_TLS_DTV;
		*module = ti[0];
		*offset = ti[1];
		return 0;
	}
	return -ENOENT;
}

/* ---- the target ---- */

static int mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct py_target *t = ctx;

	return pread(t->mem, buf, len, addr) == (ssize_t)len ? 0 : -1;
}

static int read_u64(struct py_target *t, uint64_t addr, uint64_t *v)
{
	return mem_read(t, addr, v, sizeof(*v)) ? -EIO : 0;
}

/* Adds a line to what the checks of t found (python.h: checks). */
static void add_check(struct py_target *t, const char *fmt, ...)
{
	va_list ap;
	char line[512];
	char *grown;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	grown = realloc(t->checks, t->checks_len + n + 2);
	if (!grown)
		return;
	t->checks = grown;
	memcpy(t->checks + t->checks_len, line, n);
	t->checks_len += n;
	t->checks[t->checks_len++] = '\n';
	t->checks[t->checks_len] = 0;
}

/* A mapped ELF object: symbols, and where its link-time addresses are. */
struct module {
	struct elf_symbols *es;
	int fd;
	uint64_t bias;
	char path[PATH_MAX];
};

static void module_close(struct module *m)
{
	elf_symbols__close(m->es);
	if (m->fd >= 0)
		close(m->fd);
	m->es = NULL;
	m->fd = -1;
}

/* Opens the file of the first mapping of maps->v[i]'s file. */
static int module_open(pid_t pid, const struct lw_maps *maps, size_t i, struct module *out)
{
	const struct lw_map *m = &maps->v[i];
	uint64_t vaddr;

	out->fd = proc__open_mapped(pid, m, NULL, 0);
	out->es = NULL;
	if (out->fd < 0)
		return out->fd;
	out->es = elf_symbols__open(out->fd);
	if (!out->es || elf_symbols__offset_to_vaddr(out->es, m->pgoff, &vaddr)) {
		module_close(out);
		return -ENOEXEC;
	}
	out->bias = m->start - (vaddr & ~0xfffULL);
	snprintf(out->path, sizeof(out->path), "%s", m->path);
	return 0;
}

static int module_object(const struct module *m, const char *name, uint64_t *addr)
{
	uint64_t v;

	if (elf_symbols__object_vaddr(m->es, name, &v))
		return -ENOENT;
	*addr = v + m->bias;
	return 0;
}

static int module_func(const struct module *m, const char *name, uint64_t *addr)
{
	uint64_t off, v;

	if (elf_symbols__func_offset(m->es, name, &off) || elf_symbols__offset_to_vaddr(m->es, off, &v))
		return -ENOENT;
	*addr = v + m->bias;
	return 0;
}

static bool is_first_of_file(const struct lw_maps *maps, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (maps->v[k].path && !strcmp(maps->v[k].path, maps->v[i].path))
			return false;
	return true;
}

/* Candidates for the interpreter: the executable, and objects whose name
 * says python (libpython3.X.so, an embedding's copy of it). */
static bool maybe_python(const struct lw_maps *maps, size_t i)
{
	const char *path = maps->v[i].path, *base;

	if (!path || !is_first_of_file(maps, i))
		return false;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return i == 0 || strstr(base, "python");
}

/* The version: Py_Version (3.11+), else a "3.X.Y" string Py_GetVersion
 * passes to snprintf, else the object's name. */
static int find_version(struct py_target *t, const struct module *m, uint32_t *hex)
{
	uint8_t code[96];
	uint64_t addr;
	uint32_t v;
	cs_insn *insn;
	size_t count;
	const char *base;
	int err = -ENOENT;

	if (!module_object(m, "Py_Version", &addr) && !mem_read(t, addr, &v, 4) && v >> 24 == 3) {
		*hex = v;
		add_check(t, "version %u.%u.%u: Py_Version", v >> 24, (v >> 16) & 255, (v >> 8) & 255);
		return 0;
	}
	if (!module_func(m, "Py_GetVersion", &addr) && !mem_read(t, addr, code, sizeof(code)) &&
	    insn_capstone() &&
	    (count = cs_disasm(insn_capstone(), code, sizeof(code), addr, 24, &insn))) {
		for (size_t i = 0; i < count && err; i++) {
			const cs_x86 *x = &insn[i].detail->x86;

			for (int k = 0; k < x->op_count && err; k++) {
				const cs_x86_op *op = &x->operands[k];
				uint64_t s;
				char str[16] = "";

				if (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP)
					s = insn[i].address + insn[i].size + op->mem.disp;
				else if (op->type == X86_OP_IMM)
					s = op->imm;
				else
					continue;
				if (!mem_read(t, s, str, sizeof(str) - 1) && str[0] == '3' &&
				    !py_version_parse(str, hex))
					err = 0;
			}
		}
		cs_free(insn, count);
		if (!err) {
			add_check(t, "version %u.%u.%u: Py_GetVersion's string", *hex >> 24,
				  (*hex >> 16) & 255, (*hex >> 8) & 255);
			return 0;
		}
	}
	base = strrchr(m->path, '/');
	base = base ? base + 1 : m->path;
	if ((base = strstr(base, "python")) && !py_version_parse(base + 6, hex)) {
		*hex &= 0xffff0000;
		add_check(t, "version %u.%u: the file name", *hex >> 24, (*hex >> 16) & 255);
		return 0;
	}
	return -ENOENT;
}

/* The offset of a named PyMemberDef in a type's tp_members, read from the
 * target. PyTypeObject: tp_basicsize at 32, tp_members at 240; a
 * PyMemberDef is {name, type, offset, flags, doc}, 40 bytes. */
#define TP_BASICSIZE 32
#define TP_MEMBERS 240
#define MEMBERDEF_SIZE 40
#define MEMBERDEF_OFFSET 16

struct member {
	const char *name;
	uint32_t *field;	/* in struct py_offsets */
	uint32_t found;
};

static int read_members(struct py_target *t, uint64_t type, struct member *want, size_t n)
{
	uint64_t members, def[MEMBERDEF_SIZE / 8];
	int matched = 0;

	for (size_t k = 0; k < n; k++)
		want[k].found = ABSENT;
	if (read_u64(t, type + TP_MEMBERS, &members) || !members)
		return -EIO;
	for (int i = 0; i < MAX_MEMBERS; i++) {
		char name[32] = "";

		if (mem_read(t, members + i * MEMBERDEF_SIZE, def, sizeof(def)) || !def[0])
			break;
		if (mem_read(t, def[0], name, sizeof(name) - 1))
			continue;
		for (size_t k = 0; k < n; k++)
			if (!strcmp(name, want[k].name) && want[k].found == ABSENT) {
				want[k].found = def[MEMBERDEF_OFFSET / 8];
				matched++;
			}
	}
	return matched;
}

/* Takes each member's offset from the binary; says whether it agreed with
 * the table. A member the binary lacks keeps the table's value. */
static void offsets_from_binary(struct py_target *t, const char *source, struct member *want,
				size_t n)
{
	char diff[256] = "";
	size_t used = 0;
	int missing = 0;

	for (size_t k = 0; k < n; k++) {
		if (want[k].found == ABSENT) {
			missing++;
			continue;
		}
		if (want[k].found != *want[k].field)
			used += snprintf(diff + used, used < sizeof(diff) ? sizeof(diff) - used : 0,
					 " %s %u (table %u)", want[k].name, want[k].found,
					 *want[k].field);
		*want[k].field = want[k].found;
	}
	if (used)
		add_check(t, "%s: differs from the table, using the binary's:%s", source, diff);
	else
		add_check(t, "%s: %zu offsets, as the table%s", source, n - missing,
			  missing ? " (some not listed there: table values kept)" : "");
}

static int check_members(struct py_target *t, const struct module *m)
{
	struct py_offsets *o = &t->o;
	struct member code[] = {
		{ "co_filename", &o->co_filename, 0 }, { "co_name", &o->co_name, 0 },
		{ "co_qualname", &o->co_qualname, 0 }, { "co_firstlineno", &o->co_firstlineno, 0 },
		{ "co_linetable", &o->co_linetable, 0 },
	};
	size_t ncode = o->co_qualname == ABSENT ? 4 : 5;
	uint64_t type, basic;

	/* co_qualname is last in the list: 3.10 has none */
	if (ncode == 4) {
		code[2] = code[3];
		code[3] = code[4];
	}
	if (read_members(t, o->code_type_addr, code, ncode) <= 0) {
		add_check(t, "PyCode_Type.tp_members: unreadable, table values used");
	} else {
		for (size_t k = 0; k < ncode; k++)
			if (code[k].found == ABSENT)
				return -ENOTSUP;
		offsets_from_binary(t, "PyCode_Type.tp_members", code, ncode);
	}
	/* 3.11+: the type's basic size is offsetof(PyCodeObject, co_code_adaptive) */
	if (o->co_code_adaptive != ABSENT && !read_u64(t, o->code_type_addr + TP_BASICSIZE, &basic)) {
		struct member adaptive[] = { { "co_code_adaptive", &o->co_code_adaptive, basic } };

		offsets_from_binary(t, "PyCode_Type.tp_basicsize", adaptive, 1);
	}
	/* PyUnicodeObject adds one data pointer to PyCompactUnicodeObject */
	if (!module_object(m, "PyUnicode_Type", &type) &&
	    !read_u64(t, type + TP_BASICSIZE, &basic)) {
		struct member compact[] = { { "compact data", &o->unicode_compact_data, basic - 8 } };

		offsets_from_binary(t, "PyUnicode_Type.tp_basicsize", compact, 1);
	}
	if (!o->interp_frames && !module_object(m, "PyFrame_Type", &type)) {
		struct member frame[] = {
			{ "f_back", &o->frame_previous, 0 }, { "f_code", &o->frame_code, 0 },
		};

		if (read_members(t, type, frame, 2) == 2)
			offsets_from_binary(t, "PyFrame_Type.tp_members", frame, 2);
	}
	return 0;
}

/* 3.13's _Py_DebugOffsets at the start of _PyRuntime: "xdebugpy", the
 * version, free_threaded, then sections of u64 offsets, each starting
 * with the structure's size. Indexes below count u64s after the cookie. */
enum {
	DO_VERSION = 0, DO_FREE_THREADED = 1,
	DO_RT_INTERP_HEAD = 4,
	DO_IS_THREADS_HEAD = 8,
	DO_TS_NEXT = 20, DO_TS_CURRENT_FRAME = 22, DO_TS_THREAD_ID = 23, DO_TS_NATIVE_ID = 24,
	DO_IF_PREVIOUS = 28, DO_IF_EXECUTABLE = 29, DO_IF_INSTR_PTR = 30, DO_IF_OWNER = 32,
	DO_CO_FILENAME = 34, DO_CO_NAME = 35, DO_CO_QUALNAME = 36, DO_CO_LINETABLE = 37,
	DO_CO_FIRSTLINENO = 38, DO_CO_ADAPTIVE = 42,
	DO_BYTES_OB_SIZE = 64, DO_BYTES_OB_SVAL = 65,
	DO_UNICODE_STATE = 67, DO_UNICODE_LENGTH = 68, DO_UNICODE_ASCII_SIZE = 69,
	DO_COUNT = 72,
};

static int check_debug_offsets(struct py_target *t)
{
	struct py_offsets *o = &t->o;
	struct {
		char cookie[8];
		uint64_t v[DO_COUNT];
	} d;
	struct member m[] = {
		{ "interpreters_head", &o->runtime_interp_head, DO_RT_INTERP_HEAD },
		{ "threads_head", &o->interp_tstate_head, DO_IS_THREADS_HEAD },
		{ "next", &o->tstate_next, DO_TS_NEXT },
		{ "current_frame", &o->tstate_frame, DO_TS_CURRENT_FRAME },
		{ "thread_id", &o->tstate_thread_id, DO_TS_THREAD_ID },
		{ "native_thread_id", &o->tstate_native_id, DO_TS_NATIVE_ID },
		{ "previous", &o->frame_previous, DO_IF_PREVIOUS },
		{ "f_executable", &o->frame_code, DO_IF_EXECUTABLE },
		{ "instr_ptr", &o->frame_instr, DO_IF_INSTR_PTR },
		{ "owner", &o->frame_owner, DO_IF_OWNER },
		{ "co_filename", &o->co_filename, DO_CO_FILENAME },
		{ "co_name", &o->co_name, DO_CO_NAME },
		{ "co_qualname", &o->co_qualname, DO_CO_QUALNAME },
		{ "co_linetable", &o->co_linetable, DO_CO_LINETABLE },
		{ "co_firstlineno", &o->co_firstlineno, DO_CO_FIRSTLINENO },
		{ "co_code_adaptive", &o->co_code_adaptive, DO_CO_ADAPTIVE },
		{ "bytes ob_size", &o->bytes_size, DO_BYTES_OB_SIZE },
		{ "bytes ob_sval", &o->bytes_data, DO_BYTES_OB_SVAL },
		{ "unicode state", &o->unicode_state, DO_UNICODE_STATE },
		{ "unicode length", &o->unicode_length, DO_UNICODE_LENGTH },
		{ "asciiobject_size", &o->unicode_ascii_data, DO_UNICODE_ASCII_SIZE },
	};
	size_t n = sizeof(m) / sizeof(m[0]);

	if (mem_read(t, o->runtime_addr, &d, sizeof(d)) || memcmp(d.cookie, "xdebugpy", 8)) {
		add_check(t, "_Py_DebugOffsets: no \"xdebugpy\" cookie at _PyRuntime");
		return -ENOTSUP;
	}
	if ((d.v[DO_VERSION] & 0xffff0000) != (o->version_hex & 0xffff0000)) {
		add_check(t, "_Py_DebugOffsets: version %#" PRIx64 ", not Py_Version's %#x",
			  d.v[DO_VERSION], o->version_hex);
		return -ENOTSUP;
	}
	if (d.v[DO_FREE_THREADED]) {
		add_check(t, "_Py_DebugOffsets: a free-threaded build");
		return -ENOTSUP;
	}
	for (size_t k = 0; k < n; k++) {
		uint64_t v = d.v[m[k].found];

		if (v > 1 << 16)
			return -ENOTSUP;
		m[k].found = v;
	}
	offsets_from_binary(t, "_Py_DebugOffsets", m, n);
	return 0;
}

/* glibc's TSD slot offset from pthread_getspecific's code in whichever
 * mapped object defines it. */
static void find_tsd_slot(struct py_target *t, const struct lw_maps *maps)
{
	uint8_t code[64];

	t->o.tss_slot_off = GLIBC_TSD_SLOT_FALLBACK;
	for (size_t i = 0; i < maps->n; i++) {
		const char *base = maps->v[i].path ? strrchr(maps->v[i].path, '/') : NULL;
		struct module m;
		uint64_t addr;
		uint32_t off;
		int err;

		/* glibc itself, or the executable if linked statically */
		if (!base || !is_first_of_file(maps, i) ||
		    (i && strncmp(base, "/libc.so", 8) && strncmp(base, "/libc-", 6)))
			continue;
		if (module_open(t->pid, maps, i, &m))
			continue;
		err = module_func(&m, "pthread_getspecific", &addr);
		module_close(&m);
		if (err || mem_read(t, addr, code, sizeof(code)))
			continue;
		if (py_tsd_slot_from_code(code, sizeof(code), addr, &off)) {
			add_check(t, "pthread_getspecific in %s: not understood, glibc 2.36's %#x assumed",
				  maps->v[i].path, GLIBC_TSD_SLOT_FALLBACK);
			return;
		}
		t->o.tss_slot_off = off;
		add_check(t, "TSD slot: thread pointer + %#x + 16 * key (pthread_getspecific in %s)", off,
			  maps->v[i].path);
		return;
	}
	add_check(t, "pthread_getspecific not found: glibc 2.36's TSD slot %#x assumed",
		  GLIBC_TSD_SLOT_FALLBACK);
}

/* The autoTSSkey's pthread key: from PyGILState_GetThisThreadState's code,
 * checked against the table's place in _PyRuntime; the key must be
 * initialized there. */
static void find_tss_key(struct py_target *t, const struct module *m, const struct py_layout *l)
{
	uint64_t addr, table = t->o.runtime_addr + l->runtime_tss + TSS_KEY_IN_TSS, key_addr = table;
	uint8_t code[96];
	int32_t tss[2];

	t->o.tss_key = -1;
	if (!module_func(m, "PyGILState_GetThisThreadState", &addr) &&
	    !mem_read(t, addr, code, sizeof(code)) &&
	    !py_tss_key_addr_from_code(code, sizeof(code), addr, mem_read, t, &key_addr)) {
		if (key_addr == table)
			add_check(t, "autoTSSkey at _PyRuntime+%u (PyGILState_GetThisThreadState), as the table",
				  l->runtime_tss);
		else
			add_check(t, "autoTSSkey: PyGILState_GetThisThreadState reads _PyRuntime%+" PRId64
				  ", table says +%u: using the code's", key_addr - TSS_KEY_IN_TSS -
				  t->o.runtime_addr, l->runtime_tss);
	} else {
		key_addr = table;
		add_check(t, "autoTSSkey: PyGILState_GetThisThreadState not understood, "
			  "table's _PyRuntime+%u used", l->runtime_tss);
	}
	t->o.tss_addr = key_addr - TSS_KEY_IN_TSS;
	if (mem_read(t, key_addr - TSS_KEY_IN_TSS, tss, sizeof(tss)) || tss[0] != 1) {
		add_check(t, "autoTSSkey: not initialized: no thread-local route to thread states");
		return;
	}
	t->o.tss_key = tss[1];
	add_check(t, "autoTSSkey: pthread key %d%s", tss[1],
		  tss[1] >= 32 ? " (32 or more: in glibc's second-level array)" : "");
}

static void find_tls(struct py_target *t, const struct module *m)
{
	uint8_t code[64];
	uint64_t addr;

	t->o.tls_kind = PY_TLS_NONE;
	if (t->o.version_hex < 0x030c0000)
		return;
	if (module_func(m, "_PyThreadState_GetCurrent", &addr) ||
	    mem_read(t, addr, code, sizeof(code)) ||
	    py_tls_from_code(code, sizeof(code), addr, mem_read, t, &t->o.tls_kind, &t->o.tls_module,
			     &t->o.tls_offset)) {
		add_check(t, "_Py_tss_tstate: _PyThreadState_GetCurrent not found or not understood");
		return;
	}
	if (t->o.tls_kind == PY_TLS_DTV)
		add_check(t, "_Py_tss_tstate: TLS module %u + %" PRId64 " (through the DTV)",
			  t->o.tls_module, t->o.tls_offset);
	else
		add_check(t, "_Py_tss_tstate: thread pointer %+" PRId64, t->o.tls_offset);
}

/* The address a memory operand names: rip-relative, or off a register whose
 * value was followed (regs, 0 when unknown); no index register. */
static bool mem_operand(const cs_insn *in, const cs_x86_op *op, const uint64_t *regs,
			uint64_t *where)
{
	if (op->mem.index != X86_REG_INVALID)
		return false;
	if (op->mem.base == X86_REG_RIP)
		*where = in->address + in->size + op->mem.disp;
	else if (op->mem.base != X86_REG_INVALID && regs[insn_full_reg(op->mem.base)])
		*where = regs[insn_full_reg(op->mem.base)] + op->mem.disp;
	else
		return false;
	return true;
}

/* pymalloc's arena allocator: PyObject_GetArenaAllocator copies the
 * PyObjectArenaAllocator {ctx, alloc, free} (a static, or in _PyRuntime
 * from 3.12, reached through the GOT in a shared libpython); the default
 * one has no ctx, and its alloc is _PyObject_ArenaMmap, which calls mmap.
 * Its code, up to its first ret, is where arena mmaps return to. */
static void find_arena(struct py_target *t, const struct module *m)
{
	uint64_t addr, regs[X86_REG_ENDING] = { 0 }, arena[3];
	uint8_t code[160];
	cs_insn *insn = NULL;
	csh cs = insn_capstone();
	size_t count;

	t->o.arena_alloc_start = t->o.arena_alloc_end = 0;
	if (!cs || module_func(m, "PyObject_GetArenaAllocator", &addr) ||
	    mem_read(t, addr, code, sizeof(code))) {
		add_check(t, "arenas: PyObject_GetArenaAllocator not found");
		return;
	}
	count = cs_disasm(cs, code, sizeof(code), addr, 48, &insn);
	for (size_t i = 0; i < count && !t->o.arena_alloc_start; i++) {
		const cs_x86 *x = &insn[i].detail->x86;
		const cs_x86_op *d = &x->operands[0], *src = &x->operands[1];
		uint64_t where, word;

		if (x->op_count != 2 || src->type != X86_OP_MEM || d->type != X86_OP_REG ||
		    !mem_operand(&insn[i], src, regs, &where))
			continue;
		if (src->size == 8 && insn[i].id == X86_INS_MOV && !read_u64(t, where, &word)) {
			regs[insn_full_reg(d->reg)] = word; /* a GOT entry, or a field */
			continue;
		}
		/* the 16-byte copy of {ctx, alloc} */
		if (src->size == 16 && !mem_read(t, where, arena, sizeof(arena)) && !arena[0] &&
		    arena[1] && arena[2] && arena[1] != arena[2])
			t->o.arena_alloc_start = arena[1];
	}
	if (insn)
		cs_free(insn, count);
	if (!t->o.arena_alloc_start || mem_read(t, t->o.arena_alloc_start, code, sizeof(code))) {
		t->o.arena_alloc_start = 0;
		add_check(t, "arenas: the arena allocator is not the default one, or was not understood");
		return;
	}
	count = cs_disasm(cs, code, sizeof(code), t->o.arena_alloc_start, 64, &insn);
	for (size_t i = 0; i < count; i++) {
		if (insn[i].id == X86_INS_RET) {
			t->o.arena_alloc_end = insn[i].address + insn[i].size;
			break;
		}
	}
	if (insn)
		cs_free(insn, count);
	if (!t->o.arena_alloc_end) {
		t->o.arena_alloc_start = 0;
		add_check(t, "arenas: the arena allocator's code was not understood");
		return;
	}
	add_check(t, "arenas: allocated by the code at %#" PRIx64 "-%#" PRIx64, t->o.arena_alloc_start,
		  t->o.arena_alloc_end);
}

/* ---- the object allocator ---- */

/* Whether addr is code of the object that holds the interpreter. */
static const struct lw_map *module_code(const struct py_target *t, const struct lw_maps *maps,
					uint64_t addr)
{
	const struct lw_map *m = maps__find(maps, addr);

	return m && m->exec && m->path && !strcmp(m->path, t->module) ? m : NULL;
}

/*
 * The slot of an allocator table that a thin entry point jumps through:
 * PyObject_Malloc is "ctx = table.ctx; jump to table.malloc" (the table a
 * static, or in _PyRuntime from 3.12, reached through the GOT). The slot is
 * the first word the code reads that holds code of the interpreter's
 * object; the table starts 8 bytes before it. 0 when not found.
 */
static uint64_t jump_slot(struct py_target *t, const struct lw_maps *maps, uint64_t addr)
{
	uint64_t regs[X86_REG_ENDING] = { 0 }, slot = 0;
	uint8_t code[96];
	cs_insn *insn = NULL;
	csh cs = insn_capstone();
	size_t count;

	if (!cs || mem_read(t, addr, code, sizeof(code)))
		return 0;
	count = cs_disasm(cs, code, sizeof(code), addr, 24, &insn);
	for (size_t i = 0; i < count && !slot; i++) {
		const cs_x86 *x = &insn[i].detail->x86;
		uint64_t where, word;

		if (insn[i].id == X86_INS_RET)
			break;
		for (int k = 0; k < x->op_count && !slot; k++) {
			const cs_x86_op *op = &x->operands[k];

			if (op->type != X86_OP_MEM || op->size != 8 ||
			    !mem_operand(&insn[i], op, regs, &where) || read_u64(t, where, &word))
				continue;
			if (module_code(t, maps, word))
				slot = where;
			else if (insn[i].id == X86_INS_MOV && x->op_count == 2 && k == 1 &&
				 x->operands[0].type == X86_OP_REG)
				regs[insn_full_reg(x->operands[0].reg)] = word; /* a GOT entry */
		}
	}
	if (insn)
		cs_free(insn, count);
	return slot;
}

/*
 * Call sites that compare a function pointer with pymalloc's malloc and run
 * an inlined copy of it when equal: what profile-guided builds make of the
 * hot indirect calls (Debian's python3.11 has 191). Allocations there
 * never reach the function, so probing it would miss most objects. Counted
 * over the object's code: "cmp $malloc, reg", or a cmp of a register that
 * "lea malloc(%rip)" set in the same block. A build without them still
 * compares a few times, to ask whether pymalloc is in use
 * (_PyObject_DebugMallocStats: 2 in pyenv's 3.11): INLINED_SITES_MAX.
 */
#define INLINED_SITES_MAX 8

static long inlined_sites(struct py_target *t, const struct lw_maps *maps, uint64_t malloc_addr)
{
	csh cs = insn_capstone();
	cs_insn *insn;
	long sites = 0;

	if (!cs || !(insn = cs_malloc(cs)))
		return -1;
	for (size_t i = 0; i < maps->n && sites >= 0; i++) {
		const struct lw_map *m = &maps->v[i];
		uint64_t lea[X86_REG_ENDING] = { 0 }, addr = m->start;
		size_t size = m->end - m->start;
		const uint8_t *code;
		uint8_t *buf;

		if (!m->exec || !m->path || strcmp(m->path, t->module) || size > (256u << 20))
			continue;
		buf = malloc(size);
		if (!buf || mem_read(t, m->start, buf, size)) {
			free(buf);
			sites = -1;
			break;
		}
		code = buf;
		while (size) {
			const cs_x86 *x;

			if (!cs_disasm_iter(cs, &code, &size, &addr, insn)) {
				code++, size--, addr++; /* data between functions */
				continue;
			}
			x = &insn->detail->x86;
			if (insn->id == X86_INS_LEA && x->operands[1].mem.base == X86_REG_RIP) {
				lea[insn_full_reg(x->operands[0].reg)] =
					insn->address + insn->size + x->operands[1].mem.disp;
				continue;
			}
			if (insn->id == X86_INS_CMP) {
				for (int k = 0; k < x->op_count; k++) {
					const cs_x86_op *op = &x->operands[k];

					if ((op->type == X86_OP_IMM && (uint64_t)op->imm == malloc_addr) ||
					    (op->type == X86_OP_REG && lea[insn_full_reg(op->reg)] == malloc_addr)) {
						sites++;
						break;
					}
				}
				continue;
			}
			if (cs_insn_group(cs, insn, CS_GRP_JUMP) || cs_insn_group(cs, insn, CS_GRP_CALL) ||
			    cs_insn_group(cs, insn, CS_GRP_RET))
				memset(lea, 0, sizeof(lea));
		}
		free(buf);
	}
	cs_free(insn, 1);
	return sites;
}

/* A probe on the interpreter's function at addr, taking nargs arguments,
 * as the tracer wants it. */
static struct lw_probe *add_probe(struct py_target *t, const struct lw_maps *maps,
				  struct lw_object *o, enum lw_func func, uint64_t addr,
				  unsigned int nargs, const char *what)
{
	const struct lw_map *m = module_code(t, maps, addr);
	struct lw_probe *p;
	uint8_t code[512]; /* an early return's ret may be some way in */
	size_t at, len = sizeof(code);

	if (!m)
		return NULL;
	for (int i = 0; i < o->nr_probes; i++)
		if (o->probes[i].entry_offset == addr - m->start + m->pgoff)
			return NULL; /* both tables hold it */
	while (len >= 64 && mem_read(t, addr, code, len))
		len /= 2; /* near the end of the mapping */
	if (o->nr_probes == LW_MAX_PROBES || len < 64)
		return NULL;
	p = &o->probes[o->nr_probes++];
	memset(p, 0, sizeof(*p));
	p->func = func;
	p->symbol = what;
	p->entry_offset = addr - m->start + m->pgoff;
	at = insn_probe_point(code, len, nargs, p->placement, sizeof(p->placement));
	p->offset = p->entry_offset + at;
	p->single_step = !insn_emulated(code + at, len - at, p->first_insn,
					 sizeof(p->first_insn));
	return p;
}

/* An object to probe in the interpreter's file: o named, m opened. */
static int probe_object(struct py_target *t, const struct lw_maps *maps, struct module *m,
			struct lw_object *o, char *why, size_t len)
{
	int err = -ENOENT;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < maps->n; i++)
		if (maps->v[i].path && !strcmp(maps->v[i].path, t->module)) {
			err = module_open(t->pid, maps, i, m);
			if (!err) {
				snprintf(o->module, sizeof(o->module), "%s", t->module);
				proc__mapped_path(t->pid, &maps->v[i], o->attach_path,
						  sizeof(o->attach_path));
			}
			break;
		}
	if (err)
		snprintf(why, len, "cannot read %s: %s", t->module, strerror(-err));
	return err;
}

int py_main_probe(pid_t pid, struct lw_object *o, char *why, size_t len)
{
	struct py_target t = { .pid = pid, .mem = -1 };
	struct module m = { .fd = -1 };
	struct lw_probe *p = NULL;
	struct lw_maps maps;
	uint64_t addr = 0;
	char path[64];
	int err;

	snprintf(why, len, "no Py_RunMain");
	err = maps__read(pid, &maps);
	if (err)
		return err;
	/* the object that defines it, among the candidates for an interpreter */
	for (size_t i = 0; i < maps.n && !addr; i++) {
		if (!maybe_python(&maps, i) || module_open(pid, &maps, i, &m))
			continue;
		if (module_func(&m, "Py_RunMain", &addr))
			addr = 0;
		else
			snprintf(t.module, sizeof(t.module), "%s", maps.v[i].path);
		module_close(&m);
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	if (addr && (t.mem = open(path, O_RDONLY | O_CLOEXEC)) >= 0 &&
	    !probe_object(&t, &maps, &m, o, why, len) &&
	    (p = add_probe(&t, &maps, o, LW_FUNC_PYMAIN, addr, 0, "Py_RunMain")))
		snprintf(p->chosen, sizeof(p->chosen), "the interpreter's start");
	module_close(&m);
	if (t.mem >= 0)
		close(t.mem);
	maps__free(&maps);
	return p ? 0 : -ENOENT;
}

int py_target__finalize(struct py_target *t, struct lw_object *o, char *why, size_t len)
{
	struct module m = { .fd = -1 };
	struct lw_probe *p = NULL;
	struct lw_maps maps;
	uint64_t addr;
	int err;

	err = maps__read(t->pid, &maps);
	if (err) {
		snprintf(why, len, "cannot read /proc/%d/maps: %s", t->pid, strerror(-err));
		return err;
	}
	err = probe_object(t, &maps, &m, o, why, len);
	if (!err && (module_func(&m, "Py_FinalizeEx", &addr) ||
		     !(p = add_probe(t, &maps, o, LW_FUNC_FINALIZE, addr, 1, "Py_FinalizeEx")))) {
		snprintf(why, len, "%s: Py_FinalizeEx not found", t->module);
		err = -ENOENT;
	}
	if (p)
		snprintf(p->chosen, sizeof(p->chosen), "the interpreter's finalization");
	module_close(&m);
	maps__free(&maps);
	return err;
}

int py_target__allocator(struct py_target *t, struct lw_object *o, char *why, size_t len)
{
	/* the two tables' entry points: the object domain (PyObject_*) and
	 * the memory domain (PyMem_*), which share pymalloc by default */
	static const struct {
		const char *entry, *names[4];
	} domains[] = {
		{ "PyObject_Malloc", { "PyObject_Malloc's malloc", "PyObject_Calloc's calloc",
				       "PyObject_Realloc's realloc", "PyObject_Free's free" } },
		{ "PyMem_Malloc", { "PyMem_Malloc's malloc", "PyMem_Calloc's calloc",
				    "PyMem_Realloc's realloc", "PyMem_Free's free" } },
	};
	static const enum lw_func funcs[4] = { LW_FUNC_MALLOC, LW_FUNC_CALLOC, LW_FUNC_REALLOC,
					       LW_FUNC_FREE };
	struct module m = { .fd = -1 };
	uint64_t table[2][5], entry, slot;
	struct lw_maps maps;
	long sites;
	int err;

	err = maps__read(t->pid, &maps);
	if (err) {
		memset(o, 0, sizeof(*o));
		snprintf(why, len, "cannot read /proc/%d/maps: %s", t->pid, strerror(-err));
		return err;
	}
	err = probe_object(t, &maps, &m, o, why, len);
	if (err)
		goto out;
	for (int d = 0; d < 2; d++) {
		if (module_func(&m, domains[d].entry, &entry) ||
		    !(slot = jump_slot(t, &maps, entry)) ||
		    mem_read(t, slot - 8, table[d], sizeof(table[d]))) {
			snprintf(why, len, "%s: %s's allocator table not found", t->module,
				 domains[d].entry);
			err = -ENOTSUP;
			goto out;
		}
		for (int f = 0; f < 4; f++) {
			if (!module_code(t, &maps, table[d][f + 1])) {
				snprintf(why, len, "%s: %s's allocator is not the interpreter's own",
					 t->module, domains[d].entry);
				err = -ENOTSUP;
				goto out;
			}
		}
	}
	sites = inlined_sites(t, &maps, table[0][1]);
	if (sites < 0 || sites > INLINED_SITES_MAX) {
		snprintf(why, len, sites < 0 ? "%s: its code could not be read" :
			 "%s: its object allocator is inlined at %ld call sites (a profile-guided "
			 "build): objects are not all seen at its functions", t->module, sites);
		err = -ENOTSUP;
		goto out;
	}
	for (int d = 0; d < 2; d++) {
		for (int f = 0; f < 4; f++) {
			/* (ctx, ptr) or (ctx, size); (ctx, n, size) or (ctx, ptr, size) */
			unsigned int nargs = funcs[f] == LW_FUNC_CALLOC ||
					     funcs[f] == LW_FUNC_REALLOC ? 3 : 2;
			struct lw_probe *p = add_probe(t, &maps, o, funcs[f], table[d][f + 1], nargs,
						       domains[d].names[f]);

			if (p) {
				p->pymalloc = true;
				snprintf(p->chosen, sizeof(p->chosen),
					 "the interpreter's allocator table");
			}
		}
	}
	snprintf(why, len, "%s: objects counted at its allocator's %d functions", t->module,
		 o->nr_probes);
	err = 0;
out:
	module_close(&m);
	maps__free(&maps);
	return err;
}

static int read_tstates(struct py_target *t, struct py_thread *out, int max)
{
	const struct py_offsets *o = &t->o;
	uint64_t interp, ts;
	int n = 0;

	if (read_u64(t, o->runtime_addr + o->runtime_interp_head, &interp) || !interp ||
	    read_u64(t, interp + o->interp_tstate_head, &ts))
		return -EIO;
	while (ts && n < max) {
		uint64_t tid = 0, native = 0;

		out[n].tstate = ts;
		if (read_u64(t, ts + o->tstate_thread_id, &tid) ||
		    (o->tstate_native_id != ABSENT && mem_read(t, ts + o->tstate_native_id, &native, 4)))
			return -EIO;
		out[n].thread_id = tid;
		out[n].native_id = (int)native;
		n++;
		if (read_u64(t, ts + o->tstate_next, &ts))
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

	return obj && !read_u64(t, obj + 8, &type) && type == t->o.code_type_addr;
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
			add_check(t, "frame walk: %d thread state(s), no live frames to check", nt);
			return 0;
		}
		if (!bad) {
			add_check(t, "frame walk: %d thread state(s), %d frame(s), every one a code object",
				  nt, checked);
			return 0;
		}
	}
	if (!states) {
		/* no interpreter or thread state yet: it is starting up */
		add_check(t, "frame walk: no thread state yet");
		return -EAGAIN;
	}
	add_check(t, "frame walk: frames that are not code objects: the frame offsets are wrong");
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

		if (!maybe_python(maps, i))
			continue;
		oerr = module_open(t->pid, maps, i, &m);
		if (oerr) {
			/* a libpython that cannot be read must not pass for no
			 * interpreter: say which, and why */
			if (oerr != -ENOEXEC && !unread[0])
				snprintf(unread, sizeof(unread), "%s: %s", maps->v[i].path,
					 strerror(-oerr));
			continue;
		}
		if (!module_object(&m, "_PyRuntime", &t->o.runtime_addr))
			err = 0;
		else
			module_close(&m);
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
	if (find_version(t, &m, &hex)) {
		snprintf(why, len, "unsupported Python (version unknown) in %s", m.path);
		err = -ENOTSUP;
		goto out;
	}
	for (size_t k = 0; k < sizeof(layouts) / sizeof(layouts[0]); k++)
		if (hex >> 24 == 3 && ((hex >> 16) & 255) == layouts[k].minor)
			l = &layouts[k];
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
	if (module_object(&m, "PyCode_Type", &t->o.code_type_addr)) {
		snprintf(why, len, "Python %u.%u in %s: no PyCode_Type symbol", hex >> 24,
			 (hex >> 16) & 255, m.path);
		err = -ENOTSUP;
		goto out;
	}
	if ((l->minor >= 13 && check_debug_offsets(t)) || check_members(t, &m)) {
		snprintf(why, len, "Python %u.%u in %s: its structures do not match what this knows",
			 hex >> 24, (hex >> 16) & 255, m.path);
		err = -ENOTSUP;
		goto out;
	}
	find_tss_key(t, &m, l);
	find_tls(t, &m);
	find_tsd_slot(t, maps);
	find_arena(t, &m);
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
	module_close(&m);
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
		return read_u64(t, tp + t->o.tss_slot_off + 16 * key, tstate);
	/* glibc's second level (bpf/python.bpf.h does the same) */
	if (read_u64(t, tp + t->o.tss_slot_off - 8 + 32 * 16 + 8 * (key / 32), &level2))
		return -EIO;
	if (!level2) {
		*tstate = 0;
		return 0;
	}
	return read_u64(t, level2 + 16 * (key % 32) + 8, tstate);
}

int py_target__tls_tstate(struct py_target *t, uint64_t tp, uint64_t *tstate)
{
	uint64_t dtv, block;

	switch (t->o.tls_kind) {
	case PY_TLS_FS_OFFSET:
		return read_u64(t, tp + t->o.tls_offset, tstate);
	case PY_TLS_DTV:
		if (read_u64(t, tp + TCB_DTV, &dtv) || read_u64(t, dtv + 16 * (uint64_t)t->o.tls_module, &block))
			return -EIO;
		/* a module whose block this thread has not allocated yet */
		if (!block || block == UINT64_MAX)
			return -ENOENT;
		return read_u64(t, block + t->o.tls_offset, tstate);
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

	if (read_u64(t, tstate + o->tstate_frame, &frame))
		return -EIO;
	if (o->cframe_current_frame != ABSENT && frame &&
	    read_u64(t, frame + o->cframe_current_frame, &frame))
		return -EIO;
	for (int steps = 0; frame && n < max && steps < 4 * MAX_WALK; steps++) {
		if (mem_read(t, frame, f, size))
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
	if (mem_read(t, obj, hdr, o->unicode_state + 4))
		return -EIO;
	n = field64(hdr, o->unicode_length);
	state = field(hdr, o->unicode_state, 4);
	kind = (state >> 2) & 7;
	if (!(state & (1 << 5)) || (kind != 1 && kind != 2 && kind != 4))
		return -EINVAL;
	data = obj + ((state & (1 << 6)) ? o->unicode_ascii_data : o->unicode_compact_data);
	if (n > sizeof(buf) / kind)
		n = sizeof(buf) / kind;
	if (mem_read(t, data, buf, n * kind))
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
	if (size > sizeof(buf) || mem_read(t, code, buf, size))
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
	    read_u64(t, c->linetable + o->bytes_size, &len) || len > MAX_LINETABLE ||
	    !(c->table = malloc(len ? len : 1)) ||
	    (len && mem_read(t, c->linetable + o->bytes_data, c->table, len))) {
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
