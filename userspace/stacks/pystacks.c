// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "probes/allocator.h"
#include "common/hashmap.h"
#include "common/messages.h"
#include "stacks/python.h"
#include "stacks/python_gc.h"
#include "stacks/pystacks.h"
#include "kernel/tracer.h"

/* Between looks at a process whose interpreter is not up yet: from the
 * first delay, doubling, to the last; an interpreter found but still
 * starting is looked at often (its first frames are being missed), a
 * process with none rarely (one may be dlopen'ed, but seldom is). */
#define RETRY_FIRST_S 0.05
#define RETRY_STARTING_MAX_S 0.2
#define RETRY_MAX_S 5.0
/* Between checks that a walked process still has its walker in BPF. */
#define CHECK_S 1.0

enum py_state {
	PY_LOOKING,	/* no interpreter found yet (or not initialized) */
	PY_ON,		/* walked */
	PY_UNSUPPORTED,	/* an interpreter this cannot walk: native stacks only */
};

struct py_proc {
	pid_t pid;
	pid_t parent;		/* forked from it: its target names inherited code */
	enum py_state state;
	struct py_target *t;
	double next_s, delay_s;
	bool found;		/* an interpreter (or a file that may hold one) is there */
	char why[512];
	char said[512];		/* the reason -v gave last */
	/* --python-objects: the allocator's probes, attached; else NULL and
	 * alloc_why says why arenas are counted instead */
	struct lw_object *alloc;
	char alloc_why[512];
	struct lw_object *fin;	/* the Py_FinalizeEx probe, attached */
	bool finalized;		/* it began finalizing: counting stopped there */
	struct py_gc *gc;	/* its collector, once walked */
	struct py_gc_where gc_where;
	struct lw_object *gc_probes; /* those timing its collections, attached */
	bool gc_pending;	/* its collector was not set up yet: look again */
};

/* A Python frame's name, shared by every stack that has it. */
struct py_name {
	struct lw_sym sym;
	char *qualname, *file;
};

struct py_stacks {
	struct tracer *tracer;
	int verbose;
	bool off;		/* --no-python: no interpreter is looked for */
	bool objects;		/* --python-objects: count objects at the allocator */
	struct hashmap *procs;	/* pid -> py_proc */
	struct hashmap *names;	/* (hash of qualname and file, line) -> py_name */
};

static struct lw_key pid_key(pid_t pid)
{
	return (struct lw_key){ (uint32_t)pid, 0 };
}

static void on_gc(const struct lw_gc_event *e, void *ctx);

struct py_stacks *py_stacks__new(struct tracer *tracer, int verbose, bool off, bool objects)
{
	struct py_stacks *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->tracer = tracer;
	p->verbose = verbose;
	p->off = off;
	p->objects = objects;
	p->procs = hashmap__new();
	p->names = hashmap__new();
	if (!p->procs || !p->names) {
		py_stacks__free(p);
		return NULL;
	}
	if (!off)
		tracer__on_gc(tracer, on_gc, p);
	return p;
}

void py_stacks__free(struct py_stacks *p)
{
	struct py_proc *pp;
	struct py_name *n;
	size_t pos = 0;

	if (!p)
		return;
	while (p->procs && (pp = hashmap__next(p->procs, &pos, NULL))) {
		py_target__close(pp->t);
		free(pp->alloc);
		free(pp->fin);
		free(pp->gc_probes);
		py_gc__free(pp->gc);
		free(pp);
	}
	pos = 0;
	while (p->names && (n = hashmap__next(p->names, &pos, NULL))) {
		free(n->qualname);
		free(n->file);
		free(n);
	}
	hashmap__free(p->procs);
	hashmap__free(p->names);
	free(p);
}

static struct py_proc *proc_of(struct py_stacks *p, pid_t pid, bool create)
{
	struct py_proc *pp = hashmap__get(p->procs, pid_key(pid));

	if (pp || !create)
		return pp;
	pp = calloc(1, sizeof(*pp));
	if (!pp)
		return NULL;
	pp->pid = pid;
	pp->delay_s = RETRY_FIRST_S;
	if (hashmap__set(p->procs, pid_key(pid), pp)) {
		free(pp);
		return NULL;
	}
	return pp;
}

