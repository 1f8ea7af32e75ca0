/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CPython's garbage collections, for the interpreters the loader gave a
 * py_gc entry. A collection is bracketed by the collector function's entry
 * and return (or by the USDT probes gc__start and gc__done where the build
 * has them); its pause is the time between, and the interpreter's own
 * per-generation statistics, read at both ends, say what it did. Only the
 * outermost bracket of a thread counts: 3.13's collector is entered again
 * from a finalizer inside a collection and returns at once. Part of the
 * Python walk (walk_python): off with it. Included by leakwatch.bpf.c.
 */
#ifndef LW_PYTHON_GC_BPF_H
#define LW_PYTHON_GC_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct lw_py_gc);
	__uint(max_entries, 4096);
} py_gc SEC(".maps");

/* Per thread: the collection in flight. */
struct gc_call {
	__u32 depth;            /* brackets open; a return probe missed at attach
				 * leaves none open, never a negative count */
	__u32 readable;         /* before was read */
	__u64 start_ns;
	__s64 before[LW_GC_STATS];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct gc_call);
} gc_calls SEC(".maps");

/* One record per collection; the loader drains it at every tick. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} gc_events SEC(".maps");

__noinline int gc_begin(__u32 tgid)
{
	struct lw_py_gc *g = bpf_map_lookup_elem(&py_gc, &tgid);
	struct gc_call *c;

	if (!g)
		return 0;
	c = bpf_task_storage_get(&gc_calls, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c) {
		__sync_fetch_and_add(&g->unreadable, 1);
		return 0;
	}
	if (c->depth++)
		return 0;
	c->readable = !bpf_probe_read_user(c->before, sizeof(c->before), (void *)g->stats_addr);
	/* last: the pause starts when the collector does */
	c->start_ns = bpf_ktime_get_ns();
	return 0;
}

__noinline int gc_end(__u32 tgid)
{
	__u64 now = bpf_ktime_get_ns();
	struct lw_py_gc *g = bpf_map_lookup_elem(&py_gc, &tgid);
	struct lw_gc_event *e;
	struct gc_call *c;

	if (!g)
		return 0;
	c = bpf_task_storage_get(&gc_calls, bpf_get_current_task_btf(), 0, 0);
	if (!c || !c->depth || --c->depth)
		return 0;
	e = bpf_ringbuf_reserve(&gc_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&g->dropped, 1);
		return 0;
	}
	e->tgid = tgid;
	e->pad = 0;
	e->start_ns = c->start_ns;
	e->duration_ns = now - c->start_ns;
	__builtin_memcpy(e->before, c->before, sizeof(e->before));
	if (!c->readable ||
	    bpf_probe_read_user(e->after, sizeof(e->after), (void *)g->stats_addr)) {
		__sync_fetch_and_add(&g->unreadable, 1);
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	/* no wakeup: the loader drains it at its own pace (tracer.c) */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

#endif /* LW_PYTHON_GC_BPF_H */
