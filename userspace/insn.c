// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <capstone/capstone.h>
#include <stdio.h>
#include "insn.h"

static csh handle(void)
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
	csh cs = handle();
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

bool insn_call_before(const uint8_t *code, size_t len)
{
	/* call rel32 (5 bytes) first, then the indirect forms (2..7) */
	static const size_t lengths[] = { 5, 6, 2, 3, 7, 4 };
	csh cs = handle();
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