/* The walker's numbers from the target's offsets. */
static void walker_numbers(const struct py_offsets *o, struct lw_py_proc *w)
{
	uint32_t last = 0;
	const uint32_t fields[] = { o->frame_code, o->frame_previous, o->frame_instr,
				    o->frame_is_entry, o->frame_owner };

	memset(w, 0, sizeof(*w));
	w->tss_addr = o->tss_addr;
	w->tss_slot_off = o->tss_slot_off;
	w->interp_frames = o->interp_frames;
	w->tstate_frame = o->tstate_frame;
	w->cframe_current_frame = o->cframe_current_frame;
	w->frame_code = o->frame_code;
	w->frame_previous = o->frame_previous;
	w->frame_instr = o->frame_instr;
	w->frame_is_entry = o->frame_is_entry;
	w->frame_owner = o->frame_owner;
	w->owner_cstack = o->owner_cstack;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i] != PY_NO_OFFSET && fields[i] > last)
			last = fields[i];
	w->frame_bytes = last + 8;
	w->arena_start = o->arena_alloc_start;
	w->arena_end = o->arena_alloc_end;
}

/*
 * --python-objects: probes on the interpreter's allocator functions, which
 * count each object in the python category (their arena mmaps, nested in
 * them, are then not counted again). from: a parent's, for a child forked
 * from it (the same image). Refused where the allocator is not understood
 * or is inlined into its callers: arenas are counted there, and stderr
 * says so once.
 */
/* Which of the interpreter's functions are probed, besides the walker. */
enum py_probes {
	PROBES_OBJECTS,  /* its allocator's (--python-objects) */
	PROBES_FINALIZE, /* Py_FinalizeEx */
	PROBES_MAIN,     /* Py_RunMain, before the interpreter is up */
};

/* Probes of kind for pid, copied from a parent's (the same image) or found
 * in t (pid's own file for PROBES_MAIN), and attached: *out, or NULL and
 * an error (-ENOENT: no such function), why saying what happened. */
static int attach_probes(struct py_stacks *p, pid_t pid, struct py_target *t,
			 enum py_probes kind, const struct lw_object *from, struct lw_object **out,
			 char *why, size_t len)
{
	struct lw_object *o = malloc(sizeof(*o));
	int err;

	*out = NULL;
	if (!o) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	if (from) {
		memcpy(o, from, sizeof(*o));
		err = 0;
	} else if (kind == PROBES_OBJECTS) {
		err = py_target__allocator(t, o, why, len);
	} else if (kind == PROBES_FINALIZE) {
		err = py_target__finalize(t, o, why, len);

	} else {
		err = py_main_probe(pid, o, why, len);
	}
	if (!err)
		err = tracer__attach_object(p->tracer, pid, o, why, len);
	if (err)
		free(o);
	else
		*out = o;
	return err;
}

static void count_objects(struct py_stacks *p, struct py_proc *pp, const struct lw_object *from)
{
	if (!p->objects || pp->alloc || (!from && pp->alloc_why[0]))
		return; /* off, on, or refused already */
	if (attach_probes(p, pp->pid, pp->t, PROBES_OBJECTS, from, &pp->alloc, pp->alloc_why,
			  sizeof(pp->alloc_why))) {
		lw_say("PID %d: Python objects not counted one by one, pymalloc's arenas are: %s",
		       pp->pid, pp->alloc_why);
	} else if (p->verbose && !from) {
		lw_say("PID %d: %s:", pp->pid, pp->alloc_why);
		allocator__describe_object(pp->alloc, stderr);
	}
}

/* -v: what was derived from where and checked, one line each. */
static void say_checks(const struct py_target *t)
{
	const char *line = py_target__checks(t);

	while (*line) {
		size_t n = strcspn(line, "\n");

		lw_say("  %.*s", (int)n, line);
		line += n + (line[n] == '\n');
	}
}

/*
 * The probe on Py_FinalizeEx: when the program ends, the interpreter frees
 * what it holds, and a final summary would lose every leak. There the
 * process is held and its probes taken out (main.c), so its counts stay as
 * they were when its work ended. from: as count_objects.
 */
