// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The loaded BPF side: attaching per process, events, the maps read and
 * written (tracer_load.c opens and loads it). */
#include <errno.h>
#include <signal.h>
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
#include "kernel/guardian.h"

/* per object: one link for its entries, one for its returns */
#define LINKS_PER_OBJECT 2

int tracer_on_event(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;

	if (size >= sizeof(struct lw_event) && t->event_fn)
		t->event_fn(data, t->event_ctx);
	return 0;
}

int tracer_on_verify(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;

	if (size >= sizeof(struct lw_verify) && t->verify_fn)
		t->verify_fn(data, t->verify_ctx);
	return 0;
}

int tracer_on_gc(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;

	if (size >= sizeof(struct lw_gc_event) && t->gc_fn)
		t->gc_fn(data, t->gc_ctx);
	return 0;
}

void tracer__on_gc(struct tracer *t, tracer_gc_fn fn, void *ctx)
{
	t->gc_fn = fn;
	t->gc_ctx = ctx;
}

int tracer__py_gc(struct tracer *t, pid_t pid, uint64_t stats_addr)
{
	struct lw_py_gc g = { .stats_addr = stats_addr };
	__u32 key = pid;

	if (!stats_addr)
		return bpf_map__delete_elem(t->skel->maps.py_gc, &key, sizeof(key), 0);
	return bpf_map__update_elem(t->skel->maps.py_gc, &key, sizeof(key), &g, sizeof(g), 0) ?
	       -errno : 0;
}

int tracer__read_py_gc(struct tracer *t, pid_t pid, struct lw_py_gc *out)
{
	__u32 key = pid;

	return bpf_map__lookup_elem(t->skel->maps.py_gc, &key, sizeof(key), out, sizeof(*out), 0) ?
	       -errno : 0;
}

uint64_t tracer__verify_dropped(const struct tracer *t)
{
	return t->skel->bss ? __atomic_load_n(&t->skel->bss->verify_dropped, __ATOMIC_RELAXED) : 0;
}

void tracer__consume_verify(struct tracer *t, tracer_verify_fn fn, void *ctx)
{
	if (!t->verify)
		return;
	t->verify_fn = fn;
	t->verify_ctx = ctx;
	ring_buffer__consume(t->verify);
	t->verify_fn = NULL;
}

int tracer__wait_events(struct tracer *t, int timeout_ms, tracer_event_fn fn, void *ctx)
{
	int n;

	t->event_fn = fn;
	t->event_ctx = ctx;
	n = ring_buffer__poll(t->events, timeout_ms);
	if (t->gc)
		ring_buffer__consume(t->gc);
	t->event_fn = NULL;
	return n < 0 && n != -EINTR ? n : 0;
}

static int keep_link(struct tracer *t, struct bpf_link *link, pid_t pid)
{
	if (t->nr_links == t->cap_links) {
		size_t cap = t->cap_links ? t->cap_links * 2 : 8;
		struct tracked_link *v = realloc(t->links, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->links = v;
		t->cap_links = cap;
	}
	t->links[t->nr_links++] = (struct tracked_link){ link, pid };
	return 0;
}

void tracer__detach_pid(struct tracer *t, pid_t pid)
{
	size_t kept = 0;

	for (size_t i = 0; i < t->nr_links; i++) {
		if (t->links[i].pid == pid)
			bpf_link__destroy(t->links[i].link);
		else
			t->links[kept++] = t->links[i];
	}
	t->nr_links = kept;
}

int tracer__watch_exec(struct tracer *t, pid_t pid, bool follow_forks)
{
	__u32 key = pid, val = LW_EXEC_WATCHED | (follow_forks ? LW_FOLLOW_FORKS : 0);

	return bpf_map__update_elem(t->skel->maps.exec_watch, &key, sizeof(key), &val, sizeof(val), 0);
}

int tracer__may_hold(struct tracer *t, pid_t pid)
{
	__u32 key = pid, val = LW_EXEC_HELD;

	return bpf_map__update_elem(t->skel->maps.exec_watch, &key, sizeof(key), &val, sizeof(val),
				    BPF_NOEXIST);
}

void tracer__continue(struct tracer *t, pid_t pid)
{
	__u32 key = pid, val;

	if (!bpf_map__lookup_elem(t->skel->maps.exec_watch, &key, sizeof(key), &val, sizeof(val), 0)
	    && (val & LW_EXEC_HELD)) {
		val &= ~LW_EXEC_HELD;
		bpf_map__update_elem(t->skel->maps.exec_watch, &key, sizeof(key), &val, sizeof(val),
				     BPF_EXIST);
	}
	kill(pid, SIGCONT);
}

int tracer__exec_watch_fd(const struct tracer *t)
{
	return bpf_map__fd(t->skel->maps.exec_watch);
}

void tracer__unwatch(struct tracer *t, pid_t pid)
{
	__u32 key = pid;

	bpf_map__delete_elem(t->skel->maps.exec_watch, &key, sizeof(key), 0);
}

bool tracer__exec_seen(struct tracer *t, pid_t pid)
{
	__u32 key = pid, val;

	if (bpf_map__lookup_elem(t->skel->maps.exec_watch, &key, sizeof(key), &val, sizeof(val), 0) ||
	    !(val & LW_EXEC_SEEN))
		return false;
	val &= ~LW_EXEC_SEEN;
	bpf_map__update_elem(t->skel->maps.exec_watch, &key, sizeof(key), &val, sizeof(val), 0);
	return true;
}

/* Deletes every entry of map whose key starts with tgid (all keys here do). */
static void delete_by_tgid(struct bpf_map *map, pid_t tgid)
{
	size_t key_size = bpf_map__key_size(map);
	char key[32], next[32], doomed[32];
	bool have_doomed = false;
	int fd = bpf_map__fd(map);
	void *prev = NULL;

	/* delete one step behind the walk, so the walk's key stays valid */
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		if (have_doomed)
			bpf_map_delete_elem(fd, doomed);
		have_doomed = *(__u32 *)next == (__u32)tgid;
		if (have_doomed)
			memcpy(doomed, next, key_size);
		memcpy(key, next, key_size);
		prev = key;
	}
	if (have_doomed)
		bpf_map_delete_elem(fd, doomed);
}

