// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "symbols/dwarf_lookup.h"
#include "leakwatch.h"
#include "symbols/oracle.h"

struct snapshot {
	const uint64_t *regs;
	const uint8_t *stack;
	size_t len;
	bool given;   /* the one thread handed out */
	bool cut;     /* a read past the copy, which stopped short of the stack's end */
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_arg)
{
	struct snapshot *s = arg;

	if (s->given)
		return 0;
	s->given = true;
	*thread_arg = s;
	return 1; /* any TID: the thread is the snapshot */
}

/* Stack words from the copy; anything else cannot be read (libdw then
 * stops, as the BPF unwinder would have had to read it live). */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct snapshot *s = arg;
	uint64_t sp = s->regs[7];

	if (addr < sp || addr - sp > s->len || s->len - (addr - sp) < sizeof(*result)) {
		s->cut |= addr >= sp && s->len >= LW_VERIFY_STACK_BYTES;
		return false;
	}
	memcpy(result, s->stack + (addr - sp), sizeof(*result));
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	struct snapshot *s = thread_arg;

	/* rax .. r15 are DWARF 0 .. 15, rip 16 */
	return dwfl_thread_state_registers(thread, 0, LW_VERIFY_REGS, s->regs);
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwarf_module__find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

/* Where vaddr 0 of the file lies when file offset pgoff is mapped at start. */
static bool load_bias(int fd, uint64_t start, uint64_t pgoff, uint64_t *bias)
{
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	size_t n;
	bool found = false;

	if (!elf)
		return false;
	if (elf_getphdrnum(elf, &n) == 0) {
		for (size_t i = 0; i < n && !found; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
				continue;
			if (pgoff < (ph.p_offset & ~4095ULL) || pgoff >= ph.p_offset + ph.p_filesz)
				continue;
			*bias = start - (ph.p_vaddr - ph.p_offset + pgoff);
			found = true;
		}
	}
	elf_end(elf);
	return found;
}

struct frames {
	uint64_t *pcs;
	int n, max;
	bool first;
};

static int on_frame(Dwfl_Frame *state, void *arg)
{
	struct frames *f = arg;
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	if (f->first) {
		f->first = false; /* the probed function itself */
		return DWARF_CB_OK;
	}
	if (f->n >= f->max)
		return DWARF_CB_ABORT;
	f->pcs[f->n++] = pc;
	return DWARF_CB_OK;
}

int oracle_unwind(struct dwarf_module *const *mods, size_t nr_mods, const struct oracle_map *maps,
		  size_t nr_maps, const uint64_t *regs, const uint8_t *stack, size_t len,
		  uint64_t *pcs, int max)
{
	struct snapshot snap = { .regs = regs, .stack = stack, .len = len };
	struct frames frames = { .pcs = pcs, .max = max, .first = true };
	bool *reported = calloc(nr_mods + 1, sizeof(*reported));
	Dwfl *dwfl = dwfl_begin(&dwfl_callbacks);
	int err = 0;

	if (!dwfl || !reported) {
		err = -ENOMEM;
		goto out;
	}
	elf_version(EV_CURRENT);
	dwfl_report_begin(dwfl);
	for (size_t i = 0; i < nr_maps; i++) {
		const struct oracle_map *m = &maps[i];
		struct dwarf_module *dm = m->module < nr_mods ? mods[m->module] : NULL;
		Dwfl_Module *mod;
		void **userdata;
		uint64_t bias;
		int fd;

		if (!dm || reported[m->module] || dwarf_module__fd(dm) < 0)
			continue;
		if (!load_bias(dwarf_module__fd(dm), m->start, m->pgoff, &bias))
			continue;
		fd = fcntl(dwarf_module__fd(dm), F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			continue;
		/* dwfl owns fd from here */
		mod = dwfl_report_elf(dwfl, dwarf_module__path(dm), dwarf_module__path(dm), fd, bias,
				      false);
		if (!mod)
			continue;
		reported[m->module] = true;
		dwfl_module_info(mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
		*userdata = dm; /* for its debug info, found as the symbolizer found it */
	}
	dwfl_report_end(dwfl, NULL, NULL);
	if (!dwfl_attach_state(dwfl, NULL, 1, &thread_callbacks, &snap)) {
		err = -ENOEXEC;
		goto out;
	}
	/* an error at the end of the stack is how some unwinds end */
	dwfl_getthread_frames(dwfl, 1, on_frame, &frames);
	if (snap.cut && frames.n < max)
		pcs[frames.n++] = ORACLE_CUT;
	err = frames.n;
out:
	if (dwfl)
		dwfl_end(dwfl);
	free(reported);
	return err;
}
