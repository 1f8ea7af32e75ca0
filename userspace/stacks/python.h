/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CPython targets seen from outside the process: which object holds the
 * interpreter, its version, where its structures are (the numbers a BPF
 * frame walker needs), and the names of its frames, read through
 * /proc/PID/mem. Supported: CPython 3.10 to 3.13 on x86-64 with glibc,
 * the interpreter in the executable or in a mapped libpython3.X.so.
 *
 * Offsets come from the target itself where it says them, and are checked
 * against the tables in python.c (from the CPython headers of each version):
 *   3.13: _Py_DebugOffsets, the start of _PyRuntime (cookie "xdebugpy");
 *   3.10-3.13: PyCode_Type.tp_members (co_* by name) and tp_basicsize
 *     (offsetof co_code_adaptive, 3.11+), PyUnicode_Type.tp_basicsize;
 *   3.11/3.12 frame and thread-state layouts: the tables, then checked by
 *     walking the live threads' frames (every code pointer must be a code
 *     object) when the target is opened.
 */
#ifndef LW_PYTHON_H
#define LW_PYTHON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* No such field in this version. */
#define PY_NO_OFFSET 0xffffffffu

/* How a thread's own PyThreadState is found through thread-local storage.
 * tp is the thread pointer: the fs base on x86-64, which glibc makes the
 * address of the thread's struct pthread (pthread_self()). */
enum py_tls_kind {
	PY_TLS_NONE = 0,
	/* *(tp + tls_offset) (tls_offset is negative: static TLS) */
	PY_TLS_FS_OFFSET = 1,
	/* dtv = *(tp + 8); block = *(dtv + 16 * tls_module); *(block + tls_offset) */
	PY_TLS_DTV = 2,
};

/*
 * Every number the BPF walker needs, as plain integers. Offsets are in bytes
 * from the start of the structure named; addresses are the target's.
 *
 * The walk (py_target__walk() is the reference implementation):
 *   tstate from the TSS slot (tss_slot_off + 16 * tss_key from tp), else
 *     tstate_current_addr (the GIL holder, 3.10/3.11);
 *   3.10:      f = *(tstate + tstate_frame): PyFrameObject, code at
 *              frame_code, lasti (int, code units) at frame_instr, next at
 *              frame_previous;
 *   3.11/3.12: f = *(*(tstate + tstate_frame) + cframe_current_frame);
 *   3.13:      f = *(tstate + tstate_frame);
 *   3.11+: _PyInterpreterFrame, code at frame_code, instruction pointer at
 *          frame_instr (3.11/3.12 prev_instr, 3.13 instr_ptr), next at
 *          frame_previous. 3.11: the byte at frame_is_entry set marks the
 *          first Python frame of a _PyEval_EvalFrameDefault call; 3.12+: a
 *          frame whose byte at frame_owner is owner_cstack is that call's
 *          shim: skip it (the frame after it is the entry).
 */
struct py_offsets {
	uint32_t version_hex;		/* PY_VERSION_HEX, e.g. 0x030b02f0 */
	uint32_t interp_frames;		/* 1: _PyInterpreterFrame (3.11+), 0: PyFrameObject */
	uint64_t runtime_addr;		/* _PyRuntime */
	uint64_t code_type_addr;	/* PyCode_Type: a code object's ob_type */

	/* finding the thread state */
	int32_t tss_key;		/* pthread key of _PyRuntime's autoTSSkey, -1 unknown */
	uint64_t tss_addr;		/* that Py_tss_t {int initialized; key}: a fork makes a new key */
	uint32_t tss_slot_off;		/* tp + this + 16 * key: the key's value (glibc, key < 32) */
	uint64_t tstate_current_addr;	/* &gilstate.tstate_current (3.10/3.11), else 0 */
	uint32_t tls_kind;		/* enum py_tls_kind: _Py_tss_tstate (3.12+) */
	uint32_t tls_module;		/* PY_TLS_DTV: module id */
	int64_t tls_offset;		/* see enum py_tls_kind */

	/* thread states (for listing them; the walker does not need these) */
	uint32_t runtime_interp_head;	/* _PyRuntime.interpreters.head */
	uint32_t interp_tstate_head;	/* PyInterpreterState.threads.head */
	uint32_t tstate_next;
	uint32_t tstate_thread_id;	/* pthread_t: the thread pointer */
	uint32_t tstate_native_id;	/* native_thread_id (3.11+) */
	uint32_t interp_gc;		/* PyInterpreterState.gc: struct _gc_runtime_state */