void tracer__forget_process(struct tracer *t, pid_t pid)
{
	delete_by_tgid(t->skel->maps.granules, pid);
	growth__forget(t, pid);
	delete_by_tgid(t->skel->maps.allocs, pid);
	delete_by_tgid(t->skel->maps.mmaps, pid);
	delete_by_tgid(t->skel->maps.stats, pid);
	delete_by_tgid(t->skel->maps.py_procs, pid);
	delete_by_tgid(t->skel->maps.py_gc, pid);
}

static int attach_error(const struct lw_object *o, pid_t pid, int err, char *why, size_t len)
{
	if (err == -ESRCH || err == -ENOENT) {
		snprintf(why, len, "PID %d exited before its probes were in", pid);
		return LW_EXIT_TARGET;
	}
	snprintf(why, len, "cannot attach to %s in PID %d: %s", o->module, pid, strerror(-err));
	return err == -EPERM ? LW_EXIT_PRIVILEGE : LW_EXIT_FAILURE;
}

/* Without uprobe_multi: one perf-event uprobe per function, for pid. */
static int attach_each(struct tracer *t, struct bpf_program *prog, pid_t pid,
		       const struct lw_object *o, const unsigned long *offsets, const __u64 *cookies,
		       const unsigned long *ref_ctrs, size_t n, bool retprobe)
{
	for (size_t i = 0; i < n; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uopts, .bpf_cookie = cookies[i], .retprobe = retprobe,
			    .ref_ctr_offset = ref_ctrs[i]);
		struct bpf_link *link;
		int err;

		link = bpf_program__attach_uprobe_opts(prog, t->mode == TRACER_FLOOR_FILE ? -1 : pid,
						       o->attach_path, offsets[i], &uopts);
		if (!link)
			return -errno;
		err = keep_link(t, link, pid);
		if (err) {
			bpf_link__destroy(link);
			return err;
		}
	}
	return 0;
}

