/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CPython frames at an allocation, for processes the loader found an
 * interpreter in (py_procs). The thread's PyThreadState is read from its
 * pthread TSD slot for _PyRuntime's autoTSSkey, which every Python thread
 * has whether it holds the GIL or not; then the frames from the thread
 * state's current frame through previous. Each frame is its code object
 * and instruction (userspace names them); they are hashed into the stack's
 * id, so two Python paths to one native stack are two stacks, and kept in
 * py_stacks under that id. The walk's state is the thread's py_scratch,
 * looked up at each bpf_loop step (common.bpf.h says why). Included by
 * leakwatch.bpf.c.
 */
#ifndef LW_PYTHON_BPF_H
#define LW_PYTHON_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct lw_py_proc);
	__uint(max_entries, 4096);
} py_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct lw_py_stack);
	__uint(max_entries, 1 << 15);
} py_stacks SEC(".maps");

/* Per thread: the frames being walked, the offsets of the process's
 * interpreter (copied at the walk's start), and the walk's state. */
struct py_scratch {
	struct lw_py_stack stack;
	struct lw_py_proc proc;
	__u64 frame;                       /* the next frame to read, or 0 */
	__u64 h;
	__u32 chk;
	__u32 unreadable;
	__u8 bytes[LW_PY_FRAME_BYTES + 8]; /* the frame read; slack: a field at the last offset */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct py_scratch);
} py_scratch SEC(".maps");

static __always_inline struct py_scratch *py_scratch_get(__u64 flags)
{
	return bpf_task_storage_get(&py_scratch, bpf_get_current_task_btf(), 0, flags);
}

static __always_inline __u64 py_u64(const struct py_scratch *sc, __u32 off)
{
	return *(const __u64 *)&sc->bytes[off & (LW_PY_FRAME_BYTES - 1)];
}

static __always_inline __u32 py_u8(const struct py_scratch *sc, __u32 off)
{
	return sc->bytes[off & (LW_PY_FRAME_BYTES - 1)];
}

/* bpf_loop's step: one frame. Read it, keep it (or skip the eval loop's
 * shim), go to the previous one. */
static long py_step(__u32 i, void *unused)
{
	struct py_scratch *sc = py_scratch_get(0);
	struct lw_py_proc *p;
	__u32 size, n;
	__u64 code, instr;

	if (!sc || !sc->frame)
		return 1;
	p = &sc->proc;
	n = sc->stack.nr;
	if (n >= LW_PY_MAX_FRAMES) {
		sc->stack.truncated = 1;
		return 1;
	}
	/* 1 to LW_PY_FRAME_BYTES, in a form the verifier can follow */
	size = ((p->frame_bytes - 1) & (LW_PY_FRAME_BYTES - 1)) + 1;
	if (bpf_probe_read_user(sc->bytes, size, (void *)sc->frame)) {
		sc->unreadable = 1;
		sc->stack.truncated = 1;
		return 1;
	}
	sc->frame = py_u64(sc, p->frame_previous);
	if (p->owner_cstack != LW_PY_NONE && py_u8(sc, p->frame_owner) == p->owner_cstack) {
		/* the shim an eval-loop call pushes: the frame before it began the call */
		if (n)
			sc->stack.entries |= 1u << ((n - 1) & (LW_PY_MAX_FRAMES - 1));
		return 0;
	}
	code = py_u64(sc, p->frame_code);
	instr = p->interp_frames ? py_u64(sc, p->frame_instr) :
		(__u64)(*(const __u32 *)&sc->bytes[p->frame_instr & (LW_PY_FRAME_BYTES - 1)]);
	sc->stack.frames[n & (LW_PY_MAX_FRAMES - 1)].code = code;
	sc->stack.frames[n & (LW_PY_MAX_FRAMES - 1)].instr = instr;
	/* 3.10: every frame is its own eval-loop call; 3.11: is_entry */
	if (!p->interp_frames ||
	    (p->frame_is_entry != LW_PY_NONE && py_u8(sc, p->frame_is_entry)))
		sc->stack.entries |= 1u << (n & (LW_PY_MAX_FRAMES - 1));
	sc->h = (sc->h ^ code) * HASH_MUL;
	sc->h = (sc->h ^ instr) * HASH_MUL;
	sc->chk = (sc->chk ^ (__u32)(code >> 4) ^ (__u32)instr) * 0x01000193;
	sc->stack.nr = n + 1;
	return 0;
}