	/* thread state to frame */
	uint32_t tstate_frame;		/* frame (3.10), cframe (3.11/3.12), current_frame (3.13) */
	uint32_t cframe_current_frame;	/* 3.11/3.12 */

	/* frames */
	uint32_t frame_code;		/* f_code / f_executable */
	uint32_t frame_previous;	/* f_back / previous */
	uint32_t frame_instr;		/* f_lasti (int) / prev_instr / instr_ptr */
	uint32_t frame_is_entry;	/* 3.11 */
	uint32_t frame_owner;		/* 3.12+ (3.11 has it, without a C-stack owner) */
	uint32_t owner_cstack;		/* FRAME_OWNED_BY_CSTACK (3.12+), else PY_NO_OFFSET */

	/* code objects */
	uint32_t co_filename;
	uint32_t co_name;
	uint32_t co_qualname;		/* 3.11+ */
	uint32_t co_firstlineno;	/* int */
	uint32_t co_linetable;		/* bytes: lines (3.10), locations (3.11+) */
	uint32_t co_code_adaptive;	/* 3.11+: first instruction, inside the code object */

	/* pymalloc: the code of the default arena allocator (_PyObject_ArenaMmap),
	 * where its mmap calls return; 0: not found */
	uint64_t arena_alloc_start, arena_alloc_end;

	/* strings and bytes */
	uint32_t unicode_state;		/* the kind/compact/ascii bits */
	uint32_t unicode_length;
	uint32_t unicode_ascii_data;	/* sizeof(PyASCIIObject) */
	uint32_t unicode_compact_data;	/* sizeof(PyCompactUnicodeObject) */
	uint32_t bytes_size;		/* ob_size */
	uint32_t bytes_data;		/* ob_sval */
};

struct py_target;

/*
 * Finds the interpreter in pid and works out its offsets. 0 when supported;
 * -ENOENT: no CPython in the process; -EIO: a candidate for it (the
 * executable, a file named *python*) could not be read; -EAGAIN: an
 * interpreter not initialized yet (no thread state); -ENOTSUP: CPython of
 * a version this does not handle (why says "unsupported Python X.Y"), or
 * its offsets did not check out; other negative errno values for /proc
 * errors. why receives one line in every case.
 */
int py_target__open(pid_t pid, struct py_target **out, char *why, size_t why_len);
void py_target__close(struct py_target *t);
const struct py_offsets *py_target__offsets(const struct py_target *t);
/* The object holding the interpreter, as the target maps it. */
const char *py_target__module(const struct py_target *t);
/* What was derived from where and checked against what, one line each. */
const char *py_target__checks(const struct py_target *t);

struct lw_object;
/*
 * CPython's object allocator as probes (allocator.h): the functions its
 * object and memory domains' tables hold (PyObject_* and PyMem_* jump
 * through them; pymalloc's by default), read from the live tables, so
 * PYTHONMALLOC and debug hooks are followed. -ENOTSUP, with why, when a
 * table is not understood or points elsewhere, or when the build has
 * inlined copies of pymalloc at its call sites (profile-guided builds):
 * probes there would see only some objects, and arenas are counted
 * instead. 0 with o filled, and why saying how many functions.
 */
int py_target__allocator(struct py_target *t, struct lw_object *o, char *why, size_t len);
/* A probe on Py_RunMain (LW_FUNC_PYMAIN) in pid, before its interpreter is
 * up (a command or an exec held before it runs): into o, if an object that
 * may hold an interpreter defines it. 0, or -errno. */
int py_main_probe(pid_t pid, struct lw_object *o, char *why, size_t len);
/*
 * The garbage collector of pid's main interpreter: where its statistics
 * (gc.get_stats()) and its gc.garbage list are, checked by reading them,
 * and the probes that bracket each collection (LW_FUNC_GC_START and
 * LW_FUNC_GC_DONE at the USDT probes where the build has them, else
 * LW_FUNC_GC on the collector function), into o. 0; -ENOENT with o empty
 * when neither exists (the statistics are still found: *where is set);
 * -EAGAIN while the interpreter has not set its collector up; other
 * -errno, with why, when the statistics cannot be read.
 */