/* One link for the object's return probes, one for its entries. */
static int attach_probes(struct tracer *t, pid_t pid, const struct lw_object *o, char *why,
			 size_t len)
{
	unsigned long offsets[LW_MAX_PROBES];
	__u64 cookies[LW_MAX_PROBES];
	unsigned long ref_ctrs[LW_MAX_PROBES];
	LIBBPF_OPTS(bpf_uprobe_multi_opts, opts, .offsets = offsets, .cookies = cookies);
	bool floor = t->mode == TRACER_FLOOR_ENTRY || t->mode == TRACER_FLOOR_OWN ||
		     t->mode == TRACER_FLOOR_FILE;
	bool any_ref_ctr = false, at_entry = t->mode == TRACER_FLOOR_ENTRY;
	struct bpf_program *progs[LINKS_PER_OBJECT] = {
		/* Returns first: an entry seen before its return probe exists
		 * would leave a call that never completes. */
		floor ? t->skel->progs.floor_exit : t->skel->progs.alloc_exit,
		floor ? t->skel->progs.floor_enter : t->skel->progs.alloc_enter,
	};


	for (int i = 0; i < LINKS_PER_OBJECT; i++) {
		struct bpf_link *link;
		int err;

		opts.cnt = 0;
		opts.retprobe = i == 0;
		for (int j = 0; j < o->nr_probes; j++) {
			const struct lw_probe *p = &o->probes[j];
			enum lw_func f = p->func;

			if (p->skipped && !at_entry)
				continue;
			/* frees return nothing needed; LW_FUNC_NEW must not be
			 * return-probed (leakwatch.h) */
			if (opts.retprobe && (f == LW_FUNC_FREE || f == LW_FUNC_DELETE ||
					      f == LW_FUNC_MUNMAP || f == LW_FUNC_NEW ||
					      f == LW_FUNC_FINALIZE || f == LW_FUNC_PYMAIN ||
					      f == LW_FUNC_GC_START || f == LW_FUNC_GC_DONE))
				continue;
			offsets[opts.cnt] = at_entry ? p->entry_offset : p->offset;
			ref_ctrs[opts.cnt] = p->ref_ctr_offset;
			any_ref_ctr |= p->ref_ctr_offset != 0;
			/* operator new's extent, from the probe point on */
			cookies[opts.cnt] = LW_COOKIE(f, f == LW_FUNC_NEW ?
						      p->size - (p->offset - p->entry_offset) : 0) |
					    (p->pymalloc ? LW_COOKIE_PYMALLOC : 0);
			opts.cnt++;
		}
		if (!opts.cnt)
			continue;
		opts.ref_ctr_offsets = any_ref_ctr ? ref_ctrs : NULL;
		if (!t->multi) {
			err = attach_each(t, progs[i], pid, o, offsets, cookies, ref_ctrs, opts.cnt,
					  opts.retprobe);
			if (err)
				return attach_error(o, pid, err, why, len);
			continue;
		}
		/* the file-wide floor: what probing a file for every process
		 * mapping it costs the others (the benchmark's bystander) */
		link = bpf_program__attach_uprobe_multi(progs[i], t->mode == TRACER_FLOOR_FILE ? -1 : pid,
							o->attach_path, NULL, &opts);
		if (!link)
			return attach_error(o, pid, -errno, why, len);
		if (keep_link(t, link, pid)) {
			bpf_link__destroy(link);
			snprintf(why, len, "out of memory");
			return LW_EXIT_FAILURE;
		}
	}
	return 0;
}

int tracer__attach_object(struct tracer *t, pid_t pid, const struct lw_object *o, char *why,
			  size_t len)
{
	/* --growth: watched through exec_watch, with nothing in the process */
	if (t->mode == TRACER_GROWTH)
		return 0;
	return attach_probes(t, pid, o, why, len);
}

int tracer__zoom(struct tracer *t, pid_t pid, const struct lw_plan *plan, char *why, size_t len)
{
	if (!t->zoom) {
		snprintf(why, len, "the per-call programs are not loaded");
		return LW_EXIT_FAILURE;
	}
	for (int i = 0; i < plan->nr_objects; i++) {
		int err = attach_probes(t, pid, &plan->objects[i], why, len);

		if (err) {
			tracer__detach_pid(t, pid);
			return err;
		}
	}
	return 0;
}

void tracer__zoom_end(struct tracer *t, pid_t pid)
{
	tracer__detach_pid(t, pid);
	delete_by_tgid(t->skel->maps.allocs, pid);
	delete_by_tgid(t->skel->maps.mmaps, pid);
}

int tracer__attach(struct tracer *t, pid_t pid, const struct lw_plan *plan, char *why, size_t len)
{
	for (int i = 0; i < plan->nr_objects; i++) {
		int err = tracer__attach_object(t, pid, &plan->objects[i], why, len);

		if (err)
			return err;
	}
	return 0;
}

struct bpf_link *tracer__stop_at(struct tracer *t, pid_t pid, const char *path, uint64_t offset,
				 char *why, size_t len)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts);
	struct bpf_link *link;

	if (t->dropped[LW_PART_COMMAND_HOLD]) {
		snprintf(why, len, "this kernel's verifier refused the program that holds a command "
			 "at its start (leakwatch --check says why): watch it with -p PID instead");
		return NULL;
	}
	link = bpf_program__attach_uprobe_opts(t->skel->progs.stop_process, pid, path, offset, &opts);
	if (!link)
		snprintf(why, len, "cannot hold the command at its dynamic linker %s: %s", path,
			 strerror(errno));
	return link;
}

void tracer__release_stop(struct tracer *t, struct bpf_link *link)
{
	bpf_link__destroy(link);
}

