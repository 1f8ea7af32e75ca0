// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "kernel/kernel.h"

/* Each feature: its name in JSON and --check, and what its absence costs. */
static const struct {
	const char *name;
	const char *without;
} features[KF_NR] = {
	[KF_BTF] = { "btf", "leakwatch cannot load: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF)" },
	[KF_BPF_LOOP] = { "bpf_loop", "leakwatch cannot load: bpf_loop() arrived in Linux 5.17" },
	[KF_TASK_STORAGE] = { "task_storage",
			      "leakwatch cannot load: task storage arrived in Linux 5.11" },
	[KF_UPROBE_MULTI] = { "uprobe_multi",
			      "one uprobe per function and process instead of one link per "
			      "library (uprobe_multi arrived in Linux 6.6): slower to attach" },
	[KF_SEND_SIGNAL_TASK] = { "send_signal_task",
				  "a forked child runs until leakwatch attaches to it "
				  "(bpf_send_signal_task arrived in Linux 6.13): its first "
				  "allocations may be missed, counted as unattached_window" },
	[KF_FIND_VMA] = { "find_vma", "--verify-stacks is not available (bpf_find_vma, Linux 5.17)" },
};

static const char *parts[LW_PART_NR] = {
	[LW_PART_VERIFY_STACKS] = "verify_stacks",
	[LW_PART_PYTHON_WALK] = "python_walk",
	[LW_PART_CFI_UNWIND] = "cfi_unwind",
	[LW_PART_FOLLOW] = "follow_forks_execs",
	[LW_PART_COMMAND_HOLD] = "command_hold",
};

const char *kernel__feature_name(enum kernel_feature f)
{
	return f < KF_NR ? features[f].name : "?";
}

const char *kernel__part_name(enum lw_part p)
{
	return p < LW_PART_NR ? parts[p] : "?";
}

int kernel__feature_by_name(const char *name)
{
	for (int f = 0; f < KF_NR; f++)
		if (!strcmp(name, features[f].name))
			return f;
	return -1;
}

int kernel__part_by_name(const char *name)
{
	for (int p = 0; p < LW_PART_NR; p++)
		if (!strcmp(name, parts[p]))
			return p;
	return -1;
}

/*
 * A trial uprobe_multi link, as libbpf probes it: a kernel that knows the
 * link type opens the path and refuses "/" (not a regular file) with
 * EBADF; one that does not refuses the attach type with EINVAL.
 */
static bool probe_uprobe_multi(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, popts, .expected_attach_type = BPF_TRACE_UPROBE_MULTI);
	LIBBPF_OPTS(bpf_link_create_opts, lopts);
	unsigned long offset = 0;
	int prog, link, err;

	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, 2, &popts);
	if (prog < 0)
		return false;
	lopts.uprobe_multi.path = "/";
	lopts.uprobe_multi.offsets = &offset;
	lopts.uprobe_multi.cnt = 1;
	link = bpf_link_create(prog, -1, BPF_TRACE_UPROBE_MULTI, &lopts);
	err = errno;
	if (link >= 0)
		close(link);
	close(prog);
	return link >= 0 || err == EBADF;
}

void kernel__probe(struct kernel_info *k)
{
	struct utsname u;
	struct btf *vmlinux;

	memset(k, 0, sizeof(*k));
	if (uname(&u) == 0)
		snprintf(k->release, sizeof(k->release), "%s", u.release);
	vmlinux = btf__load_vmlinux_btf();
	k->has[KF_BTF] = vmlinux != NULL;
	/* a kfunc is there when the kernel's BTF names it */
	k->has[KF_SEND_SIGNAL_TASK] =
		vmlinux && btf__find_by_name_kind(vmlinux, "bpf_send_signal_task", BTF_KIND_FUNC) > 0;
	btf__free(vmlinux);
	k->has[KF_BPF_LOOP] = libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_loop, NULL) == 1;
	k->has[KF_FIND_VMA] = libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_find_vma, NULL) == 1;
	k->has[KF_TASK_STORAGE] =
		libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL) == 1 &&
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_task_storage_get, NULL) == 1;
	k->has[KF_UPROBE_MULTI] = probe_uprobe_multi();
}

void kernel__drop(struct kernel_info *k, enum lw_part part, const char *reason)
{
	size_t n;

	if (part >= LW_PART_NR)
		return;
	k->dropped[part] = true;
	n = strcspn(reason, "\n");
	if (n >= sizeof(k->reason[part]))
		n = sizeof(k->reason[part]) - 1;
	memcpy(k->reason[part], reason, n);
	k->reason[part][n] = '\0';
}

const char *kernel__tier(const struct kernel_info *k)
{
	bool reduced = !k->has[KF_UPROBE_MULTI] || !k->has[KF_SEND_SIGNAL_TASK];

	if (k->dropped[LW_PART_CFI_UNWIND] && k->dropped[LW_PART_PYTHON_WALK])
		return "core";
	for (int p = 0; p < LW_PART_NR; p++)
		reduced |= k->dropped[p];
	return reduced ? "reduced" : "full";
}

void kernel__print(const struct kernel_info *k, FILE *out)
{
	fprintf(out, "kernel %s: tier %s\n", k->release, kernel__tier(k));
	for (int f = 0; f < KF_NR; f++)
		fprintf(out, "  %-17s %s%s%s\n", features[f].name, k->has[f] ? "yes" : "no",
			k->has[f] ? "" : ": ", k->has[f] ? "" : features[f].without);
	for (int p = 0; p < LW_PART_NR; p++)
		if (k->dropped[p])
			fprintf(out, "  left out: %s (the verifier refused it: %s)\n", parts[p],
				k->reason[p]);
}