static void watch_finalize(struct py_stacks *p, struct py_proc *pp, const struct lw_object *from)
{
	char why[512];

	if (!pp->fin && attach_probes(p, pp->pid, pp->t, PROBES_FINALIZE, from, &pp->fin, why,
				      sizeof(why)) && p->verbose)
		lw_say("PID %d: its interpreter's finalization is not watched: %s", pp->pid, why);
}

/*
 * Its garbage collector (python_gc.h): the statistics found and read as
 * the baseline, and the probes that time each collection attached, or
 * why not. A child forked from a watched interpreter comes here too, when
 * its own target is opened: its counts start there.
 */
static void watch_gc(struct py_stacks *p, struct py_proc *pp)
{
	struct py_gc_where *w = &pp->gc_where;
	struct lw_object *o = calloc(1, sizeof(*o));
	int64_t stats[LW_GC_STATS], garbage;
	char why[512];
	int err;

	if (!pp->gc)
		pp->gc = py_gc__new();
	if (!pp->gc || !o) {
		free(o);
		return;
	}
	err = py_target__gc(pp->t, o, w, why, sizeof(why));
	pp->gc_pending = err == -EAGAIN;
	if (pp->gc_pending) {
		py_gc__unavailable(pp->gc, why); /* until the next look */
		free(o);
		return;
	}
	if (err && err != -ENOENT) {
		py_gc__unavailable(pp->gc, why);
		lw_say("PID %d: its garbage collections are not watched: %s", pp->pid, why);
		free(o);
		return;
	}
	if (!err && (err = tracer__py_gc(p->tracer, pp->pid, w->stats_addr)) == 0 &&
	    (err = tracer__attach_object(p->tracer, pp->pid, o, why, sizeof(why))) != 0)
		tracer__py_gc(p->tracer, pp->pid, 0);
	if (err) {
		if (w->hook)
			lw_say("PID %d: its garbage collections are counted, their pauses not "
			       "timed: %s", pp->pid, why);
		w->hook = NULL;
		free(o);
	} else {
		pp->gc_probes = o;
	}
	if (py_target__gc_read(pp->t, w, stats, &garbage)) {
		py_gc__unavailable(pp->gc, "its collector's statistics could not be read");
		return;
	}
	py_gc__start(pp->gc, w->hook, why, stats);
	py_gc__read(pp->gc, stats, garbage, 0, 0);
	if (p->verbose)
		lw_say("PID %d: %s", pp->pid, why);
}

/* What the collector says now; once the interpreter began finalizing,
 * what it said then (the program's own last gc.get_stats()). */
static void read_gc(struct py_stacks *p, struct py_proc *pp)
{
	int64_t stats[LW_GC_STATS], garbage;
	struct lw_py_gc counts = { 0 };

	if (!pp->gc || !pp->t || !pp->gc_where.stats_addr ||
	    py_target__gc_read(pp->t, &pp->gc_where, stats, &garbage))
		return;
	tracer__read_py_gc(p->tracer, pp->pid, &counts);
	py_gc__read(pp->gc, stats, garbage, counts.dropped, counts.unreadable);
}

static void on_gc(const struct lw_gc_event *e, void *ctx)
{
	struct py_stacks *p = ctx;
	struct py_proc *pp = proc_of(p, e->tgid, false);

	if (pp && pp->gc)
		py_gc__collection(pp->gc, e);
}

