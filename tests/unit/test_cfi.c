// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cfi.h: the unwind table of real binaries (the test targets with and
 * without frame pointers, glibc, libstdc++, python3.11) must say what
 * libdw says at every address of their code. libdw's rules are evaluated
 * here by a small expression interpreter of the test's own, on made-up
 * register values, and compared with what the table's row computes. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include "symbols/cfi.h"

#define RSP 0x7ffd00001000ULL
#define RBP 0x7ffd00008000ULL

/* Evaluates a DWARF expression on rsp = RSP, rbp = RBP; false when it
 * uses anything else. */
static bool eval(const Dwarf_Op *ops, size_t n, uint64_t cfa, uint64_t *out)
{
	uint64_t st[8];
	int sp = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t a = ops[i].atom;

		if (sp >= 7)
			return false;
		if (a >= DW_OP_breg0 && a <= DW_OP_breg31) {
			int reg = a - DW_OP_breg0;

			if (reg != 6 && reg != 7)
				return false;
			st[sp++] = (reg == 7 ? RSP : RBP) + (int64_t)ops[i].number;
		} else if (a == DW_OP_bregx) {
			if (ops[i].number != 6 && ops[i].number != 7)
				return false;
			st[sp++] = (ops[i].number == 7 ? RSP : RBP) + (int64_t)ops[i].number2;
		} else if (a >= DW_OP_lit0 && a <= DW_OP_lit31) {
			st[sp++] = a - DW_OP_lit0;
		} else if (a == DW_OP_consts || a == DW_OP_constu || a == DW_OP_const1s ||
			   a == DW_OP_const1u || a == DW_OP_const2s || a == DW_OP_const2u ||
			   a == DW_OP_const4s || a == DW_OP_const4u || a == DW_OP_const8s ||
			   a == DW_OP_const8u) {
			st[sp++] = ops[i].number;
		} else if (a == DW_OP_call_frame_cfa) {
			st[sp++] = cfa;
		} else if (a == DW_OP_plus_uconst && sp >= 1) {
			st[sp - 1] += ops[i].number;
		} else if (a == DW_OP_plus && sp >= 2) {
			st[sp - 2] += st[sp - 1];
			sp--;
		} else if (a == DW_OP_minus && sp >= 2) {
			st[sp - 2] -= st[sp - 1];
			sp--;
		} else {
			return false;
		}
	}
	if (sp != 1)
		return false;
	*out = st[0];
	return true;
}

struct verdicts {
	unsigned long addrs, cfi, gaps, bad, end, rbp_at, rbp_same;
};

/* One address: libdw's frame (or none) against the table's row. */
static void check_addr(Dwarf_CFI *cfi, const struct cfi_table *t, uint64_t vaddr, uint64_t off,
		       const char *file, struct verdicts *v)
{
	const struct lw_cfi_row *r = cfi_table__find(t, off);
	Dwarf_Frame *f = NULL;
	Dwarf_Op mem[3], *ops;
	uint64_t cfa, ra, rbp_loc;
	size_t n;
	int ret;

	v->addrs++;
	if (!r)
		fail_msg("%s: no row at offset %#lx", file, (unsigned long)off);
	if (dwarf_cfi_addrframe(cfi, vaddr, &f)) {
		if (r->cfa != LW_CFA_NONE)
			fail_msg("%s+%#lx: libdw has no CFI, the table says %u", file,
				 (unsigned long)off, r->cfa);
		v->gaps++;
		return;
	}
	if (r->cfa == LW_CFA_NONE)
		fail_msg("%s+%#lx: libdw has CFI, the table has none", file, (unsigned long)off);
	v->cfi++;
	ret = dwarf_frame_cfa(f, &ops, &n);
	if (ret || !eval(ops, n, 0, &cfa)) {
		/* an expression the table cannot follow */
		if (r->cfa != LW_CFA_BAD)
			fail_msg("%s+%#lx: a CFA rule beyond rsp/rbp + N, table says %u", file,
				 (unsigned long)off, r->cfa);
		v->bad++;
		free(f);
		return;
	}
	ret = dwarf_frame_register(f, 16, mem, &ops, &n);
	if (ret == 0 && n == 0) {
		if (r->cfa != LW_CFA_END)
			fail_msg("%s+%#lx: return address undefined, table says %u", file,
				 (unsigned long)off, r->cfa);
		v->end++;
		free(f);
		return;
	}
	if (r->cfa == LW_CFA_BAD) {
		/* then the return address rule must be something else than CFA - 8 */
		if (ret == 0 && eval(ops, n, cfa, &ra) && ra == cfa - 8)
			fail_msg("%s+%#lx: table gave up on a plain frame", file, (unsigned long)off);
		v->bad++;
		free(f);
		return;
	}
	if (ret != 0 || !eval(ops, n, cfa, &ra) || ra != cfa - 8)
		fail_msg("%s+%#lx: return address not at CFA - 8", file, (unsigned long)off);
	if ((r->cfa == LW_CFA_RSP ? RSP : RBP) + r->cfa_off != cfa)
		fail_msg("%s+%#lx: CFA %#lx, table computes %#lx", file, (unsigned long)off,
			 (unsigned long)cfa,
			 (unsigned long)((r->cfa == LW_CFA_RSP ? RSP : RBP) + r->cfa_off));
	ret = dwarf_frame_register(f, 6, mem, &ops, &n);
	if (ret == 0 && n == 0 && !ops) {
		v->rbp_same++;
		if (r->rbp != LW_RBP_SAME)
			fail_msg("%s+%#lx: rbp same value, table says %u", file, (unsigned long)off,
				 r->rbp);
	} else if (ret == 0 && eval(ops, n, cfa, &rbp_loc)) {
		if (r->rbp != LW_RBP_AT || cfa + r->rbp_off != rbp_loc)
			fail_msg("%s+%#lx: rbp saved at CFA%+ld, table says %u %d", file,
				 (unsigned long)off, (long)(rbp_loc - cfa), r->rbp, r->rbp_off);
		v->rbp_at++;
	} else if (r->rbp != LW_RBP_LOST) {
		fail_msg("%s+%#lx: rbp by another rule, table says %u", file, (unsigned long)off,
			 r->rbp);
	}
	free(f);
}

