// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include "common/exitcodes.h"
#include "common/messages.h"
#include "kernel/kernel.h"
#include "kernel/preflight.h"
#include "kernel/tracer.h"

/* Root, or the capabilities that stand for it here: loading BPF and
 * uprobes (CAP_BPF, CAP_PERFMON) and opening /proc/PID/map_files
 * (CAP_SYS_ADMIN). */
int preflight__privilege(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	static const int needed[] = { CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN };

	if (syscall(SYS_capget, &hdr, data))
		return geteuid() == 0 ? 0 : LW_EXIT_PRIVILEGE;
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		int cap = needed[i];

		if (!(data[cap / 32].effective & (1u << (cap % 32)))) {
			lw_say("not allowed to trace other processes (CAP_BPF, CAP_PERFMON and "
			     "CAP_SYS_ADMIN are needed): run leakwatch as root, e.g. with sudo");
			return LW_EXIT_PRIVILEGE;
		}
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		lw_say("this kernel has no BTF (/sys/kernel/btf/vmlinux): run a kernel built "
		     "with CONFIG_DEBUG_INFO_BTF=y");
		return LW_EXIT_PRIVILEGE;
	}
	return 0;
}

static void print_programs(const struct tracer *t, const char *only_prefix)
{
	int n;
	const struct tracer_prog_stats *ps = tracer__prog_stats(t, &n);

	for (int i = 0; i < n; i++)
		if (!only_prefix || !strncmp(ps[i].name, only_prefix, strlen(only_prefix)))
			printf("  program %-19s loads: %u instructions verified (%.1f%% of 1M), "
			       "stack %u of 512 bytes\n", ps[i].name, ps[i].verified_insns,
			       ps[i].verified_insns / 1e4, ps[i].stack_bytes);
}

/* leakwatch --check: what this kernel offers, and whether leakwatch's
 * programs load here (each with its verifier figures): the per-call
 * tracker's, then --growth's. */
int preflight__check(struct kernel_info *k, unsigned int max_allocs, unsigned int max_stacks,
		     unsigned int verify_every, int refuse_part)
{
	struct tracer_opts topts = {
		.max_allocs = max_allocs,
		.max_stacks = max_stacks,
		.age_epoch_ns = 1000000000,
		.unwind_cfi = true,
		.unwind_rows = 1024,
		.walk_python = true,
		.verify_every = verify_every ? verify_every : 1000,
		.kernel = k,
		.refuse_part = refuse_part,
	};
	struct tracer *t = NULL;
	char why[512];
	int err;

	if (!k->has[KF_FIND_VMA])
		topts.verify_every = 0;
	err = tracer__new(&t, &topts, why, sizeof(why));
	kernel__print(k, stdout);
	if (err) {
		printf("  leakwatch cannot run here: %s\n", why);
		return err;
	}
	print_programs(t, NULL);
	tracer__free(t);
	topts.mode = TRACER_GROWTH;
	topts.growth_granule = TRACER_GRANULE;
	topts.zoom = true;
	topts.load_only = true;
	topts.verify_every = 0;
	t = NULL;
	if (tracer__new(&t, &topts, why, sizeof(why)))
		printf("  --growth cannot run here: %s\n", why);
	else
		print_programs(t, "growth_");
	tracer__free(t);
	return 0;
}
