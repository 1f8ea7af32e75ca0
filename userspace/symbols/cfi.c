// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dwarf.h>
#include <errno.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "symbols/cfi.h"

/* x86-64 DWARF register numbers */
#define REG_RBP 6
#define REG_RSP 7
#define REG_RA 16

/* The constant an expression pushes, for the forms compilers and libdw use. */
static bool constant(const Dwarf_Op *op, int64_t *v)
{
	if (op->atom >= DW_OP_lit0 && op->atom <= DW_OP_lit31) {
		*v = op->atom - DW_OP_lit0;
		return true;
	}
	switch (op->atom) {
	case DW_OP_const1u: case DW_OP_const2u: case DW_OP_const4u: case DW_OP_const8u:
	case DW_OP_constu:
		*v = (int64_t)op->number;
		return true;
	case DW_OP_const1s: case DW_OP_const2s: case DW_OP_const4s: case DW_OP_const8s:
	case DW_OP_consts:
		*v = (int64_t)op->number;
		return true;
	}
	return false;
}

/* Whether ops compute CFA + *off (libdw's form of an offset(N) rule). */
static bool at_cfa(const Dwarf_Op *ops, size_t n, int64_t *off)
{
	int64_t v;

	if (!n || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (n == 1) {
		*off = 0;
		return true;
	}
	if (n == 2 && ops[1].atom == DW_OP_plus_uconst) {
		*off = (int64_t)ops[1].number;
		return true;
	}
	if (n == 3 && constant(&ops[1], &v) &&
	    (ops[2].atom == DW_OP_plus || ops[2].atom == DW_OP_minus)) {
		*off = ops[2].atom == DW_OP_plus ? v : -v;
		return true;
	}
	return false;
}

void cfi_row_of(Dwarf_Frame *frame, struct lw_cfi_row *r)
{
	Dwarf_Op mem[3], *ops;
	Dwarf_Addr start, end;
	bool signal = false;
	int64_t reg = -1, off = 0;
	size_t n;
	int ret;

	memset(r, 0, sizeof(*r));
	r->cfa = LW_CFA_BAD;
	if (dwarf_frame_cfa(frame, &ops, &n) == 0 && n == 1) {
		if (ops[0].atom == DW_OP_bregx) {
			reg = ops[0].number;
			off = (int64_t)ops[0].number2;
		} else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
			reg = ops[0].atom - DW_OP_breg0;
			off = (int64_t)ops[0].number;
		}
	}
	if ((reg == REG_RSP || reg == REG_RBP) && off >= INT32_MIN && off <= INT32_MAX) {
		r->cfa = reg == REG_RSP ? LW_CFA_RSP : LW_CFA_RBP;
		r->cfa_off = off;
	}
	ret = dwarf_frame_register(frame, REG_RA, mem, &ops, &n);
	if (ret == 0 && n == 0)
		r->cfa = LW_CFA_END;
	else if (!(ret == 0 && at_cfa(ops, n, &off) && off == -8))
		r->cfa = LW_CFA_BAD;
	if (dwarf_frame_info(frame, &start, &end, &signal) < 0 || signal)
		r->cfa = LW_CFA_BAD;
	if (r->cfa == LW_CFA_END || r->cfa == LW_CFA_BAD)
		r->cfa_off = 0;

	r->rbp = LW_RBP_LOST;
	ret = dwarf_frame_register(frame, REG_RBP, mem, &ops, &n);
	/* libdw says "same value" with no operations and a null ops
	 * ("undefined" points ops at mem) */
	if (ret == 0 && n == 0 && !ops) {
		r->rbp = LW_RBP_SAME;
	} else if (ret == 0 && at_cfa(ops, n, &off) && off >= INT16_MIN && off <= INT16_MAX) {
		r->rbp = LW_RBP_AT;
		r->rbp_off = off;
	}
}

static bool same_rule(const struct lw_cfi_row *a, const struct lw_cfi_row *b)
{
	return a->cfa == b->cfa && a->cfa_off == b->cfa_off && a->rbp == b->rbp &&
	       a->rbp_off == b->rbp_off;
}

struct builder {
	struct cfi_table *t;
	size_t cap;
	size_t rsp8_rows, rbp_rows; /* for has_fp */
};

