// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Where the interpreter keeps what the walker needs (the TSD slot, the
 * autoTSSkey, the TLS thread state, pymalloc's arenas), and which of its
 * functions leakwatch probes (Py_RunMain, Py_FinalizeEx, the object
 * allocator). */
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
#include "probes/x86_eval.h"
#include "stacks/python_target.h"

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

/* glibc's TSD slot offset from pthread_getspecific's code in whichever
 * mapped object defines it. */
void py_find_tsd_slot(struct py_target *t, const struct lw_maps *maps)
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
		if (!base || !py_is_first_of_file(maps, i) ||
		    (i && strncmp(base, "/libc.so", 8) && strncmp(base, "/libc-", 6)))
			continue;
		if (py_module_open(t->pid, maps, i, &m))
			continue;
		err = py_module_func(&m, "pthread_getspecific", &addr);
		py_module_close(&m);
		if (err || py_mem_read(t, addr, code, sizeof(code)))
			continue;
		if (py_tsd_slot_from_code(code, sizeof(code), addr, &off)) {
			py_add_check(t, "pthread_getspecific in %s: not understood, glibc 2.36's %#x assumed",
				  maps->v[i].path, GLIBC_TSD_SLOT_FALLBACK);
			return;
		}
		t->o.tss_slot_off = off;
		py_add_check(t, "TSD slot: thread pointer + %#x + 16 * key (pthread_getspecific in %s)", off,
			  maps->v[i].path);
		return;
	}
	py_add_check(t, "pthread_getspecific not found: glibc 2.36's TSD slot %#x assumed",
		  GLIBC_TSD_SLOT_FALLBACK);
}

/* The autoTSSkey's pthread key: from PyGILState_GetThisThreadState's code,
 * checked against the table's place in _PyRuntime; the key must be
 * initialized there. */
void py_find_tss_key(struct py_target *t, const struct module *m, const struct py_layout *l)
{
	uint64_t addr, table = t->o.runtime_addr + l->runtime_tss + TSS_KEY_IN_TSS, key_addr = table;
	uint8_t code[96];
	int32_t tss[2];

	t->o.tss_key = -1;
	if (!py_module_func(m, "PyGILState_GetThisThreadState", &addr) &&
	    !py_mem_read(t, addr, code, sizeof(code)) &&
	    !py_tss_key_addr_from_code(code, sizeof(code), addr, py_mem_read, t, &key_addr)) {
		if (key_addr == table)
			py_add_check(t, "autoTSSkey at _PyRuntime+%u (PyGILState_GetThisThreadState), as the table",
				  l->runtime_tss);
		else
			py_add_check(t, "autoTSSkey: PyGILState_GetThisThreadState reads _PyRuntime%+" PRId64
				  ", table says +%u: using the code's", key_addr - TSS_KEY_IN_TSS -
				  t->o.runtime_addr, l->runtime_tss);
	} else {
		key_addr = table;
		py_add_check(t, "autoTSSkey: PyGILState_GetThisThreadState not understood, "
			  "table's _PyRuntime+%u used", l->runtime_tss);
	}
	t->o.tss_addr = key_addr - TSS_KEY_IN_TSS;
	if (py_mem_read(t, key_addr - TSS_KEY_IN_TSS, tss, sizeof(tss)) || tss[0] != 1) {
		py_add_check(t, "autoTSSkey: not initialized: no thread-local route to thread states");
		return;
	}
	t->o.tss_key = tss[1];
	py_add_check(t, "autoTSSkey: pthread key %d%s", tss[1],
		  tss[1] >= 32 ? " (32 or more: in glibc's second-level array)" : "");
}