/* Every address of file's executable segments. */
static struct verdicts check_file(const char *file, bool want_fp)
{
	struct verdicts v = {};
	struct cfi_table t;
	Dwarf_CFI *cfi;
	size_t nphdr;
	Elf *elf;
	int fd;

	fd = open(file, O_RDONLY);
	if (fd < 0)
		fail_msg("cannot open %s", file);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	cfi = dwarf_getcfi_elf(elf);
	assert_non_null(cfi);
	assert_int_equal(cfi_table__build(elf, cfi, NULL, &t), 0);
	assert_true(t.nr > 0);
	/* merged: no two neighbours alike */
	for (size_t i = 1; i < t.nr; i++) {
		const struct lw_cfi_row *a = &t.rows[i - 1], *b = &t.rows[i];

		assert_true(a->off < b->off);
		assert_false(a->cfa == b->cfa && a->cfa_off == b->cfa_off && a->rbp == b->rbp &&
			     a->rbp_off == b->rbp_off);
	}
	assert_int_equal(elf_getphdrnum(elf, &nphdr), 0);
	for (size_t i = 0; i < nphdr; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		for (uint64_t a = 0; a < ph.p_filesz; a++)
			check_addr(cfi, &t, ph.p_vaddr + a, ph.p_offset + a, file, &v);
		/* past the segment: nothing */
		assert_int_equal(cfi_table__find(&t, ph.p_offset + ph.p_filesz)->cfa, LW_CFA_NONE);
	}
	assert_int_equal(t.has_fp, want_fp);
	print_message("%s: %zu rows (%zu B) for %lu B of code; %lu addresses, %lu with CFI, "
		      "%lu rbp saved, %lu outermost, %lu not followed\n", file, t.nr,
		      t.nr * sizeof(struct lw_cfi_row), (unsigned long)t.text_bytes, v.addrs, v.cfi,
		      v.rbp_at, v.end, v.bad);
	cfi_table__free(&t);
	dwarf_cfi_end(cfi);
	elf_end(elf);
	close(fd);
	return v;
}

static char targets_dir[PATH_MAX];

static void target(const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", targets_dir, name);
}

static void test_target_without_fp(void **state)
{
	char path[PATH_MAX + 64];
	struct verdicts v;

	target("nofp", path, sizeof(path));
	v = check_file(path, false);
	/* _start's return address is undefined; its VLA frame saves rbp */
	assert_true(v.end > 0);
	assert_true(v.rbp_at > 0);
	/* functions that never touch rbp leave it to their caller */
	assert_true(v.rbp_same > 0);
	target("nofp_cxx", path, sizeof(path));
	check_file(path, false);
}

static void test_target_with_fp(void **state)
{
	char path[PATH_MAX + 64];
	struct verdicts v;

	target("allocs", path, sizeof(path));
	v = check_file(path, true);
	assert_true(v.rbp_at > 0);
}

static void test_system_libraries(void **state)
{
	static const char *const libs[] = {
		"/usr/lib/x86_64-linux-gnu/libc.so.6",
		"/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
		"/usr/bin/python3.11",
	};

	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		if (access(libs[i], R_OK)) {
			print_message("%s: not installed, not checked\n", libs[i]);
			continue;
		}
		check_file(libs[i], false);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_without_fp),
		cmocka_unit_test(test_target_with_fp),
		cmocka_unit_test(test_system_libraries),
	};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return 1;
	exe[n] = 0;
	/* build/tests/unit/test_cfi -> build/tests/targets */
	snprintf(targets_dir, sizeof(targets_dir), "%s/../targets", dirname(exe));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
