// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Opening and loading the BPF object: the kernel's fallbacks, the parts its
 * verifier refuses left out, and the verifier's figures read back. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "common/exitcodes.h"
#include "common/messages.h"
#include "kernel/tracer_internal.h"

static int libbpf_verbosity;
/* The program whose load libbpf reported failed last (print_libbpf). */
static char failed_prog[64];

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char line[256];
	const char *name, *end;
	va_list copy;

	va_copy(copy, args);
	vsnprintf(line, sizeof(line), fmt, copy);
	va_end(copy);
	if (strstr(line, "failed to load") && (name = strstr(line, "prog '")) &&
	    (end = strchr(name + 6, '\'')) && end - name - 6 < (long)sizeof(failed_prog)) {
		memcpy(failed_prog, name + 6, end - name - 6);
		failed_prog[end - name - 6] = '\0';
	}
	if ((level == LIBBPF_DEBUG && libbpf_verbosity < 3) ||
	    (level == LIBBPF_INFO && libbpf_verbosity < 2) || libbpf_verbosity < 1)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* The part of leakwatch a program is, when it is not the core. */
static int part_of(const char *prog)
{
	if (!strcmp(prog, "on_exec") || !strcmp(prog, "on_fork") || !strcmp(prog, "hold_new_child"))
		return LW_PART_FOLLOW;
	if (!strcmp(prog, "stop_process"))
		return LW_PART_COMMAND_HOLD;
	return -1;
}

/* The verifier's words in a program's log: its last line that is not a
 * statistic. */
static void log_reason(const char *log, char *out, size_t len)
{
	const char *line = log, *pick = NULL, *end;

	for (; *line; line = *end ? end + 1 : end) {
		end = strchrnul(line, '\n');
		if (end > line && strncmp(line, "processed ", 10) && strncmp(line, "stack depth", 11) &&
		    strncmp(line, "verification time", 17) && strncmp(line, "-- ", 3))
			pick = line;
	}
	if (!pick) {
		snprintf(out, len, "no reason given");
		return;
	}
	snprintf(out, len, "%.*s", (int)(strchrnul(pick, '\n') - pick), pick);
}

#define MAX_SUBPROGS 64

/*
 * The deepest chain of BPF stack frames from the program's entry, as the
 * verifier counts it against its 512 bytes (each frame rounded up to 32),
 * with bpf_loop and for_each callbacks counted as calls too (they run on
 * top of their caller's frame). depth[i]: subprogram i's stack, from the
 * log. The calls come from the program as loaded: a call names its callee
 * by index, a callback by its address among the program's functions.
 */
static unsigned int deepest_chain(int fd, const unsigned int *depth, int nr)
{
	struct bpf_func_info funcs[MAX_SUBPROGS];
	__u64 ksyms[MAX_SUBPROGS];
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	unsigned int best[MAX_SUBPROGS] = {}, total = 0;
	bool calls[MAX_SUBPROGS][MAX_SUBPROGS] = {};
	struct bpf_insn *insns = NULL;
	__u32 n_insns, n_funcs;

	if (bpf_prog_get_info_by_fd(fd, &info, &info_len) || !info.xlated_prog_len ||
	    info.nr_func_info > MAX_SUBPROGS || info.nr_jited_ksyms > MAX_SUBPROGS)
		return 0;
	n_insns = info.xlated_prog_len / sizeof(*insns);
	n_funcs = info.nr_func_info;
	insns = calloc(n_insns, sizeof(*insns));
	if (!insns)
		return 0;
	memset(&info, 0, sizeof(info));
	info.xlated_prog_len = n_insns * sizeof(*insns);
	info.xlated_prog_insns = (__u64)(unsigned long)insns;
	info.nr_func_info = n_funcs;
	info.func_info_rec_size = sizeof(funcs[0]);
	info.func_info = (__u64)(unsigned long)funcs;
	info.nr_jited_ksyms = n_funcs;
	info.jited_ksyms = (__u64)(unsigned long)ksyms;
	if (bpf_prog_get_info_by_fd(fd, &info, &info_len) || (int)n_funcs != nr)
		goto out;
	for (__u32 f = 0; f < n_funcs; f++) {
		__u32 end = f + 1 < n_funcs ? funcs[f + 1].insn_off : n_insns;

		for (__u32 i = funcs[f].insn_off; i < end && i < n_insns; i++) {
			const struct bpf_insn *in = &insns[i];

			if (in->code == (BPF_JMP | BPF_CALL) && in->src_reg == BPF_PSEUDO_CALL &&
			    in->imm >= 0 && in->imm < (int)n_funcs)
				calls[f][in->imm] = true;
			if (in->code == (BPF_LD | BPF_IMM | BPF_DW) && in->src_reg == BPF_PSEUDO_FUNC &&
			    i + 1 < n_insns) {
				__u64 addr = (__u32)in->imm | (__u64)(__u32)insns[i + 1].imm << 32;

				for (__u32 g = 0; g < info.nr_jited_ksyms && g < n_funcs; g++)
					if (ksyms[g] == addr)
						calls[f][g] = true;
			}
		}
	}
	/* callees come after their callers' first call in no fixed order:
	 * relax until nothing changes (the graph has no cycles) */
	for (int pass = 0; pass < nr; pass++)
		for (int f = nr - 1; f >= 0; f--) {
			unsigned int deepest = 0;

			for (int g = 0; g < nr; g++)
				if (calls[f][g] && g != f && best[g] > deepest)
					deepest = best[g];
			best[f] = ((depth[f] ? depth[f] : 1) + 31) / 32 * 32 + deepest;
		}
	total = best[0];
out:
	free(insns);
	return total;
}