struct py_gc_where {
	uint64_t stats_addr;     /* struct gc_generation_stats[3] */
	uint64_t garbage_addr;   /* the gc.garbage pointer */
	uint64_t list_type_addr; /* PyList_Type: what gc.garbage must be */
	uint32_t list_size;      /* PyVarObject.ob_size */
	const char *hook;        /* "usdt", "function", or NULL: no pauses */
};
int py_target__gc(struct py_target *t, struct lw_object *o, struct py_gc_where *where, char *why,
		  size_t len);
/* Reads the statistics (9 values: per generation collections, collected,
 * uncollectable) and the length of gc.garbage (-1: unreadable). 0 or -errno. */
int py_target__gc_read(struct py_target *t, const struct py_gc_where *where, int64_t stats[9],
		       int64_t *garbage);

/* A probe on the interpreter's Py_FinalizeEx (LW_FUNC_FINALIZE), into o.
 * 0, or -errno with why. */
int py_target__finalize(struct py_target *t, struct lw_object *o, char *why, size_t len);

struct py_thread {
	uint64_t tstate;
	uint64_t thread_id;	/* pthread_self() of the thread: its thread pointer */
	int native_id;		/* 0 where the version does not record it */
};

/* The interpreter's thread states, main interpreter only; count or -errno. */
int py_target__threads(struct py_target *t, struct py_thread *out, int max);

/* The PyThreadState held in the autoTSSkey slot of the thread whose thread
 * pointer is tp, read as BPF would; 0 or -errno. */
int py_target__tss_tstate(struct py_target *t, uint64_t tp, uint64_t *tstate);
/* The thread's attached state (_Py_tss_tstate, 3.12+: NULL while the thread
 * does not hold the GIL); -ENOTSUP where there is none. */
int py_target__tls_tstate(struct py_target *t, uint64_t tp, uint64_t *tstate);

struct py_raw_frame {
	uint64_t code;		/* code object address */
	uint64_t instr;		/* what frame_instr holds (3.10: lasti) */
	bool entry;		/* first Python frame of an evaluation loop call */
};

/* Python frames of the thread state, innermost first: count or -errno. */
int py_target__walk(struct py_target *t, uint64_t tstate, struct py_raw_frame *out, int max);

struct py_symbol {
	char qualname[256];	/* co_qualname (3.10: co_name) */
	char filename[512];
	int line;		/* -1: the instruction has no line */
	int firstlineno;
};

/*
 * Names a frame from the code object at code and instr as frame_instr held
 * it. Names and line tables are cached per code object; a cached entry is
 * used only while the object's type and fields still read the same (freed
 * code objects' memory is reused). 0; -ESTALE: not a code object (any
 * more); -EIO: unreadable.
 */
int py_target__symbolize(struct py_target *t, uint64_t code, uint64_t instr, struct py_symbol *out);

/* ---- the parts without a process, exposed for tests ---- */

/* "3.11.2" (or "3.11.2+ (main, ...)") to 0x030b02f0-style hex (release
 * level final); 0 or -EINVAL. */
int py_version_parse(const char *s, uint32_t *hex);

/* The line of the instruction at byte offset addr of a code object whose
 * line table (co_linetable) is table, in the format of version_hex (3.10:
 * PEP 626 pairs; 3.11+: location entries). addr < 0 gives firstlineno;
 * -1: no line for that instruction or past the end. */
int py_linetable_line(uint32_t version_hex, const uint8_t *table, size_t len, int firstlineno,
		      int64_t addr);

/* Reads len bytes of the target at addr; 0 or -1. */
typedef int (*py_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

/* From the machine code of glibc's pthread_getspecific at addr: the offset
 * from the thread pointer of specific_1stblock[key].data is
 * *slot_off + 16 * key (keys < 32). 0 or -ENOENT. */
int py_tsd_slot_from_code(const uint8_t *code, size_t len, uint64_t addr, uint32_t *slot_off);

/* From the code of PyGILState_GetThisThreadState at addr: the address of
 * the pthread key of _PyRuntime's autoTSSkey (Py_tss_t._key), following
 * RIP-relative loads through read (GOT entries). 0 or -ENOENT. */
int py_tss_key_addr_from_code(const uint8_t *code, size_t len, uint64_t addr, py_read_fn read,
			      void *ctx, uint64_t *key_addr);

/* From the code of _PyThreadState_GetCurrent: how _Py_tss_tstate is
 * reached (enum py_tls_kind) and its numbers. 0 or -ENOENT. */
int py_tls_from_code(const uint8_t *code, size_t len, uint64_t addr, py_read_fn read, void *ctx,
		     uint32_t *kind, uint32_t *module, int64_t *offset);

#endif
