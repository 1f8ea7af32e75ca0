// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <capstone/capstone.h>
#include <stdio.h>
#include "probes/insn.h"

csh insn_capstone(void)
{
	static csh cs;
	static int state; /* 0 unopened, 1 open, -1 failed */

	if (!state) {
		state = cs_open(CS_ARCH_X86, CS_MODE_64, &cs) == CS_ERR_OK ? 1 : -1;
		if (state > 0)
			cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	}
	return state > 0 ? cs : 0;
}

static bool emulated(csh cs, const cs_insn *insn)
{
	switch (insn->id) {
	case X86_INS_NOP:
		return true;
	case X86_INS_PUSH:
		/* push %reg: 50+r, or 41 50+r for r8-r15 */
		return (insn->size == 1 && (insn->bytes[0] & 0xf8) == 0x50) ||
		       (insn->size == 2 && insn->bytes[0] == 0x41 && (insn->bytes[1] & 0xf8) == 0x50);
	case X86_INS_JMP:
	case X86_INS_CALL:
		/* relative forms only: e8, e9, eb */
		return insn->bytes[0] == 0xe8 || insn->bytes[0] == 0xe9 || insn->bytes[0] == 0xeb;
	default:
		/* conditional jumps: 70-7f, 0f 80-8f */
		return cs_insn_group(cs, insn, X86_GRP_JUMP) &&
		       ((insn->bytes[0] & 0xf0) == 0x70 ||
			(insn->bytes[0] == 0x0f && (insn->bytes[1] & 0xf0) == 0x80));
	}
}

bool insn_emulated(const uint8_t *code, size_t len, char *text, size_t text_len)
{
	csh cs = insn_capstone();
	cs_insn *insn;
	bool ok;

	snprintf(text, text_len, "?");
	if (!cs || cs_disasm(cs, code, len, 0, 1, &insn) != 1)
		return false;
	snprintf(text, text_len, "%s%s%s", insn->mnemonic, insn->op_str[0] ? " " : "", insn->op_str);
	ok = emulated(cs, insn);
	cs_free(insn, 1);
	return ok;
}

/* Registers a moved probe must find as they were at entry: the argument
 * registers the function takes (the first nargs of them), and the stack
 * and frame pointers the stack walk starts from. */
static const x86_reg arg_regs[] = {
	X86_REG_RDI, X86_REG_RSI, X86_REG_RDX, X86_REG_RCX, X86_REG_R8, X86_REG_R9,
};
static const x86_reg frame_regs[] = { X86_REG_RSP, X86_REG_RBP };

x86_reg insn_full_reg(x86_reg r)
{
	/* each general register, then its 32-, 16- and low 8-bit parts */
	static const x86_reg parts[][4] = {
		{ X86_REG_RAX, X86_REG_EAX, X86_REG_AX, X86_REG_AL },
		{ X86_REG_RBX, X86_REG_EBX, X86_REG_BX, X86_REG_BL },
		{ X86_REG_RCX, X86_REG_ECX, X86_REG_CX, X86_REG_CL },
		{ X86_REG_RDX, X86_REG_EDX, X86_REG_DX, X86_REG_DL },
		{ X86_REG_RSI, X86_REG_ESI, X86_REG_SI, X86_REG_SIL },
		{ X86_REG_RDI, X86_REG_EDI, X86_REG_DI, X86_REG_DIL },
		{ X86_REG_RBP, X86_REG_EBP, X86_REG_BP, X86_REG_BPL },
		{ X86_REG_RSP, X86_REG_ESP, X86_REG_SP, X86_REG_SPL },
		{ X86_REG_R8, X86_REG_R8D, X86_REG_R8W, X86_REG_R8B },
		{ X86_REG_R9, X86_REG_R9D, X86_REG_R9W, X86_REG_R9B },
		{ X86_REG_R10, X86_REG_R10D, X86_REG_R10W, X86_REG_R10B },
		{ X86_REG_R11, X86_REG_R11D, X86_REG_R11W, X86_REG_R11B },
		{ X86_REG_R12, X86_REG_R12D, X86_REG_R12W, X86_REG_R12B },
		{ X86_REG_R13, X86_REG_R13D, X86_REG_R13W, X86_REG_R13B },
		{ X86_REG_R14, X86_REG_R14D, X86_REG_R14W, X86_REG_R14B },
		{ X86_REG_R15, X86_REG_R15D, X86_REG_R15W, X86_REG_R15B },
	};

	switch (r) {
	case X86_REG_AH: return X86_REG_RAX;
	case X86_REG_BH: return X86_REG_RBX;
	case X86_REG_CH: return X86_REG_RCX;
	case X86_REG_DH: return X86_REG_RDX;
	default: break;
	}
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		for (int j = 0; j < 4; j++)
			if (parts[i][j] == r)
				return parts[i][0];
	return r;
}

