// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Each CPython version's layout, its version strings and line tables, and
 * the checks of a layout against the binary's own tables. */
#include <capstone/capstone.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "probes/insn.h"
#include "stacks/python_target.h"

/* Each supported version's layout (python_target.h says where it comes from). */
static const struct py_layout layouts[] = {
	{ 10, 584, 568, {
		.interp_frames = 0,
		.runtime_interp_head = 32, .interp_tstate_head = 8, .tstate_next = 8, .interp_gc = 616,
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
		.runtime_interp_head = 40, .interp_tstate_head = 16, .tstate_next = 8, .interp_gc = 648,
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
		.runtime_interp_head = 40, .interp_tstate_head = 72, .tstate_next = 8, .interp_gc = 112,
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
		.interp_gc = 7400,
		.tstate_thread_id = 152, .tstate_native_id = 160,
		.tstate_frame = 72, .cframe_current_frame = ABSENT,
		.frame_code = 0, .frame_previous = 8, .frame_instr = 56,
		.frame_is_entry = ABSENT, .frame_owner = 70, .owner_cstack = 3,
		.co_filename = 112, .co_name = 120, .co_qualname = 128, .co_firstlineno = 68,
		.co_linetable = 136, .co_code_adaptive = 200,
		.unicode_state = 32, .unicode_length = 16, .unicode_ascii_data = 40,
		.unicode_compact_data = 56, .bytes_size = 16, .bytes_data = 32 } },
};

const struct py_layout *py_layout_of(uint32_t version_hex)
{
	for (size_t k = 0; k < sizeof(layouts) / sizeof(layouts[0]); k++)
		if (version_hex >> 24 == 3 && ((version_hex >> 16) & 255) == layouts[k].minor)
			return &layouts[k];
	return NULL;
}

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

/* The version: Py_Version (3.11+), else a "3.X.Y" string Py_GetVersion
 * passes to snprintf, else the object's name. */
int py_find_version(struct py_target *t, const struct module *m, uint32_t *hex)
{
	uint8_t code[96];
	uint64_t addr;
	uint32_t v;
	cs_insn *insn;
	size_t count;
	const char *base;
	int err = -ENOENT;

	if (!py_module_object(m, "Py_Version", &addr) && !py_mem_read(t, addr, &v, 4) && v >> 24 == 3) {
		*hex = v;
		py_add_check(t, "version %u.%u.%u: Py_Version", v >> 24, (v >> 16) & 255, (v >> 8) & 255);
		return 0;
	}
	if (!py_module_func(m, "Py_GetVersion", &addr) && !py_mem_read(t, addr, code, sizeof(code)) &&
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
				if (!py_mem_read(t, s, str, sizeof(str) - 1) && str[0] == '3' &&
				    !py_version_parse(str, hex))
					err = 0;
			}
		}
		cs_free(insn, count);
		if (!err) {
			py_add_check(t, "version %u.%u.%u: Py_GetVersion's string", *hex >> 24,
				  (*hex >> 16) & 255, (*hex >> 8) & 255);
			return 0;
		}
	}
	base = strrchr(m->path, '/');
	base = base ? base + 1 : m->path;
	if ((base = strstr(base, "python")) && !py_version_parse(base + 6, hex)) {
		*hex &= 0xffff0000;
		py_add_check(t, "version %u.%u: the file name", *hex >> 24, (*hex >> 16) & 255);
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
	if (py_read_u64(t, type + TP_MEMBERS, &members) || !members)
		return -EIO;
	for (int i = 0; i < MAX_MEMBERS; i++) {
		char name[32] = "";

		if (py_mem_read(t, members + i * MEMBERDEF_SIZE, def, sizeof(def)) || !def[0])
			break;
		if (py_mem_read(t, def[0], name, sizeof(name) - 1))
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
		py_add_check(t, "%s: differs from the table, using the binary's:%s", source, diff);
	else
		py_add_check(t, "%s: %zu offsets, as the table%s", source, n - missing,
			  missing ? " (some not listed there: table values kept)" : "");
}

int py_check_members(struct py_target *t, const struct module *m)
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
		py_add_check(t, "PyCode_Type.tp_members: unreadable, table values used");
	} else {
		for (size_t k = 0; k < ncode; k++)
			if (code[k].found == ABSENT)
				return -ENOTSUP;
		offsets_from_binary(t, "PyCode_Type.tp_members", code, ncode);
	}
	/* 3.11+: the type's basic size is offsetof(PyCodeObject, co_code_adaptive) */
	if (o->co_code_adaptive != ABSENT && !py_read_u64(t, o->code_type_addr + TP_BASICSIZE, &basic)) {
		struct member adaptive[] = { { "co_code_adaptive", &o->co_code_adaptive, basic } };

		offsets_from_binary(t, "PyCode_Type.tp_basicsize", adaptive, 1);
	}
	/* PyUnicodeObject adds one data pointer to PyCompactUnicodeObject */
	if (!py_module_object(m, "PyUnicode_Type", &type) &&
	    !py_read_u64(t, type + TP_BASICSIZE, &basic)) {
		struct member compact[] = { { "compact data", &o->unicode_compact_data, basic - 8 } };

		offsets_from_binary(t, "PyUnicode_Type.tp_basicsize", compact, 1);
	}
	if (!o->interp_frames && !py_module_object(m, "PyFrame_Type", &type)) {
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
	DO_IS_THREADS_HEAD = 8, DO_IS_GC = 9,
	DO_TS_NEXT = 20, DO_TS_CURRENT_FRAME = 22, DO_TS_THREAD_ID = 23, DO_TS_NATIVE_ID = 24,
	DO_IF_PREVIOUS = 28, DO_IF_EXECUTABLE = 29, DO_IF_INSTR_PTR = 30, DO_IF_OWNER = 32,
	DO_CO_FILENAME = 34, DO_CO_NAME = 35, DO_CO_QUALNAME = 36, DO_CO_LINETABLE = 37,
	DO_CO_FIRSTLINENO = 38, DO_CO_ADAPTIVE = 42,
	DO_BYTES_OB_SIZE = 64, DO_BYTES_OB_SVAL = 65,
	DO_UNICODE_STATE = 67, DO_UNICODE_LENGTH = 68, DO_UNICODE_ASCII_SIZE = 69,
	DO_COUNT = 72,
};

int py_check_debug_offsets(struct py_target *t)
{
	struct py_offsets *o = &t->o;
	struct {
		char cookie[8];
		uint64_t v[DO_COUNT];
	} d;
	struct member m[] = {
		{ "interpreters_head", &o->runtime_interp_head, DO_RT_INTERP_HEAD },
		{ "threads_head", &o->interp_tstate_head, DO_IS_THREADS_HEAD },
		{ "gc", &o->interp_gc, DO_IS_GC },
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

	if (py_mem_read(t, o->runtime_addr, &d, sizeof(d)) || memcmp(d.cookie, "xdebugpy", 8)) {
		py_add_check(t, "_Py_DebugOffsets: no \"xdebugpy\" cookie at _PyRuntime");
		return -ENOTSUP;
	}
	if ((d.v[DO_VERSION] & 0xffff0000) != (o->version_hex & 0xffff0000)) {
		py_add_check(t, "_Py_DebugOffsets: version %#" PRIx64 ", not Py_Version's %#x",
			  d.v[DO_VERSION], o->version_hex);
		return -ENOTSUP;
	}
	if (d.v[DO_FREE_THREADED]) {
		py_add_check(t, "_Py_DebugOffsets: a free-threaded build");
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