static int add_row(struct builder *b, const struct lw_cfi_row *r)
{
	struct cfi_table *t = b->t;

	if (t->nr && same_rule(&t->rows[t->nr - 1], r))
		return 0;
	if (r->cfa == LW_CFA_RSP && r->cfa_off == 8)
		b->rsp8_rows++;
	else if (r->cfa == LW_CFA_RBP)
		b->rbp_rows++;
	if (t->nr == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 1024;
		struct lw_cfi_row *v = realloc(t->rows, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->rows = v;
		b->cap = cap;
	}
	t->rows[t->nr++] = *r;
	return 0;
}

double cfi_build_budget_s = 10;

static double elapsed_s(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec - since->tv_sec + (now.tv_nsec - since->tv_nsec) / 1e9;
}

/* The frame at addr from eh, else debug; NULL where neither has one. */
static Dwarf_Frame *frame_at(Dwarf_CFI *eh, Dwarf_CFI *debug, Dwarf_Addr addr)
{
	Dwarf_Frame *f = NULL;

	if (eh && dwarf_cfi_addrframe(eh, addr, &f) == 0)
		return f;
	if (debug && dwarf_cfi_addrframe(debug, addr, &f) == 0)
		return f;
	return NULL;
}

/* Rows for one executable segment: vaddr .. vaddr + size at file offset off. */
static int add_segment(struct builder *b, Dwarf_CFI *eh, Dwarf_CFI *debug, uint64_t vaddr,
		       uint64_t size, uint64_t off, const struct timespec *start)
{
	uint64_t addr = vaddr, end = vaddr + size;
	struct lw_cfi_row gap = { .cfa = LW_CFA_NONE };
	unsigned int steps = 0;
	int err;

	while (addr < end) {
		Dwarf_Frame *f;

		if (++steps % 256 == 0 && elapsed_s(start) > cfi_build_budget_s)
			return -ETIME;
		f = frame_at(eh, debug, addr);
		Dwarf_Addr fstart, fend;
		struct lw_cfi_row r;
		bool signal;

		if (!f) {
			/* no CFI here: a gap until some frame starts (code
			 * between functions is a few bytes of padding) */
			gap.off = off + (addr - vaddr);
			if ((err = add_row(b, &gap)))
				return err;
			addr++;
			continue;
		}
		cfi_row_of(f, &r);
		if (dwarf_frame_info(f, &fstart, &fend, &signal) < 0 || fend <= addr)
			fend = addr + 1;
		free(f);
		if (fend > end)
			fend = end;
		r.off = off + (addr - vaddr);
		if ((err = add_row(b, &r)))
			return err;
		b->t->cfi_bytes += fend - addr;
		addr = fend;
	}
	return 0;
}

int cfi_table__build(Elf *elf, Dwarf_CFI *eh, Dwarf_CFI *debug, struct cfi_table *out)
{
	struct builder b = { .t = out };
	size_t nphdr, file_size = 0;
	struct timespec start;
	int err = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	memset(out, 0, sizeof(*out));
	if (!elf || (!eh && !debug) || elf_getphdrnum(elf, &nphdr) || !elf_rawfile(elf, &file_size))
		return -ENOENT;
	for (size_t i = 0; i < nphdr && !err; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		/* offsets are 32-bit in the rows; a segment past the end of
		 * the file is a broken (or hostile) header */
		if (ph.p_offset > file_size || ph.p_filesz > file_size - ph.p_offset ||
		    ph.p_offset + ph.p_filesz > UINT32_MAX)
			continue;
		out->text_bytes += ph.p_filesz;
		err = add_segment(&b, eh, debug, ph.p_vaddr, ph.p_filesz, ph.p_offset, &start);
		/* past the segment: no CFI (the next segment adds its own rows) */
		if (!err) {
			struct lw_cfi_row gap = { .off = ph.p_offset + ph.p_filesz, .cfa = LW_CFA_NONE };

			err = add_row(&b, &gap);
		}
	}
	if (!err && !out->cfi_bytes)
		err = -ENOENT;
	if (err) {
		cfi_table__free(out);
		return err;
	}
	/* gcc with frame pointers: each function's body has CFA = rbp + 16,
	 * about one row per entry row CFA = rsp + 8; without, almost none */
	out->has_fp = b.rbp_rows * 2 >= b.rsp8_rows && b.rbp_rows;
	return 0;
}

const struct lw_cfi_row *cfi_table__find(const struct cfi_table *t, uint64_t off)
{
	size_t lo = 0, hi = t->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->rows[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &t->rows[lo - 1] : NULL;
}

void cfi_table__free(struct cfi_table *t)
{
	if (!t)
		return;
	free(t->rows);
	t->rows = NULL;
	t->nr = 0;
}