void py_find_tls(struct py_target *t, const struct module *m)
{
	uint8_t code[64];
	uint64_t addr;

	t->o.tls_kind = PY_TLS_NONE;
	if (t->o.version_hex < 0x030c0000)
		return;
	if (py_module_func(m, "_PyThreadState_GetCurrent", &addr) ||
	    py_mem_read(t, addr, code, sizeof(code)) ||
	    py_tls_from_code(code, sizeof(code), addr, py_mem_read, t, &t->o.tls_kind, &t->o.tls_module,
			     &t->o.tls_offset)) {
		py_add_check(t, "_Py_tss_tstate: _PyThreadState_GetCurrent not found or not understood");
		return;
	}
	if (t->o.tls_kind == PY_TLS_DTV)
		py_add_check(t, "_Py_tss_tstate: TLS module %u + %" PRId64 " (through the DTV)",
			  t->o.tls_module, t->o.tls_offset);
	else
		py_add_check(t, "_Py_tss_tstate: thread pointer %+" PRId64, t->o.tls_offset);
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
void py_find_arena(struct py_target *t, const struct module *m)
{
	uint64_t addr, regs[X86_REG_ENDING] = { 0 }, arena[3];
	uint8_t code[160];
	cs_insn *insn = NULL;
	csh cs = insn_capstone();
	size_t count;

	t->o.arena_alloc_start = t->o.arena_alloc_end = 0;
	if (!cs || py_module_func(m, "PyObject_GetArenaAllocator", &addr) ||
	    py_mem_read(t, addr, code, sizeof(code))) {
		py_add_check(t, "arenas: PyObject_GetArenaAllocator not found");
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
		if (src->size == 8 && insn[i].id == X86_INS_MOV && !py_read_u64(t, where, &word)) {
			regs[insn_full_reg(d->reg)] = word; /* a GOT entry, or a field */
			continue;
		}
		/* the 16-byte copy of {ctx, alloc} */
		if (src->size == 16 && !py_mem_read(t, where, arena, sizeof(arena)) && !arena[0] &&
		    arena[1] && arena[2] && arena[1] != arena[2])
			t->o.arena_alloc_start = arena[1];
	}
	if (insn)
		cs_free(insn, count);
	if (!t->o.arena_alloc_start || py_mem_read(t, t->o.arena_alloc_start, code, sizeof(code))) {
		t->o.arena_alloc_start = 0;
		py_add_check(t, "arenas: the arena allocator is not the default one, or was not understood");
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
		py_add_check(t, "arenas: the arena allocator's code was not understood");
		return;
	}
	py_add_check(t, "arenas: allocated by the code at %#" PRIx64 "-%#" PRIx64, t->o.arena_alloc_start,
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

	if (!cs || py_mem_read(t, addr, code, sizeof(code)))
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
			    !mem_operand(&insn[i], op, regs, &where) || py_read_u64(t, where, &word))
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
		if (!buf || py_mem_read(t, m->start, buf, size)) {
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
	while (len >= 64 && py_mem_read(t, addr, code, len))
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
			err = py_module_open(t->pid, maps, i, m);
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

/* t's memory map read into maps, and the interpreter's file opened as m
 * and named in o; maps__free(maps) and py_module_close(m) either way. */
static int open_object(struct py_target *t, struct lw_maps *maps, struct module *m,
		       struct lw_object *o, char *why, size_t len)
{
	int err = maps__read(t->pid, maps);

	if (err) {
		memset(o, 0, sizeof(*o));
		snprintf(why, len, "cannot read /proc/%d/maps: %s", t->pid, strerror(-err));
		return err;
	}
	return probe_object(t, maps, m, o, why, len);
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
		if (!py_maybe_python(&maps, i) || py_module_open(pid, &maps, i, &m))
			continue;
		if (py_module_func(&m, "Py_RunMain", &addr))
			addr = 0;
		else
			snprintf(t.module, sizeof(t.module), "%s", maps.v[i].path);
		py_module_close(&m);
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	if (addr && (t.mem = open(path, O_RDONLY | O_CLOEXEC)) >= 0 &&
	    !probe_object(&t, &maps, &m, o, why, len) &&
	    (p = add_probe(&t, &maps, o, LW_FUNC_PYMAIN, addr, 0, "Py_RunMain")))
		snprintf(p->chosen, sizeof(p->chosen), "the interpreter's start");
	py_module_close(&m);
	if (t.mem >= 0)
		close(t.mem);
	maps__free(&maps);
	return p ? 0 : -ENOENT;
}

int py_target__finalize(struct py_target *t, struct lw_object *o, char *why, size_t len)
{
	struct module m = { .fd = -1 };
	struct lw_probe *p = NULL;
	struct lw_maps maps = { 0 };
	uint64_t addr;
	int err;

	err = open_object(t, &maps, &m, o, why, len);
	if (!err && (py_module_func(&m, "Py_FinalizeEx", &addr) ||
		     !(p = add_probe(t, &maps, o, LW_FUNC_FINALIZE, addr, 1, "Py_FinalizeEx")))) {
		snprintf(why, len, "%s: Py_FinalizeEx not found", t->module);
		err = -ENOENT;
	}
	if (p)
		snprintf(p->chosen, sizeof(p->chosen), "the interpreter's finalization");
	py_module_close(&m);
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
	struct lw_maps maps = { 0 };
	long sites;
	int err;

	err = open_object(t, &maps, &m, o, why, len);
	if (err)
		goto out;
	for (int d = 0; d < 2; d++) {
		if (py_module_func(&m, domains[d].entry, &entry) ||
		    !(slot = jump_slot(t, &maps, entry)) ||
		    py_mem_read(t, slot - 8, table[d], sizeof(table[d]))) {
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
	py_module_close(&m);
	maps__free(&maps);
	return err;
}

/* Inside struct _gc_runtime_state, the same in 3.10 to 3.13 (offsetof on
 * each version's headers): generation_stats, then collecting (an int),
 * then the gc.garbage list. */
#define GC_STATS 128
#define GC_GARBAGE 208
#define OB_TYPE 8
#define OB_SIZE 16

int py_target__gc_read(struct py_target *t, const struct py_gc_where *w, int64_t stats[9],
		       int64_t *garbage)
{
	uint64_t list, type;
	int64_t n;

	if (py_mem_read(t, w->stats_addr, stats, 9 * sizeof(*stats)))
		return -EIO;
	*garbage = -1;
	if (!py_read_u64(t, w->garbage_addr, &list) && list &&
	    !py_read_u64(t, list + OB_TYPE, &type) && type == w->list_type_addr &&
	    !py_mem_read(t, list + w->list_size, &n, sizeof(n)))
		*garbage = n;
	return 0;
}

/* The USDT probes gc__start and gc__done, as two entry probes. */
static int usdt_probes(const struct module *m, struct lw_object *o)
{
	static const struct {
		const char *name;
		enum lw_func func;
	} probes[] = { { "gc__start", LW_FUNC_GC_START }, { "gc__done", LW_FUNC_GC_DONE } };
	uint64_t off[2], sem[2];

	for (int i = 0; i < 2; i++)
		if (elf_symbols__usdt(m->es, "python", probes[i].name, &off[i], &sem[i]))
			return -ENOENT;
	for (int i = 0; i < 2; i++) {
		struct lw_probe *p = &o->probes[o->nr_probes++];

		memset(p, 0, sizeof(*p));
		p->func = probes[i].func;
		p->symbol = probes[i].name;
		p->entry_offset = p->offset = off[i];
		p->ref_ctr_offset = sem[i];
		snprintf(p->placement, sizeof(p->placement), "the USDT probe python:%s",
			 probes[i].name);
		snprintf(p->chosen, sizeof(p->chosen), "the collector's own probes");
	}
	return 0;
}

int py_target__gc(struct py_target *t, struct lw_object *o, struct py_gc_where *w, char *why,
		  size_t len)
{
	struct module m = { .fd = -1 };
	struct lw_probe *p = NULL;
	uint64_t interp, addr, list;
	struct lw_maps maps = { 0 };
	int64_t stats[9], garbage;
	int err;

	memset(w, 0, sizeof(*w));
	err = open_object(t, &maps, &m, o, why, len);
	if (err)
		goto out;
	/* the main interpreter: the one a server runs its requests in */
	if (py_read_u64(t, t->o.runtime_addr + t->o.runtime_interp_head, &interp) || !interp ||
	    py_module_object(&m, "PyList_Type", &w->list_type_addr)) {
		snprintf(why, len, "%s: its interpreter state or PyList_Type not found", t->module);
		err = -ENOTSUP;
		goto out;
	}
	w->stats_addr = interp + t->o.interp_gc + GC_STATS;
	w->garbage_addr = interp + t->o.interp_gc + GC_GARBAGE;
	w->list_size = OB_SIZE;
	/* an interpreter still starting makes gc.garbage a little later */
	if (!py_read_u64(t, w->garbage_addr, &list) && !list) {
		snprintf(why, len, "%s: its collector is not set up yet", t->module);
		err = -EAGAIN;
		goto out;
	}
	/* the layout checks out when gc.garbage is a list and the counts are sane */
	if (py_target__gc_read(t, w, stats, &garbage) || garbage < 0 || stats[0] < 0 ||
	    stats[1] < 0 || stats[2] < 0 || stats[3] < 0 || stats[6] < 0) {
		snprintf(why, len, "%s: gc.garbage is not a list at interpreter+%u: the "
			 "collector's layout is not understood", t->module, t->o.interp_gc + GC_GARBAGE);
		err = -ENOTSUP;
		goto out;
	}
	py_add_check(t, "gc: statistics at interpreter+%u, gc.garbage a list of %" PRId64,
		     t->o.interp_gc + GC_STATS, garbage);
	if (!usdt_probes(&m, o)) {
		w->hook = "usdt";
	} else if (!py_module_func(&m, "gc_collect_main", &addr) &&
		   (p = add_probe(t, &maps, o, LW_FUNC_GC, addr, 3, "gc_collect_main"))) {
		snprintf(p->chosen, sizeof(p->chosen), "the collector function");
		w->hook = "function";
	} else {
		snprintf(why, len, "%s has neither the USDT probes python:gc__start/gc__done nor a "
			 "gc_collect_main symbol: collections are counted, their pauses not timed",
			 t->module);
		o->nr_probes = 0;
		err = -ENOENT;
		goto out;
	}
	snprintf(why, len, "%s: collections timed at %s", t->module,
		 w->hook[0] == 'u' ? "its USDT probes gc__start and gc__done" :
		 "gc_collect_main's entry and return");
	err = 0;
out:
	py_module_close(&m);
	maps__free(&maps);
	return err;
}
