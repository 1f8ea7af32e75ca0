/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Holding processes for the loader: a command at its start, watched
 * processes at exec and their children at fork, and CPython's moments
 * (Py_RunMain, Py_FinalizeEx). The process is stopped, marked held in
 * exec_watch, and the loader told through the events ring buffer; it
 * continues the process. Included by leakwatch.bpf.c.
 */
#ifndef LW_HOLDS_BPF_H
#define LW_HOLDS_BPF_H

/* Processes whose exec (and, with LW_FOLLOW_FORKS, whose children) the
 * loader follows, by tgid: flags from leakwatch.h. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 16384);
} exec_watch SEC(".maps");

#define SIGSTOP 19

/* The loader attached hold_new_child (kernels without bpf_send_signal_task). */
const volatile __u32 hold_at_syscall = 0;
/* Children are held at fork until the loader has attached to them; not with
 * --growth, which attaches nothing: they are watched from their fork on. */
const volatile __u32 hold_forks = 1;

/* Since 6.13: a signal to another task (the child, from its parent's fork). */
extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type,
				__u64 value) __ksym __weak;

/*
 * Moments of CPython's the loader acts on: Py_RunMain (LW_EVENT_PYMAIN),
 * where the interpreter is up and the program about to run, so its Python
 * frames are walked from its first line; and Py_FinalizeEx
 * (LW_EVENT_FINALIZE), where the program is done and starts freeing what
 * it holds (module globals, caches), which would empty the final summary
 * of every leak: the loader takes the process's probes out, so its counts
 * stay as they were when its work ended.
 */
static __always_inline int hold_for(__u32 kind, __u32 tgid)
{
	struct lw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u32 *state = bpf_map_lookup_elem(&exec_watch, &tgid);

	if (!e)
		return 0; /* the loader cannot be told: not stopped */
	if (state)
		*state |= LW_EXEC_HELD;
	e->kind = kind;
	e->pid = tgid;
	e->parent = 0;
	e->held = bpf_send_signal(SIGSTOP) == 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Holds a command leakwatch started: stops it at the dynamic linker's hook
 * so its libraries can be read and probed before any of their code runs. */
SEC("uprobe")
int stop_process(struct pt_regs *ctx)
{
	REFUSED_IN_TESTS(LW_PART_COMMAND_HOLD);
	bpf_send_signal(SIGSTOP);
	return 0;
}

/* Stops the calling process (the held one is current), or stop, and tells
 * the loader; when the loader cannot be told, nothing is stopped. */
static __always_inline void notify(__u32 kind, __u32 pid, __u32 parent, struct task_struct *stop)
{
	struct lw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	long held = -1;

	if (!e) {
		count_lost(proc_counters(pid), LW_LOST_UNATTACHED_WINDOW);
		return;
	}
	if (stop && bpf_ksym_exists(bpf_send_signal_task))
		held = bpf_send_signal_task(stop, SIGSTOP, PIDTYPE_TGID, 0);
	else if (!stop)
		held = bpf_send_signal(SIGSTOP);
	e->kind = kind;
	e->pid = pid;
	e->parent = parent;
	e->held = held == 0;
	bpf_ringbuf_submit(e, 0);
}

/* Tells the loader, stopping nothing. */
static __always_inline void tell(__u32 kind, __u32 pid, __u32 parent)
{
	struct lw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return;
	e->kind = kind;
	e->pid = pid;
	e->parent = parent;
	e->held = 0;
	bpf_ringbuf_submit(e, 0);
}

/* A watched process that execs (env, sh -c, a wrapper script, a server
 * re-executing itself) becomes a new program: stop it so the loader can
 * probe the new image before its libraries run, as it did for the first. */
SEC("tp_btf/sched_process_exec") /* BTF raw tracepoint: needs no tracefs */
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32, *state;

	state = bpf_map_lookup_elem(&exec_watch, &tgid);
	if (!state || !(*state & LW_EXEC_WATCHED))
		return 0;
	*state |= LW_EXEC_SEEN;
	unwind_drop(tgid);
	notify(LW_EVENT_EXEC, tgid, 0, NULL);
	return 0;
}

/*
 * A watched process forked: the child is watched too, with no gap. It is
 * stopped before it first runs (a signal queued from the parent's fork,
 * taken on the child's way to user space), so no allocation of its own can
 * come before its probes; the loader attaches and continues it. A child
 * sharing the parent's memory (vfork, posix_spawn) runs on and is caught
 * at its exec instead. Threads are not processes: they are already seen.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid, *state, flags;

	REFUSED_IN_TESTS(LW_PART_FOLLOW);
	if (child->pid != child->tgid)
		return 0;
	state = bpf_map_lookup_elem(&exec_watch, &ptgid);
	if (!state || !(*state & LW_FOLLOW_FORKS))
		return 0;
	flags = LW_EXEC_WATCHED | LW_FOLLOW_FORKS;
	if (child->mm != parent->mm && hold_forks) {
		flags |= LW_EXEC_HELD; /* until the loader continues it */
		/* the child stops itself (hold_new_child); the loader hears of it then */
		if (!bpf_ksym_exists(bpf_send_signal_task) && hold_at_syscall)
			flags |= LW_HOLD_AT_SYSCALL;
	}
	if (bpf_map_update_elem(&exec_watch, &ctgid, &flags, BPF_ANY)) {
		count_lost(proc_counters(ctgid), LW_LOST_UNATTACHED_WINDOW);
		return 0;
	}
	if (child->mm == parent->mm)
		return 0;
	unwind_inherit(ptgid, ctgid);
	if (!hold_forks)
		tell(LW_EVENT_FORK, ctgid, ptgid);
	else if (!(flags & LW_HOLD_AT_SYSCALL))
		notify(LW_EVENT_FORK, ctgid, ptgid, child);
	return 0;
}

/*
 * Before Linux 6.13 a parent's fork cannot stop its child, so a watched
 * child stops itself at its first system call: glibc's fork makes one in
 * the child (set_robust_list) before it returns, so the child is held
 * before any code of the program's runs. Attached only on such kernels:
 * it runs at every system call of the machine, a lookup each.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(hold_new_child, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, *state;
	struct task_struct *task;

	if ((__u32)pid_tgid != tgid)
		return 0; /* a thread: not a new process's first */
	state = bpf_map_lookup_elem(&exec_watch, &tgid);
	if (!state || !(*state & LW_HOLD_AT_SYSCALL))
		return 0;
	/* a plain store: the child has one thread, and the loader writes the
	 * value only once it has heard of the child */
	*state &= ~LW_HOLD_AT_SYSCALL;
	task = bpf_get_current_task_btf();
	notify(LW_EVENT_FORK, tgid, task->real_parent->tgid, NULL);
	return 0;
}

#endif /* LW_HOLDS_BPF_H */