static void try_open(struct py_stacks *p, struct py_proc *pp, double now_s)
{
	struct lw_py_proc w;
	int err;

	err = py_target__open(pp->pid, &pp->t, pp->why, sizeof(pp->why));
	if (!err) {
		const struct py_offsets *o = py_target__offsets(pp->t);

		walker_numbers(o, &w);
		if (w.frame_bytes <= LW_PY_FRAME_BYTES && o->tss_addr)
			count_objects(p, pp, NULL);
		if (pp->alloc)
			w.arena_start = w.arena_end = 0; /* their mmaps are inside its calls */
		if (w.frame_bytes > LW_PY_FRAME_BYTES || !o->tss_addr) {
			snprintf(pp->why, sizeof(pp->why), "Python in %s: its frames do not fit the "
				 "walker", py_target__module(pp->t));
			py_target__close(pp->t);
			pp->t = NULL;
			err = -ENOTSUP;
		} else if ((err = tracer__py_proc(p->tracer, pp->pid, &w))) {
			snprintf(pp->why, sizeof(pp->why), "cannot give the Python walker PID %d: %s",
				 pp->pid, strerror(-err));
		} else {
			pp->state = PY_ON;
			pp->found = true;
			pp->next_s = now_s + CHECK_S;
			watch_finalize(p, pp, NULL);
			watch_gc(p, pp);
			if (p->verbose) {
				lw_say("PID %d: %s: Python frames are walked", pp->pid, pp->why);
				say_checks(pp->t);
			}
			return;
		}
	}
	pp->found = err != -ENOENT;
	if (err == -ENOTSUP && strstr(pp->why, "unsupported Python")) {
		/* a version whose layout this does not know: say so once */
		pp->state = PY_UNSUPPORTED;
		lw_say("PID %d: %s: its stacks are native only", pp->pid, pp->why);
		tracer__py_proc(p->tracer, pp->pid, NULL);
		return;
	}
	/* no interpreter yet, or not initialized: look again later; -v
	 * says each new reason once */
	if (p->verbose && strcmp(pp->said, pp->why)) {
		lw_say("PID %d: no Python frames yet: %s", pp->pid, pp->why);
		snprintf(pp->said, sizeof(pp->said), "%s", pp->why);
	}
	pp->next_s = now_s + pp->delay_s;
	pp->delay_s *= 2;
	if (pp->delay_s > (pp->found ? RETRY_STARTING_MAX_S : RETRY_MAX_S))
		pp->delay_s = pp->found ? RETRY_STARTING_MAX_S : RETRY_MAX_S;
}

/* A walked process lost its walker (its entry went with an exec that
 * could not be followed): look for its interpreter again rather than
 * report it walked while nothing is. */
/* A process looked at anew: a new image (exec), or a new process under a
 * pid seen before (fork, pid reuse). */
static void reset_proc(struct py_proc *pp)
{
	py_target__close(pp->t);
	pp->t = NULL;
	/* its allocator's probes, if any, went with the image or the process */
	free(pp->alloc);
	pp->alloc = NULL;
	pp->alloc_why[0] = 0;
	free(pp->fin);
	pp->fin = NULL;
	free(pp->gc_probes);
	pp->gc_probes = NULL;
	py_gc__free(pp->gc);
	pp->gc = NULL;
	memset(&pp->gc_where, 0, sizeof(pp->gc_where));
	pp->gc_pending = false;
	pp->finalized = false;
	pp->parent = 0;
	pp->state = PY_LOOKING;
	pp->next_s = 0;
	pp->delay_s = RETRY_FIRST_S;
	pp->found = false;
	pp->said[0] = 0;
}

static void check_walked(struct py_stacks *p, struct py_proc *pp, double now_s)
{
	struct lw_py_proc w;

	pp->next_s = now_s + CHECK_S;
	if (!tracer__read_py_proc(p->tracer, pp->pid, &w))
		return;
	snprintf(pp->why, sizeof(pp->why), "PID %d's Python walker was dropped: looking again",
		 pp->pid);
	if (p->verbose)
		lw_say("%s", pp->why);
	reset_proc(pp); /* its exec was not followed, or the pid is another's now */
	try_open(p, pp, now_s);
}

void py_stacks__poll(struct py_stacks *p, pid_t pid, double now_s)
{
	struct py_proc *pp = p->off ? NULL : proc_of(p, pid, true);

	if (pp && pp->gc_pending)
		watch_gc(p, pp); /* its collector is set up early: look at every tick */
	if (!pp || now_s < pp->next_s)
		return;
	if (pp->state == PY_LOOKING)
		try_open(p, pp, now_s);
	else if (pp->state == PY_ON)
		check_walked(p, pp, now_s);
}