static bool writes_kept_reg(csh cs, const cs_insn *insn, unsigned int nargs)
{
	cs_regs reads, writes;
	uint8_t nr_reads, nr_writes;

	if (cs_regs_access(cs, insn, reads, &nr_reads, writes, &nr_writes))
		return true;
	for (int i = 0; i < nr_writes; i++) {
		x86_reg r = insn_full_reg(writes[i]);

		for (size_t k = 0; k < nargs && k < sizeof(arg_regs) / sizeof(arg_regs[0]); k++)
			if (r == arg_regs[k])
				return true;
		for (size_t k = 0; k < sizeof(frame_regs) / sizeof(frame_regs[0]); k++)
			if (r == frame_regs[k])
				return true;
	}
	return false;
}

static bool writes_memory(const cs_insn *insn)
{
	const cs_x86 *x86 = &insn->detail->x86;

	for (int i = 0; i < x86->op_count; i++)
		if (x86->operands[i].type == X86_OP_MEM && (x86->operands[i].access & CS_AC_WRITE))
			return true;
	return false;
}

/* Code at target returns at once, having done nothing but maybe set the
 * return value to 0 or a constant. */
static bool plain_return(csh cs, const uint8_t *code, size_t len, uint64_t target)
{
	cs_insn *insn;
	size_t n;
	bool ok = false;

	if (target >= len)
		return false;
	n = cs_disasm(cs, code + target, len - target, target, 3, &insn);
	for (size_t i = 0; i < n; i++) {
		if (insn[i].id == X86_INS_RET) {
			ok = true;
			break;
		}
		if (!((insn[i].id == X86_INS_XOR || insn[i].id == X86_INS_MOV) &&
		      insn[i].detail->x86.op_count == 2 &&
		      insn[i].detail->x86.operands[0].type == X86_OP_REG &&
		      (insn[i].detail->x86.operands[0].reg == X86_REG_EAX ||
		       insn[i].detail->x86.operands[0].reg == X86_REG_RAX) &&
		      (insn[i].id == X86_INS_XOR || insn[i].detail->x86.operands[1].type == X86_OP_IMM)))
			break;
	}
	cs_free(insn, n);
	return ok;
}

size_t insn_probe_point(const uint8_t *code, size_t len, unsigned int nargs, char *why,
			size_t why_len)
{
	csh cs = insn_capstone();
	cs_insn *insn;
	size_t n, at = 0;

	snprintf(why, why_len, "entry");
	if (!cs)
		return 0;
	n = cs_disasm(cs, code, len, 0, 8, &insn);
	for (size_t i = 0; i < n; i++) {
		const cs_insn *in = &insn[i];

		if (emulated(cs, in) && !cs_insn_group(cs, in, X86_GRP_JUMP) &&
		    !cs_insn_group(cs, in, X86_GRP_CALL)) {
			at = in->address;
			if (at)
				snprintf(why, why_len, "moved to +%zu (%s %s): the entry's %s is not "
					 "emulated", at, in->mnemonic, in->op_str, insn[0].mnemonic);
			else
				snprintf(why, why_len, "entry (%s %s is emulated)", in->mnemonic, in->op_str);
			break;
		}
		if (cs_insn_group(cs, in, X86_GRP_JUMP) && in->detail->x86.op_count == 1 &&
		    in->detail->x86.operands[0].type == X86_OP_IMM && in->id != X86_INS_JMP &&
		    plain_return(cs, code, len, in->detail->x86.operands[0].imm))
			continue; /* an early return that does no work */
		if (cs_insn_group(cs, in, X86_GRP_JUMP) || cs_insn_group(cs, in, X86_GRP_CALL) ||
		    cs_insn_group(cs, in, X86_GRP_RET) || writes_memory(in) || writes_kept_reg(cs, in, nargs)) {
			snprintf(why, why_len, "entry: no emulated instruction before %s %s", in->mnemonic,
				 in->op_str);
			break;
		}
	}
	cs_free(insn, n);
	return at;
}

bool insn_is_thunk(const uint8_t *code, size_t len)
{
	csh cs = insn_capstone();
	cs_insn *insn;
	size_t n, i = 0;
	bool thunk;

	if (!cs)
		return false;
	n = cs_disasm(cs, code, len, 0, 2, &insn);
	if (n && insn[0].id == X86_INS_ENDBR64)
		i = 1;
	thunk = i < n && insn[i].id == X86_INS_JMP;
	cs_free(insn, n);
	return thunk;
}

bool insn_call_before(const uint8_t *code, size_t len)
{
	/* call rel32 (5 bytes) first, then the indirect forms (2..7) */
	static const size_t lengths[] = { 5, 6, 2, 3, 7, 4 };
	csh cs = insn_capstone();
	cs_insn *insn;

	if (!cs)
		return false;
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		size_t k = lengths[i];
		bool call;

		if (k > len || cs_disasm(cs, code + len - k, k, 0, 1, &insn) != 1)
			continue;
		call = insn->size == k && insn->id == X86_INS_CALL;
		cs_free(insn, 1);
		if (call)
			return true;
	}
	return false;
}