/* The figures of a loaded program: verified instructions (the kernel's
 * count since 5.16, else the log's) and its deepest chain of stack frames
 * (each function's stack from the log at level 4). */
static void read_stats(struct tracer *t, struct bpf_program *prog, const char *log)
{
	unsigned int depth[MAX_SUBPROGS];
	struct tracer_prog_stats *ps;
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	const char *at;
	int nr = 0;

	if (t->nr_stats >= TRACER_MAX_PROGS)
		return;
	ps = &t->stats[t->nr_stats++];
	snprintf(ps->name, sizeof(ps->name), "%s", bpf_program__name(prog));
	if (!bpf_prog_get_info_by_fd(bpf_program__fd(prog), &info, &info_len))
		ps->verified_insns = info.verified_insns;
	if (!ps->verified_insns && (at = strstr(log, "processed ")))
		ps->verified_insns = strtoul(at + 10, NULL, 10);
	if ((at = strstr(log, "stack depth "))) {
		char *next;

		for (at += 12; nr < MAX_SUBPROGS; at = next + 1) {
			depth[nr] = strtoul(at, &next, 10);
			if (next == at)
				break;
			nr++;
			if (*next != '+')
				break;
		}
	}
	ps->stack_bytes = nr ? deepest_chain(bpf_program__fd(prog), depth, nr) : 0;
}

/* Opens and loads the object with the parts in off left out. 0, or a
 * negative errno with the refused program and the verifier's reason. */