void py_stacks__fork(struct py_stacks *p, pid_t child, pid_t parent)
{
	struct py_proc *from = proc_of(p, parent, false), *pp = proc_of(p, child, true);
	struct lw_py_proc w;

	if (pp)
		reset_proc(pp); /* a pid seen before belonged to another process */
	if (!pp || !from || from->state != PY_ON)
		return;
	/* the same image at the same addresses: walk it from its first
	 * allocation; its own target is opened at the next poll */
	pp->parent = parent;
	walker_numbers(py_target__offsets(from->t), &w);
	if (!from->alloc && from->alloc_why[0]) /* refused there: so here */
		snprintf(pp->alloc_why, sizeof(pp->alloc_why), "%s", from->alloc_why);
	if (from->alloc) {
		count_objects(p, pp, from->alloc);
		if (pp->alloc)
			w.arena_start = w.arena_end = 0;
	}
	if (from->fin)
		watch_finalize(p, pp, from->fin);
	tracer__py_proc(p->tracer, child, &w);
}

void py_stacks__exec(struct py_stacks *p, pid_t pid)
{
	struct py_proc *pp = proc_of(p, pid, false);

	if (!pp)
		return;
	reset_proc(pp);
	tracer__py_proc(p->tracer, pid, NULL);
	tracer__py_gc(p->tracer, pid, 0); /* its collector went with the image */
}


void py_stacks__held(struct py_stacks *p, pid_t pid)
{
	struct py_proc *pp = p->off ? NULL : proc_of(p, pid, true);
	struct lw_object *o;
	char why[256];
	int err;

	/* a forked child walks with its parent's numbers already */
	if (!pp || pp->parent || pp->state != PY_LOOKING)
		return;
	err = attach_probes(p, pid, NULL, PROBES_MAIN, NULL, &o, why, sizeof(why));
	/* -ENOENT: no interpreter in it, as for most commands */
	if (err && err != -ENOENT && p->verbose)
		lw_say("PID %d: its interpreter's start is not watched: %s", pid, why);
	free(o); /* the links stay with the tracer, by pid */
}

void py_stacks__started(struct py_stacks *p, pid_t pid, double now_s)
{
	struct py_proc *pp = p->off ? NULL : proc_of(p, pid, false);

	/* looked at while it started, it is ready now */
	if (pp && (pp->state == PY_LOOKING || pp->gc_pending)) {
		pp->next_s = 0; /* look now */
		py_stacks__poll(p, pid, now_s);
	}
}

void py_stacks__finalized(struct py_stacks *p, pid_t pid)
{
	struct py_proc *pp = p ? proc_of(p, pid, false) : NULL;

	if (!pp)
		return;
	read_gc(p, pp); /* held: before it collects for its own end */
	if (pp->gc)
		py_gc__freeze(pp->gc);
	pp->finalized = true;
}

bool py_eval_function(const char *name)
{
	static const char eval[] = "_PyEval_EvalFrameDefault";

	/* and the compiler's pieces of it: .cold, .part.N, .constprop.N */
	return name && !strncmp(name, eval, sizeof(eval) - 1) &&
	       (!name[sizeof(eval) - 1] || name[sizeof(eval) - 1] == '.');
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL;
}

/* The shared name of (qualname, file, line). */
static const struct lw_sym *name_of(struct py_stacks *p, const char *qualname, const char *file,
				    int line)
{
	struct lw_key key = { fnv(fnv(0xcbf29ce484222325ULL, qualname), file), (uint64_t)(int64_t)line };
	struct py_name *n = hashmap__get(p->names, key);

	if (n)
		return &n->sym;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->qualname = strdup(qualname);
	n->file = strdup(file);
	if (!n->qualname || !n->file || hashmap__set(p->names, key, n)) {
		free(n->qualname);
		free(n->file);
		free(n);
		return NULL;
	}
	n->sym.function = n->qualname;
	n->sym.file = n->file;
	n->sym.line = line;
	n->sym.return_site = true;
	return &n->sym;
}

/* The target that names pid's code objects: its own, else (a child not
 * opened yet) its parent's, whose memory it copied. */
static struct py_target *target_for(struct py_stacks *p, pid_t pid)
{
	struct py_proc *pp = proc_of(p, pid, false), *from;