/* The current frame of the calling thread's interpreter, or 0. */
static __always_inline __u64 py_current_frame(const struct lw_py_proc *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 tp = task->thread.fsbase, slot, tstate, frame;
	__u32 tss[2];

	/* the key as the process has it now: a forked child makes it anew */
	if (bpf_probe_read_user(tss, sizeof(tss), (void *)p->tss_addr) || tss[0] != 1 ||
	    tss[1] >= LW_PY_TSD_KEYS)
		return 0;
	slot = tp + p->tss_slot_off + 16 * (__u64)tss[1];
	if (tss[1] >= 32) {
		/* glibc's second level: specific[key / 32][key % 32], the
		 * array of pointers right after the first block of 32 */
		if (bpf_probe_read_user(&slot, sizeof(slot),
					(void *)(tp + p->tss_slot_off - 8 + 32 * 16 + 8 * (tss[1] / 32))) ||
		    !slot)
			return 0;
		slot += 16 * (__u64)(tss[1] % 32) + 8;
	}
	if (bpf_probe_read_user(&tstate, sizeof(tstate), (void *)slot) || !tstate ||
	    bpf_probe_read_user(&frame, sizeof(frame), (void *)(tstate + p->tstate_frame)))
		return 0;
	if (frame && p->cframe_current_frame != LW_PY_NONE &&
	    bpf_probe_read_user(&frame, sizeof(frame), (void *)(frame + p->cframe_current_frame)))
		return 0;
	return frame;
}

/*
 * Walks the current thread's Python frames, if its process has an
 * interpreter, into the thread's scratch, and mixes them into the thread's
 * stack walk's hashes. Returns 1 when there are frames to keep (py_keep).
 */
static __noinline int py_walk(__u32 tgid)
{
	struct inflight *st = inflight_get(0);
	struct py_scratch *sc;
	struct lw_py_proc *p;
	__u64 frame;

	REFUSED_IN_TESTS(LW_PART_PYTHON_WALK);
	p = bpf_map_lookup_elem(&py_procs, &tgid);
	if (!p || !st)
		return 0;
	frame = py_current_frame(p);
	sc = frame ? py_scratch_get(BPF_LOCAL_STORAGE_GET_F_CREATE) : NULL;
	if (!sc)
		goto none;
	sc->proc = *p;
	sc->stack.nr = 0;
	sc->stack.entries = 0;
	sc->stack.truncated = 0;
	sc->unreadable = 0;
	sc->frame = frame;
	sc->h = 0x84222325cbf29ce4ULL;
	sc->chk = 0x1b873593;
	bpf_loop(2 * LW_PY_MAX_FRAMES + 2, py_step, NULL, 0);
	if (sc->frame && sc->stack.nr >= LW_PY_MAX_FRAMES)
		sc->stack.truncated = 1;
	if (!sc->stack.nr)
		goto none;
	if (sc->unreadable)
		__sync_fetch_and_add(&p->unreadable, 1);
	else if (sc->stack.truncated)
		__sync_fetch_and_add(&p->too_deep, 1);
	__sync_fetch_and_add(&p->walked, 1);
	st->walk.h ^= sc->h ^ sc->stack.nr;
	st->walk.chk ^= sc->chk;
	return 1;
none:
	__sync_fetch_and_add(&p->no_frames, 1);
	return 0;
}

/* Keeps the walked frames under the stack's id (once per id). */
static __always_inline void py_keep(__u32 tgid, __u64 id)
{
	struct py_scratch *sc = py_scratch_get(0);
	struct lw_py_proc *p;
	int err; /* an int: see map_err() */

	if (!sc || bpf_map_lookup_elem(&py_stacks, &id))
		return;
	err = map_err(bpf_map_update_elem(&py_stacks, &id, &sc->stack, BPF_NOEXIST));
	if (err && err != -EEXIST && (p = bpf_map_lookup_elem(&py_procs, &tgid)))
		__sync_fetch_and_add(&p->not_kept, 1);
}

/* An mmap returning into pymalloc's arena allocator makes an arena: the
 * python category; any other is the program's own. */
static __always_inline __u32 py_arena_category(__u32 tgid, __u64 sp)
{
	struct lw_py_proc *p = bpf_map_lookup_elem(&py_procs, &tgid);
	__u64 ret;

	if (!p || !p->arena_start || bpf_probe_read_user(&ret, sizeof(ret), (void *)sp))
		return LW_CAT_MMAP;
	return ret > p->arena_start && ret <= p->arena_end ? LW_CAT_PYTHON : LW_CAT_MMAP;
}

#endif /* LW_PYTHON_BPF_H */
