/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --verify-stacks: every verify_every'th recorded allocation also sends
 * the registers at the probe and a copy of the stack from sp, with the
 * stack the BPF unwinder took, for the loader to unwind again with libdw
 * and compare (leakwatch.h, struct lw_verify). Included by leakwatch.bpf.c.
 */
#ifndef LW_VERIFY_BPF_H
#define LW_VERIFY_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* the loader sizes it when verifying */
} verify_events SEC(".maps");
/* --verify-stacks records that found verify_events full */
__u64 verify_dropped;

/* The end of the stack mapping holding sp (bpf_find_vma's callback). */
static long vma_end(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	*(__u64 *)ctx = vma->vm_end;
	return 0;
}

/* Notes the registers at the probe in the thread's call in flight, in
 * DWARF order, for verify_send. */
static __always_inline void verify_regs(struct inflight *st, struct pt_regs *ctx)
{
	st->regs[0] = ctx->ax;
	st->regs[1] = ctx->dx;
	st->regs[2] = ctx->cx;
	st->regs[3] = ctx->bx;
	st->regs[4] = ctx->si;
	st->regs[5] = ctx->di;
	st->regs[6] = ctx->bp;
	st->regs[7] = ctx->sp;
	st->regs[8] = ctx->r8;
	st->regs[9] = ctx->r9;
	st->regs[10] = ctx->r10;
	st->regs[11] = ctx->r11;
	st->regs[12] = ctx->r12;
	st->regs[13] = ctx->r13;
	st->regs[14] = ctx->r14;
	st->regs[15] = ctx->r15;
	st->regs[16] = ctx->ip;
}

/* Sends the registers noted, the stack bytes from sp and the stack
 * walked. Pages that cannot be read (never touched) are left zero. */
static __noinline int verify_send(__u32 tgid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct inflight *st = inflight_get(0);
	struct lw_verify *v;
	__u64 sp, end = 0, len, head, off, chunk;

	REFUSED_IN_TESTS(LW_PART_VERIFY_STACKS);
	if (!st)
		return 0;
	v = bpf_ringbuf_reserve(&verify_events, sizeof(*v), 0);
	if (!v) {
		__sync_fetch_and_add(&verify_dropped, 1);
		return 0;
	}
	v->tgid = tgid;
	v->tid = (__u32)bpf_get_current_pid_tgid();
	v->nr = st->stack.nr;
	bpf_probe_read_kernel(v->regs, sizeof(v->regs), st->regs);
	bpf_probe_read_kernel(v->ips, sizeof(v->ips), st->stack.ips);
	sp = st->regs[7];
	/* clamped to the stack's mapping; when the mappings are busy (it
	 * only tries their lock), the whole copy, unmapped pages left zero */
	if (bpf_find_vma(task, sp, vma_end, &end, 0))
		end = sp + LW_VERIFY_STACK_BYTES;
	len = end > sp ? end - sp : 0;
	if (len > LW_VERIFY_STACK_BYTES)
		len = LW_VERIFY_STACK_BYTES;
	/* the first piece runs to the first page boundary, then whole pages */
	head = 4096 - (sp & 4095);
	for (int i = 0; i < LW_VERIFY_STACK_BYTES / 4096 + 1; i++) {
		off = i ? head + (__u64)(i - 1) * 4096 : 0;
		chunk = i ? 4096 : head;
		if (off >= len)
			break;
		if (chunk > len - off)
			chunk = len - off;
		/* bounds the verifier can follow: off < 16 KiB, chunk <= 4 KiB,
		 * and the buffer has 4 KiB of slack */
		off &= LW_VERIFY_STACK_BYTES - 1;
		if (chunk > 4096 || !chunk)
			break;
		bpf_probe_read_user(&v->stack[off], chunk, (void *)(sp + off));
	}
	v->stack_len = len;
	/* the loader reads these at its own pace: no wakeup per event */
	bpf_ringbuf_submit(v, BPF_RB_NO_WAKEUP);
	return 0;
}

#endif /* LW_VERIFY_BPF_H */
