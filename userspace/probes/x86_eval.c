// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <capstone/capstone.h>
#include "probes/insn.h"
#include "probes/x86_eval.h"

static struct sym_val *reg(struct eval *e, x86_reg r)
{
	return &e->regs[insn_full_reg(r)];
}

static const struct sym_val unknown;

/* The address a memory operand names, as a symbolic value. */
static struct sym_val mem_addr(struct eval *e, const cs_insn *insn, const x86_op_mem *m)
{
	struct sym_val a = { .known = true, .value = m->disp };

	if (m->base == X86_REG_RIP) {
		a.value += insn->address + insn->size;
	} else if (m->base != X86_REG_INVALID) {
		struct sym_val *b = reg(e, m->base);

		if (!b->known)
			return unknown;
		a.value += b->value;
		a.key_coef = b->key_coef;
		a.tp = b->tp;
	}
	if (m->index != X86_REG_INVALID) {
		struct sym_val *x = reg(e, m->index);

		if (!x->known || (x->tp && a.tp))
			return unknown;
		a.value += x->value * m->scale;
		a.key_coef += x->key_coef * m->scale;
		a.tp |= x->tp && m->scale == 1;
	}
	if (m->segment == X86_REG_FS)
		a.tp = true;
	else if (m->segment != X86_REG_INVALID)
		return unknown;
	return a;
}

/* A load from addr: the thread pointer itself from %fs:0 or %fs:0x10 (the
 * TCB's self pointers), a constant from the target's memory, or unknown. */
static struct sym_val load(struct eval *e, const struct sym_val *addr, int size)
{
	struct sym_val v = { 0 };
	uint64_t word = 0;

	if (!addr->known || addr->key_coef)
		return v;
	if (addr->tp) {
		if (addr->value == 0 || addr->value == 0x10)
			v.known = v.tp = true;
		return v;
	}
	if (size == 8 && e->read && !e->read(e->ctx, addr->value, &word, 8)) {
		v.known = true;
		v.value = word;
	}
	if (size == 4) {
		v.loaded32 = true;
		v.load_addr = addr->value;
	}
	return v;
}

/* Runs straight-line code, conditional branches not taken, until a call,
 * a jump, or a load that depends on the key or the thread pointer. */
struct eval_result eval_until_stop(struct eval *e, const uint8_t *code, size_t len,
					  uint64_t addr)
{
	struct eval_result res = { STOP_END };
	csh cs = insn_capstone();
	cs_insn *insn = NULL;
	size_t count;

	if (!cs)
		return res;
	count = cs_disasm(cs, code, len, addr, 32, &insn);
	for (size_t i = 0; i < count; i++) {
		const cs_insn *in = &insn[i];
		const cs_x86 *x = &in->detail->x86;
		const cs_x86_op *d = &x->operands[0], *s = &x->operands[1];
		struct sym_val *dst = x->op_count && d->type == X86_OP_REG ? reg(e, d->reg) : NULL;
		struct sym_val v;

		switch (in->id) {
		case X86_INS_CALL:
		case X86_INS_JMP:
			res.stop = STOP_CALL;
			/* data16 lea x(%rip),%rdi; data16 data16 rex.W call: __tls_get_addr */
			res.tls_call = in->id == X86_INS_CALL && in->size == 8 &&
				       in->bytes[0] == 0x66 && i > 0 && insn[i - 1].bytes[0] == 0x66;
			goto out;
		case X86_INS_RET:
			goto out;
		case X86_INS_CMP:
		case X86_INS_TEST:
		case X86_INS_NOP:
		case X86_INS_PUSH:
		case X86_INS_ENDBR64:
			continue;
		case X86_INS_MOV:
		case X86_INS_LEA:
			if (!dst || x->op_count != 2)
				break;
			if (s->type == X86_OP_REG) {
				v = *reg(e, s->reg);
			} else if (s->type == X86_OP_IMM) {
				v = (struct sym_val){ .known = true, .value = s->imm };
			} else if (s->type == X86_OP_MEM) {
				struct sym_val a = mem_addr(e, in, &s->mem);

				if (in->id == X86_INS_LEA) {
					v = a;
				} else {
					/* %fs:0 and %fs:0x10 are the thread pointer itself */
					bool self = a.tp && !a.key_coef &&
						    (a.value == 0 || a.value == 0x10);

					if (a.known && (a.key_coef || a.tp) && !self) {
						res.stop = STOP_LOAD;
						res.addr = a;
						goto out;
					}
					v = load(e, &a, d->size);
				}
			} else {
				break;
			}
			*dst = v;
			continue;
		case X86_INS_ADD:
			if (!dst || !dst->known)
				break;
			if (s->type == X86_OP_IMM) {
				dst->value += s->imm;
				continue;
			}
			v = s->type == X86_OP_REG ? *reg(e, s->reg) : unknown;
			if (s->type == X86_OP_MEM) {
				struct sym_val a = mem_addr(e, in, &s->mem);

				v = load(e, &a, s->size);
			}
			if (!v.known || (v.tp && dst->tp))
				break;
			dst->value += v.value;
			dst->key_coef += v.key_coef;
			dst->tp |= v.tp;
			continue;
		case X86_INS_SHL:
			if (!dst || !dst->known || dst->tp || s->type != X86_OP_IMM || s->imm > 16)
				break;
			dst->value <<= s->imm;
			dst->key_coef <<= s->imm;
			continue;
		default:
			/* conditional jumps fall through: the fast path is first */
			if (cs_insn_group(cs, in, X86_GRP_JUMP))
				continue;
			break;
		}
		/* anything else: what it writes is unknown */
		if (dst)
			*dst = unknown;
	}
out:
	if (insn)
		cs_free(insn, count);
	return res;
}