	if (!pp)
		return NULL;
	if (pp->t)
		return pp->t;
	from = pp->parent ? proc_of(p, pp->parent, false) : NULL;
	return from ? from->t : NULL;
}

int py_stacks__merge(struct py_stacks *p, pid_t pid, __u64 raw_id, struct lw_frame *frames,
		     int nr, int max, bool *truncated)
{
	static struct lw_py_stack raw;
	struct lw_frame py[LW_PY_MAX_FRAMES];
	struct py_target *t = target_for(p, pid);

	if (!p || tracer__read_py_stack(p->tracer, raw_id, &raw) || !raw.nr)
		return nr;
	/* name every Python frame */
	for (__u32 i = 0; i < raw.nr; i++) {
		struct py_symbol s;

		memset(&py[i], 0, sizeof(py[i]));
		py[i].addr = raw.frames[i].code;
		py[i].python = true;
		if (t && !py_target__symbolize(t, raw.frames[i].code, raw.frames[i].instr, &s))
			py[i].sym = name_of(p, s.qualname, s.filename, s.line);
	}
	if (raw.truncated)
		*truncated = true;
	return py_stacks__splice(frames, nr, max, py, raw.nr, raw.entries);
}

int py_stacks__splice(struct lw_frame *frames, int nr, int max, const struct lw_frame *py,
		      int nr_py, __u32 entries)
{
	int starts[LW_PY_MAX_FRAMES + 1], groups = 0, next = 0, n = 0;
	struct lw_frame *out;

	/* cut the Python frames into eval-loop calls */
	starts[0] = 0;
	for (int i = 0; i < nr_py; i++)
		if (entries & (1u << i))
			starts[++groups] = i + 1;
	if (starts[groups] < nr_py)
		starts[++groups] = nr_py; /* the walk's last call, cut short */

	out = malloc(max * sizeof(*out));
	if (!out)
		return nr;
	for (int i = 0; i < nr && n < max; i++) {
		const struct lw_sym *sym = frames[i].sym;
		bool eval = sym && py_eval_function(sym->function);

		if (!eval || next >= groups) {
			out[n++] = frames[i];
			continue;
		}
		/* this eval-loop call's Python frames stand for it */
		for (int k = starts[next]; k < starts[next + 1] && n < max; k++)
			out[n++] = py[k];
		next++;
	}
	/* the native stack ended first (frame pointers through code without
	 * them): the rest of the Python stack follows what there is */
	for (; next < groups; next++)
		for (int k = starts[next]; k < starts[next + 1] && n < max; k++)
			out[n++] = py[k];
	memcpy(frames, out, n * sizeof(*out));
	free(out);
	return n;
}

void py_stacks__report(struct py_stacks *p, pid_t pid, struct py_report *out)
{
	struct py_proc *pp = p ? proc_of(p, pid, false) : NULL;
	struct py_target *t;
	struct lw_py_proc w;

	memset(out, 0, sizeof(*out));
	if (!pp)
		return;
	if (pp->state == PY_UNSUPPORTED) {
		out->unsupported = pp->why;
		return;
	}
	t = target_for(p, pid);
	if (!t || tracer__read_py_proc(p->tracer, pid, &w)) {
		/* an interpreter not up yet, or one whose frames did not check
		 * out; a process with none has no python object */
		if (pp->state == PY_LOOKING && pp->found)
			out->pending = pp->why;
		else if (pp->state == PY_ON)
			out->pending = "the Python walker is gone: looking again";
		return;
	}
	out->present = true;
	out->finalized = pp->finalized;
	out->pymalloc = pp->alloc ? "objects" : w.arena_start ? "arenas" : NULL;
	out->pymalloc_why = pp->alloc_why[0] ? pp->alloc_why : NULL;
	out->version_hex = py_target__offsets(t)->version_hex;
	out->module = py_target__module(t);
	out->walked = w.walked;
	out->no_frames = w.no_frames;
	out->unreadable = w.unreadable;
	out->too_deep = w.too_deep;
	out->not_kept = w.not_kept;
	if (pp->gc) {
		if (!pp->finalized)
			read_gc(p, pp);
		py_gc__report(pp->gc, &out->gc);
	}
}
