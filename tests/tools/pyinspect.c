// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What python.c finds in a live CPython process, as JSON on stdout, for
 * tests/integration/test_python_symbols.py:
 *   pyinspect PID info                     detection and offsets
 *   pyinspect PID sym CODE INSTR...        names of (code object, instr) pairs
 *   pyinspect PID tstate TP                the thread states the thread with
 *                                          thread pointer TP has, by TLS
 *   pyinspect PID walk TSTATE              the frames of a thread state, named
 *   pyinspect PID threads                  the interpreter's thread states
 * Exit status: 0, 2 no CPython, 3 unsupported, 1 other errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stacks/python.h"

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static uint64_t num(const char *s)
{
	return strtoull(s, NULL, 0);
}

#define OFF(f) printf(", \"" #f "\": %" PRId64, (int64_t)o->f)

static void info(struct py_target *t)
{
	const struct py_offsets *o = py_target__offsets(t);

	printf("{\"module\": ");
	json_str(py_target__module(t));
	printf(", \"checks\": ");
	json_str(py_target__checks(t));
	printf(", \"offsets\": {\"version_hex\": %u", o->version_hex);
	OFF(interp_frames); OFF(runtime_addr); OFF(code_type_addr); OFF(tss_key);
	OFF(tss_slot_off); OFF(tstate_current_addr); OFF(tls_kind); OFF(tls_module); OFF(tls_offset);
	OFF(runtime_interp_head); OFF(interp_tstate_head); OFF(tstate_next); OFF(tstate_thread_id);
	OFF(tstate_native_id); OFF(tstate_frame); OFF(cframe_current_frame); OFF(frame_code);
	OFF(frame_previous); OFF(frame_instr); OFF(frame_is_entry); OFF(frame_owner);
	OFF(owner_cstack); OFF(co_filename); OFF(co_name); OFF(co_qualname); OFF(co_firstlineno);
	OFF(co_linetable); OFF(co_code_adaptive); OFF(unicode_state); OFF(unicode_length);
	OFF(unicode_ascii_data); OFF(unicode_compact_data); OFF(bytes_size); OFF(bytes_data);
	printf("}}\n");
}

static void sym(struct py_target *t, uint64_t code, uint64_t instr)
{
	struct py_symbol s;
	int err = py_target__symbolize(t, code, instr, &s);

	if (err) {
		printf("{\"code\": %" PRIu64 ", \"error\": ", code);
		json_str(strerror(-err));
		printf("}");
		return;
	}
	printf("{\"code\": %" PRIu64 ", \"qualname\": ", code);
	json_str(s.qualname);
	printf(", \"filename\": ");
	json_str(s.filename);
	printf(", \"line\": %d, \"firstlineno\": %d}", s.line, s.firstlineno);
}

static int walk(struct py_target *t, uint64_t tstate)
{
	struct py_raw_frame f[256];
	int n = py_target__walk(t, tstate, f, 256);

	if (n < 0)
		return n;
	printf("[");
	for (int i = 0; i < n; i++) {
		printf("%s{\"entry\": %s, \"sym\": ", i ? ", " : "", f[i].entry ? "true" : "false");
		sym(t, f[i].code, f[i].instr);
		printf("}");
	}
	printf("]\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct py_target *t;
	char why[512];
	int err;

	if (argc < 3) {
		fprintf(stderr, "usage: pyinspect PID info|sym|tstate|walk|threads ...\n");
		return 1;
	}
	err = py_target__open(atoi(argv[1]), &t, why, sizeof(why));
	if (err) {
		printf("{\"error\": ");
		json_str(why);
		printf("}\n");
		return err == -ENOENT ? 2 : err == -ENOTSUP ? 3 : 1;
	}
	fprintf(stderr, "%s\n", why);
	if (!strcmp(argv[2], "info")) {
		info(t);
	} else if (!strcmp(argv[2], "sym")) {
		printf("[");
		for (int i = 3; i + 1 < argc; i += 2) {
			printf(i > 3 ? ", " : "");
			sym(t, num(argv[i]), num(argv[i + 1]));
		}
		printf("]\n");
	} else if (!strcmp(argv[2], "tstate") && argc > 3) {
		uint64_t tss = 0, tls = 0;
		int e1 = py_target__tss_tstate(t, num(argv[3]), &tss);
		int e2 = py_target__tls_tstate(t, num(argv[3]), &tls);

		printf("{\"tss\": %" PRIu64 ", \"tss_error\": %d, \"tls\": %" PRIu64
		       ", \"tls_error\": %d}\n", tss, e1, tls, e2);
	} else if (!strcmp(argv[2], "walk") && argc > 3) {
		err = walk(t, num(argv[3]));
	} else if (!strcmp(argv[2], "threads")) {
		struct py_thread th[64];
		int n = py_target__threads(t, th, 64);

		printf("[");
		for (int i = 0; i < n; i++)
			printf("%s{\"tstate\": %" PRIu64 ", \"thread_id\": %" PRIu64
			       ", \"native_id\": %d}", i ? ", " : "", th[i].tstate, th[i].thread_id,
			       th[i].native_id);
		printf("]\n");
		err = n < 0 ? n : 0;
	} else {
		fprintf(stderr, "pyinspect: unknown command %s\n", argv[2]);
		err = -EINVAL;
	}
	py_target__close(t);
	return err ? 1 : 0;
}