static int load_once(struct tracer *t, const struct tracer_opts *opts, const bool *off,
		     char *failed, size_t flen, char *reason, size_t rlen)
{
	bool floor = opts->mode != TRACER_TRACK && opts->mode != TRACER_GROWTH;
	bool growth = opts->mode == TRACER_GROWTH;
	/* the per-call programs: tracking, or zooming in from a growth run */
	bool calls = opts->mode == TRACER_TRACK || (growth && opts->zoom);
	struct bpf_program *prog;
	int err, i = 0;

	t->skel = leakwatch_bpf__open();
	if (!t->skel) {
		err = -errno;
		snprintf(failed, flen, "(open)");
		snprintf(reason, rlen, "cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	t->skel->rodata->sample_every = opts->sample_every;
	t->skel->rodata->sample_bytes = opts->sample_bytes;
	t->skel->rodata->age_epoch_ns = opts->age_epoch_ns;
	t->skel->rodata->unwind_cfi = opts->unwind_cfi && !off[LW_PART_CFI_UNWIND];
	t->skel->rodata->walk_python = opts->walk_python && !off[LW_PART_PYTHON_WALK];
	t->skel->rodata->verify_every = off[LW_PART_VERIFY_STACKS] ? 0 : opts->verify_every;
	t->skel->rodata->test_refuse = opts->refuse_part;
	if (t->skel->rodata->verify_every)
		bpf_map__set_max_entries(t->skel->maps.verify_events, 16 << 20);
	/* the row store is preallocated: one row unless the unwinder is on */
	bpf_map__set_max_entries(t->skel->maps.cfi_rows, t->skel->rodata->unwind_cfi &&
				 opts->unwind_rows ? opts->unwind_rows : 1);
	if (!t->skel->rodata->unwind_cfi)
		bpf_map__set_max_entries(t->skel->maps.unwind_maps, 1);
	bpf_map__set_max_entries(t->skel->maps.allocs, opts->max_allocs);
	bpf_map__set_max_entries(t->skel->maps.stacks, opts->max_stacks);
	bpf_map__set_max_entries(t->skel->maps.py_stacks, opts->max_stacks);
	bpf_map__set_max_entries(t->skel->maps.stats, opts->max_stacks * 2);
	t->skel->rodata->growth_granule = growth ? opts->growth_granule : 0;
	bpf_map__set_max_entries(t->skel->maps.granules, growth ? opts->max_allocs : 1);

	/* the benchmark's empty programs only for the benchmark */
	bpf_program__set_autoload(t->skel->progs.floor_enter, floor);
	bpf_program__set_autoload(t->skel->progs.floor_exit, floor);
	bpf_program__set_autoload(t->skel->progs.alloc_enter, calls);
	bpf_program__set_autoload(t->skel->progs.alloc_exit, calls);
	/* --growth's programs instead of the allocator's */
	bpf_program__set_autoload(t->skel->progs.growth_fault_user, growth);
	bpf_program__set_autoload(t->skel->progs.growth_fault_kernel, growth);
	bpf_program__set_autoload(t->skel->progs.growth_syscall, growth);
	bpf_program__set_autoload(t->skel->progs.growth_syscall_exit, growth);
	bpf_program__set_autoload(t->skel->progs.on_exec, !off[LW_PART_FOLLOW]);
	bpf_program__set_autoload(t->skel->progs.on_fork, !off[LW_PART_FOLLOW]);
	bpf_program__set_autoload(t->skel->progs.stop_process, !off[LW_PART_COMMAND_HOLD]);
	/* children stop themselves where the parent's fork cannot stop them */
	t->skel->rodata->hold_at_syscall = !off[LW_PART_FOLLOW] && opts->kernel &&
					   !opts->kernel->has[KF_SEND_SIGNAL_TASK] && !growth;
	/* --growth attaches nothing to a child: it is watched from its fork */
	t->skel->rodata->hold_forks = !growth;
	bpf_program__set_autoload(t->skel->progs.hold_new_child, t->skel->rodata->hold_at_syscall);
	bpf_object__for_each_program(prog, t->skel->obj) {
		/* without uprobe_multi, the probes are perf-event uprobes,
		 * which a program loaded for uprobe_multi links cannot be */
		if (!t->multi && bpf_program__expected_attach_type(prog) == BPF_TRACE_UPROBE_MULTI)
			bpf_program__set_expected_attach_type(prog, 0);
		if (i < TRACER_MAX_PROGS) {
			t->logs[i * LOG_BYTES] = '\0';
			bpf_program__set_log_buf(prog, &t->logs[i * LOG_BYTES], LOG_BYTES);
			bpf_program__set_log_level(prog, BPF_LOG_STATS);
		}
		i++;
	}
	failed_prog[0] = '\0';
	err = leakwatch_bpf__load(t->skel);
	i = 0;
	t->nr_stats = 0;
	bpf_object__for_each_program(prog, t->skel->obj) {
		const char *log = i < TRACER_MAX_PROGS ? &t->logs[i * LOG_BYTES] : "";

		if (err && !strcmp(bpf_program__name(prog), failed_prog)) {
			snprintf(failed, flen, "%s", failed_prog);
			log_reason(log, reason, rlen);
		}
		if (!err && bpf_program__autoload(prog))
			read_stats(t, prog, log);
		i++;
	}
	if (err && !failed_prog[0]) {
		snprintf(failed, flen, "(object)");
		snprintf(reason, rlen, "%s", strerror(-err));
	}
	if (err) {
		leakwatch_bpf__destroy(t->skel);
		t->skel = NULL;
	}
	return err;
}

/* The optional parts of the core programs, in the order they are given up. */
static const enum lw_part core_parts[] = {
	LW_PART_VERIFY_STACKS, LW_PART_PYTHON_WALK, LW_PART_CFI_UNWIND,
};

/*
 * A core program was refused: which of its optional parts to leave out.
 * Each part still in is tried alone, left out, so that only the part the
 * verifier refuses goes; when no one part is enough, the first still in
 * goes, and the caller tries again without it. -1: none is left.
 */
static int culprit(struct tracer *t, const struct tracer_opts *opts, const bool *off)
{
	char failed[64], reason[160];
	int first = -1;

	for (size_t i = 0; i < sizeof(core_parts) / sizeof(core_parts[0]); i++) {
		enum lw_part part = core_parts[i];
		bool trial[LW_PART_NR];

		if (off[part])
			continue;
		if (first < 0)
			first = part;
		memcpy(trial, off, sizeof(trial));
		trial[part] = true;
		if (!load_once(t, opts, trial, failed, sizeof(failed), reason, sizeof(reason))) {
			/* loaded again once the part is marked left out */
			leakwatch_bpf__destroy(t->skel);
			t->skel = NULL;
			return part;
		}
	}
	return first;
}

/* --growth's programs: system-wide tracepoints that filter by process. */
static int attach_growth(struct tracer *t, char *why, size_t len)
{
	struct bpf_program *progs[] = {
		t->skel->progs.growth_syscall, t->skel->progs.growth_syscall_exit,
		t->skel->progs.growth_fault_user, t->skel->progs.growth_fault_kernel,
	};

	/* what gives memory back first: a release is never missed after a
	 * fault was seen */
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		t->growth_links[i] = bpf_program__attach(progs[i]);
		if (!t->growth_links[i]) {
			snprintf(why, len, "cannot attach %s to its tracepoint (BTF): %s",
				 bpf_program__name(progs[i]), strerror(errno));
			return -1;
		}
	}
	return 0;
}

int tracer__new(struct tracer **out, const struct tracer_opts *opts, char *why, size_t len)
{
	bool off[LW_PART_NR] = {
		[LW_PART_VERIFY_STACKS] = !opts->verify_every,
		[LW_PART_PYTHON_WALK] = !opts->walk_python,
		[LW_PART_CFI_UNWIND] = !opts->unwind_cfi,
	};
	char failed[64], reason[160];
	struct tracer *t;
	int err;

	libbpf_verbosity = opts->verbose;
	libbpf_set_print(print_libbpf);
	t = calloc(1, sizeof(*t));
	if (!t || !(t->logs = calloc(TRACER_MAX_PROGS, LOG_BYTES))) {
		if (t)
			free(t);
		snprintf(why, len, "out of memory");
		return LW_EXIT_FAILURE;
	}
	t->mode = opts->mode;
	t->granule = opts->growth_granule;
	t->zoom = opts->mode == TRACER_GROWTH && opts->zoom;
	t->age_epoch_ns = opts->age_epoch_ns;
	t->multi = !opts->kernel || opts->kernel->has[KF_UPROBE_MULTI];
	for (;;) {
		int part;

		err = load_once(t, opts, off, failed, sizeof(failed), reason, sizeof(reason));
		if (!err)
			break;
		part = strcmp(failed, "(open)") ? part_of(failed) : -1;
		if (part < 0 && strcmp(failed, "(open)"))
			part = culprit(t, opts, off);
		if (part < 0 || off[part] || !strcmp(failed, "(open)")) {
			/* privileges were checked before; a refusal now is the verifier's */
			snprintf(why, len, "the kernel refused leakwatch's core BPF program %s: %s "
				 "(rerun with -vv for the verifier's log)", failed, reason);
			if (opts->verbose >= 2)
				tracer__print_verifier_log(opts, failed);
			tracer__free(t);
			return LW_EXIT_FAILURE;
		}
		off[part] = true;
		t->dropped[part] = true;
		if (opts->kernel)
			kernel__drop(opts->kernel, part, reason);
		lw_say("warning: this kernel's verifier refused %s (%s): leakwatch goes on without it",
		       kernel__part_name(part), reason);
	}
	if (opts->verbose)
		for (int i = 0; i < t->nr_stats; i++)
			lw_say("BPF program %s: %u instructions verified (%.1f%% of the 1M limit), "
			       "stack %u bytes (of 512)", t->stats[i].name, t->stats[i].verified_insns,
			       t->stats[i].verified_insns / 1e4, t->stats[i].stack_bytes);
	/* cheap for every exec and fork on the system: one lookup in a small map */
	if (!t->dropped[LW_PART_FOLLOW]) {
		t->exec_link = bpf_program__attach(t->skel->progs.on_exec);
		t->fork_link = t->exec_link ? bpf_program__attach(t->skel->progs.on_fork) : NULL;
		if (t->fork_link && t->skel->rodata->hold_at_syscall &&
		    !(t->syscall_link = bpf_program__attach(t->skel->progs.hold_new_child))) {
			snprintf(why, len, "cannot attach to the sys_enter tracepoint (BTF): %s",
				 strerror(errno));
			tracer__free(t);
			return LW_EXIT_FAILURE;
		}
		if (!t->fork_link) {
			snprintf(why, len, "cannot attach to the sched_process_%s tracepoint (BTF): %s",
				 t->exec_link ? "fork" : "exec", strerror(errno));
			tracer__free(t);
			return LW_EXIT_FAILURE;
		}
	}
	if (t->mode == TRACER_GROWTH && !opts->load_only && attach_growth(t, why, len)) {
		tracer__free(t);
		return LW_EXIT_FAILURE;
	}
	t->events = ring_buffer__new(bpf_map__fd(t->skel->maps.events), tracer_on_event, t, NULL);
	if (!t->events) {
		snprintf(why, len, "cannot read the events ring buffer: %s", strerror(errno));
		tracer__free(t);
		return LW_EXIT_FAILURE;
	}
	t->gc = ring_buffer__new(bpf_map__fd(t->skel->maps.gc_events), tracer_on_gc, t, NULL);
	if (!t->gc) {
		snprintf(why, len, "cannot read the garbage collections ring buffer: %s",
			 strerror(errno));
		tracer__free(t);
		return LW_EXIT_FAILURE;
	}
	if (t->skel->rodata->verify_every) {
		t->verify = ring_buffer__new(bpf_map__fd(t->skel->maps.verify_events), tracer_on_verify, t, NULL);
		if (!t->verify) {
			snprintf(why, len, "cannot read the stack verification ring buffer: %s",
				 strerror(errno));
			tracer__free(t);
			return LW_EXIT_FAILURE;
		}
	}
	*out = t;
	return 0;
}

/* -vv after a refusal: the refused program's whole verifier log, from one
 * more load with a log buffer big enough for it. */
void tracer__print_verifier_log(const struct tracer_opts *opts, const char *prog_name)
{
	size_t size = 256u << 20;
	struct leakwatch_bpf *skel = leakwatch_bpf__open();
	struct bpf_program *prog;
	char *log = malloc(size);

	if (!skel || !log)
		goto out;
	log[0] = '\0';
	skel->rodata->unwind_cfi = opts->unwind_cfi;
	skel->rodata->walk_python = opts->walk_python;
	skel->rodata->verify_every = opts->verify_every;
	skel->rodata->sample_every = opts->sample_every;
	skel->rodata->sample_bytes = opts->sample_bytes;
	skel->rodata->growth_granule = opts->mode == TRACER_GROWTH ? opts->growth_granule : 0;
	bpf_object__for_each_program(prog, skel->obj) {
		bpf_program__set_autoload(prog, !strcmp(bpf_program__name(prog), prog_name));
		if (opts->kernel && !opts->kernel->has[KF_UPROBE_MULTI] &&
		    bpf_program__expected_attach_type(prog) == BPF_TRACE_UPROBE_MULTI)
			bpf_program__set_expected_attach_type(prog, 0);
		if (!strcmp(bpf_program__name(prog), prog_name)) {
			bpf_program__set_log_buf(prog, log, size);
			bpf_program__set_log_level(prog, 1 | BPF_LOG_STATS);
		}
	}
	libbpf_set_print(NULL);
	leakwatch_bpf__load(skel);
	libbpf_set_print(print_libbpf);
	fprintf(stderr, "-- the verifier's log of %s --\n%s-- end of the log --\n", prog_name, log);
out:
	leakwatch_bpf__destroy(skel);
	free(log);
}

double tracer__age_epoch_s(const struct tracer *t)
{
	return t->age_epoch_ns / 1e9;
}

bool tracer__growth(const struct tracer *t)
{
	return t->mode == TRACER_GROWTH;
}

bool tracer__dropped(const struct tracer *t, enum lw_part part)
{
	return part < LW_PART_NR && t->dropped[part];
}

const struct tracer_prog_stats *tracer__prog_stats(const struct tracer *t, int *n)
{
	*n = t->nr_stats;
	return t->stats;
}