void tracer__free(struct tracer *t)
{
	if (!t)
		return;
	/* no process is held from here on; then those held already go on,
	 * handled or not */
	bpf_link__destroy(t->syscall_link);
	bpf_link__destroy(t->fork_link);
	bpf_link__destroy(t->exec_link);
	t->fork_link = t->exec_link = t->syscall_link = NULL;
	if (t->skel)
		guardian__continue_held(bpf_map__fd(t->skel->maps.exec_watch), false);
	for (size_t i = 0; i < t->nr_links; i++)
		bpf_link__destroy(t->links[i].link);
	for (size_t i = 0; i < sizeof(t->growth_links) / sizeof(t->growth_links[0]); i++)
		bpf_link__destroy(t->growth_links[i]);
	growth__free(t);
	free(t->links);
	ring_buffer__free(t->events);
	ring_buffer__free(t->verify);
	ring_buffer__free(t->gc);
	leakwatch_bpf__destroy(t->skel);
	free(t->logs);
	free(t);
}

#define BATCH 1024

int tracer__read_stats(struct tracer *t, tracer_stats_fn fn, void *ctx)
{
	static struct lw_stats_key keys[BATCH];
	static struct lw_stats vals[BATCH];
	int fd = bpf_map__fd(t->skel->maps.stats);
	struct lw_stats_key batch; /* the kernel's cursor; opaque, key-sized */
	bool first = true;
	__u32 count;
	int err;

	if (t->mode == TRACER_GROWTH) {
		err = growth__read(t, fn, ctx);
		if (err || !t->zoom)
			return err;
		/* and the per-call totals of the zoom windows, below */
	}
	do {
		count = BATCH;
		err = bpf_map_lookup_batch(fd, first ? NULL : &batch, &batch, keys, vals, &count, NULL);
		if (err && errno != ENOENT)
			return -errno;
		for (__u32 i = 0; i < count; i++)
			fn(&keys[i], &vals[i], ctx);
		first = false;
	} while (!err);
	return 0;
}

int tracer__read_stack(struct tracer *t, __u64 id, struct lw_stack *out)
{
	if (bpf_map__lookup_elem(t->skel->maps.stacks, &id, sizeof(id), out, sizeof(*out), 0))
		return -errno;
	if (out->nr > LW_MAX_STACK_DEPTH)
		out->nr = LW_MAX_STACK_DEPTH;
	return 0;
}

int tracer__unwind_rows(struct tracer *t, __u32 first, const struct lw_cfi_row *rows, __u32 n)
{
	int fd = bpf_map__fd(t->skel->maps.cfi_rows);
	__u32 keys[1024];

	for (__u32 done = 0; done < n;) {
		__u32 chunk = n - done < 1024 ? n - done : 1024;
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		for (__u32 i = 0; i < chunk; i++)
			keys[i] = first + done + i;
		if (bpf_map_update_batch(fd, keys, rows + done, &chunk, &opts))
			return -errno;
		done += chunk;
	}
	return 0;
}

int tracer__unwind_proc(struct tracer *t, pid_t pid, const struct lw_cfi_proc *proc)
{
	__u32 key = pid;

	if (!proc)
		return bpf_map__delete_elem(t->skel->maps.unwind_maps, &key, sizeof(key), 0);
	return bpf_map__update_elem(t->skel->maps.unwind_maps, &key, sizeof(key), proc,
				    sizeof(*proc), 0) ? -errno : 0;
}

int tracer__read_proc(struct tracer *t, __u32 tgid, struct lw_proc_counters *out)
{
	if (bpf_map__lookup_elem(t->skel->maps.procs, &tgid, sizeof(tgid), out, sizeof(*out), 0)) {
		memset(out, 0, sizeof(*out));
		return errno == ENOENT ? 0 : -errno;
	}
	return 0;
}

int tracer__py_proc(struct tracer *t, pid_t pid, const struct lw_py_proc *proc)
{
	__u32 key = pid;

	if (!proc)
		return bpf_map__delete_elem(t->skel->maps.py_procs, &key, sizeof(key), 0);
	return bpf_map__update_elem(t->skel->maps.py_procs, &key, sizeof(key), proc,
				    sizeof(*proc), 0) ? -errno : 0;
}

int tracer__read_py_proc(struct tracer *t, pid_t pid, struct lw_py_proc *out)
{
	__u32 key = pid;

	return bpf_map__lookup_elem(t->skel->maps.py_procs, &key, sizeof(key), out, sizeof(*out), 0) ?
	       -errno : 0;
}

int tracer__read_py_stack(struct tracer *t, __u64 id, struct lw_py_stack *out)
{
	if (bpf_map__lookup_elem(t->skel->maps.py_stacks, &id, sizeof(id), out, sizeof(*out), 0))
		return -errno;
	if (out->nr > LW_PY_MAX_FRAMES)
		out->nr = LW_PY_MAX_FRAMES;
	return 0;
}
