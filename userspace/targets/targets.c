// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <limits.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "targets/command.h"
#include "common/elf_symbols.h"
#include "common/exitcodes.h"
#include "common/messages.h"
#include "common/proc.h"
#include "targets/targets.h"

/* A plan shared by a process and the children it forked: one per image,
 * not one per process (a plan is large, and workers are many). */
struct shared_plan {
	int refs;
	struct lw_plan plan;
};

#define SHARED(p) ((struct shared_plan *)((char *)(p) - offsetof(struct shared_plan, plan)))

static struct lw_plan *plan_new(void)
{
	struct shared_plan *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return NULL;
	sp->refs = 1;
	return &sp->plan;
}

/* The allocator's functions in pid's image. --growth probes none of them:
 * a process without a known allocator (static, Go) is watched all the same. */
static int find_allocator(pid_t pid, struct lw_plan *plan, const struct tracer *tracer, char *why,
			  size_t len)
{
	int err = allocator__plan(pid, plan, why, len);

	if (err && tracer__growth(tracer))
		plan->nr_objects = 0; /* part of an allocator is none: nothing to zoom in on */
	return tracer__growth(tracer) ? 0 : err;
}

static target_held_fn held_fn;
static void *held_ctx;

void target__on_held(target_held_fn fn, void *ctx)
{
	held_fn = fn;
	held_ctx = ctx;
}

static void before_run(pid_t pid, bool new_image)
{
	if (held_fn)
		held_fn(held_ctx, pid, new_image);
}

void target__release(struct target *t)
{
	if (t->plan && --SHARED(t->plan)->refs == 0)
		free(SHARED(t->plan));
	t->plan = NULL;
}

/* Its name, executable and namespace PID, read again after an exec. */
static void identify(struct target *t)
{
	char link[64];
	ssize_t n;

	proc__comm(t->pid, t->comm, sizeof(t->comm));
	snprintf(link, sizeof(link), "/proc/%d/exe", t->pid);
	n = readlink(link, t->exe, sizeof(t->exe) - 1);
	t->exe[n > 0 ? n : 0] = 0;
	t->ns_pid = proc__ns_pid(t->pid);
}

int target__attach_pid(struct target *t, pid_t pid, struct tracer *tracer, bool follow_forks,
		       char *why, size_t len)
{
	pid_t tgid;
	int err;

	memset(t, 0, sizeof(*t));
	err = proc__check_target(pid, why, len);
	if (err)
		return err;
	/* a thread id stands for its process: probes and totals are per process */
	tgid = proc__tgid(pid);
	t->pid = tgid > 0 ? tgid : pid;
	t->plan = plan_new();
	if (!t->plan) {
		snprintf(why, len, "out of memory");
		return LW_EXIT_FAILURE;
	}
	err = find_allocator(t->pid, t->plan, tracer, why, len);
	/* its modules read (and their unwind tables loaded) before the probes
	 * go in: no allocation finds its code without a table */
	if (!err)
		before_run(t->pid, false);
	if (!err)
		err = tracer__attach(tracer, t->pid, t->plan, why, len);
	if (err) {
		target__release(t);
		return err;
	}
	identify(t);
	t->alive = true;
	t->follow_forks = follow_forks;
	if (tracer__watch_exec(tracer, t->pid, follow_forks))
		lw_say("warning: cannot follow exec%s in PID %d", follow_forks ? " and fork" : "",
		       t->pid);
	return 0;
}

int target__adopt_child(struct target *t, pid_t pid, const struct target *parent,
			struct tracer *tracer, char *why, size_t len)
{
	int err;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	t->parent = parent->pid;
	t->follow_forks = true;
	t->plan = parent->plan;
	SHARED(t->plan)->refs++;
	identify(t);
	err = tracer__attach(tracer, pid, t->plan, why, len);
	t->alive = proc__alive(pid);
	if (!err)
		before_run(pid, false);
	/* never left stopped, whatever happened */
	tracer__continue(tracer, pid);
	return err;
}

static void set_exit(struct target *t, int status)
{
	t->alive = false;
	if (WIFSIGNALED(status)) {
		t->exit_signal = WTERMSIG(status);
		t->exit_status = 128 + t->exit_signal;
	} else {
		t->exit_status = WEXITSTATUS(status);
	}
}

/* Waits until pid stops (or ends): a command of ours through waitpid,
 * another process by its state in /proc. 0, or -errno when it is lost. */
static int wait_stop(const struct target *t, pid_t pid, int *status)
{
	if (t->started)
		return waitpid(pid, status, WUNTRACED) < 0 ? -errno : 0;
	/* not our child: poll, for as long as a loader holding it may take */
	for (int i = 0; i < 5000; i++) {
		char state = proc__state(pid);

		if (state == 'T' || state == 't') {
			*status = 0x137f; /* as waitpid says "stopped by SIGSTOP" */
			return 0;
		}
		if (!state || state == 'Z' || state == 'X') {
			*status = 0;
			return 0;
		}
		usleep(1000);
	}
	return -ETIMEDOUT;
}

/* The held process stops at its hold point, perhaps several times (the
 * dynamic linker's hook runs before and after it maps the libraries):
 * attach once the allocator is mapped. */
static int attach_when_loaded(struct target *t, pid_t pid, const char *what,
			      struct tracer *tracer, char *why, size_t len)
{
	int status, err, stops = 0;

	for (;;) {
		err = wait_stop(t, pid, &status);
		if (err) {
			snprintf(why, len, "lost '%s' (PID %d): %s", what, pid, strerror(-err));
			return LW_EXIT_FAILURE;
		}
		if (!WIFSTOPPED(status)) {
			set_exit(t, status);
			snprintf(why, len, "the command '%s' ended before its probes were in (exit status %d)",
				 what, t->exit_status);
			return LW_EXIT_TARGET;
		}
		err = allocator__plan(pid, t->plan, why, len);
		/* --growth needs no allocator: its libraries are mapped by
		 * the hook's second stop */
		if (err && tracer__growth(tracer) && ++stops == 2)
			t->plan->nr_objects = 0; /* nothing to zoom in on */
		if (err == 0 || stops == 2)
			return tracer__attach(tracer, pid, t->plan, why, len);
		kill(pid, SIGCONT); /* not loaded yet */
	}
}

int target__start_command(struct target *t, char *const argv[], struct tracer *tracer,
			  bool follow_forks, char *why, size_t len)
{
	struct command cmd;
	struct bpf_link *hold;
	int err;

	memset(t, 0, sizeof(*t));
	t->started = true;
	t->plan = plan_new();
	if (!t->plan) {
		snprintf(why, len, "out of memory");
		return LW_EXIT_FAILURE;
	}
	err = command__spawn(argv, &cmd, why, len);
	if (err) {
		target__release(t);
		return err;
	}
	tracer__may_hold(tracer, cmd.pid);
	hold = tracer__stop_at(tracer, cmd.pid, cmd.hold_path, cmd.hold_offset, why, len);
	if (!hold) {
		tracer__unwatch(tracer, cmd.pid);
		command__abort(&cmd);
		target__release(t);
		return LW_EXIT_FAILURE;
	}
	command__go(&cmd);
	err = attach_when_loaded(t, cmd.pid, cmd.exe, tracer, why, len);
	tracer__release_stop(tracer, hold);
	if (!err && tracer__watch_exec(tracer, cmd.pid, follow_forks))
		lw_say("warning: cannot follow exec%s in PID %d", follow_forks ? " and fork" : "",
		       cmd.pid);
	t->follow_forks = follow_forks;
	if (err) {
		tracer__unwatch(tracer, cmd.pid);
		if (t->exit_status || t->exit_signal)
			cmd.pid = 0; /* already reaped */
		command__abort(&cmd);
		target__release(t);
		return err;
	}
	t->pid = cmd.pid;
	t->alive = true;
	identify(t);
	before_run(t->pid, false);
	kill(t->pid, SIGCONT);
	return 0;
}

/* Where the new image of pid must be held: its dynamic linker's hook. */
static int exec_hold_point(pid_t pid, char *path, size_t len, uint64_t *offset)
{
	struct lw_maps maps;
	int err = -ENOENT;

	if (maps__read(pid, &maps))
		return -ESRCH;
	for (size_t i = 0; i < maps.n && err; i++) {
		const struct lw_map *m = &maps.v[i];
		struct elf_symbols *es;
		int fd;

		if (!m->path || !m->exec || (fd = proc__open_mapped(pid, m, NULL, 0)) < 0)
			continue;
		es = elf_symbols__open(fd);
		if (es && elf_symbols__func_offset(es, "_dl_debug_state", offset) == 0) {
			proc__mapped_path(pid, m, path, len);
			err = 0;
		}
		elf_symbols__close(es);
		close(fd);
	}
	maps__free(&maps);
	return err;
}

/* A started command exec'd and is stopped at its new image's first
 * instruction: the old image's memory is gone, its probes go too. */
static int follow_exec(struct target *t, struct tracer *tracer, char *why, size_t len)
{
	char hold_path[96];
	struct bpf_link *hold = NULL;
	uint64_t offset;
	int err;

	tracer__detach_pid(tracer, t->pid);
	tracer__forget_process(tracer, t->pid);
	identify(t);
	/* a new image: a plan of its own (the old one may be its parent's) */
	target__release(t);
	t->plan = plan_new();
	if (!t->plan) {
		snprintf(why, len, "out of memory");
		return LW_EXIT_FAILURE;
	}
	if (exec_hold_point(t->pid, hold_path, sizeof(hold_path), &offset) == 0) {
		hold = tracer__stop_at(tracer, t->pid, hold_path, offset, why, len);
		if (!hold)
			return LW_EXIT_FAILURE;
		kill(t->pid, SIGCONT);
		err = attach_when_loaded(t, t->pid, t->comm, tracer, why, len);
		tracer__release_stop(tracer, hold);
	} else {
		/* static: everything is mapped already */
		err = find_allocator(t->pid, t->plan, tracer, why, len);
		if (!err)
			err = tracer__attach(tracer, t->pid, t->plan, why, len);
	}
	if (!err && t->alive)
		before_run(t->pid, true);
	if (t->alive)
		kill(t->pid, SIGCONT);
	return err;
}

enum target_state target__poll(struct target *t, struct tracer *tracer)
{
	char why[PATH_MAX + 128];
	int status;

	if (!t->alive)
		return TARGET_GONE;
	if (!t->started) {
		t->alive = proc__alive(t->pid);
		if (!t->alive) {
			tracer__unwatch(tracer, t->pid);
			return TARGET_GONE;
		}
		if (!tracer__exec_seen(tracer, t->pid))
			return TARGET_RUNNING;
	} else {
		if (waitpid(t->pid, &status, WNOHANG | WUNTRACED) != t->pid)
			return TARGET_RUNNING;
		if (!WIFSTOPPED(status)) {
			set_exit(t, status);
			tracer__unwatch(tracer, t->pid);
			return TARGET_GONE;
		}
		if (!tracer__exec_seen(tracer, t->pid))
			return TARGET_RUNNING; /* stopped by someone else: theirs to continue */
	}
	if (follow_exec(t, tracer, why, sizeof(why))) {
		lw_say("PID %d exec'd %s and cannot be followed: %s", t->pid, t->comm, why);
		return t->alive ? TARGET_RUNNING : TARGET_GONE;
	}
	return TARGET_EXECED;
}

void target__describe(const struct target *t, FILE *f)
{
	fprintf(f, "leakwatch: PID %d (%s): allocator functions in %s order:\n", t->pid, t->comm,
		t->plan->link_order ? "the dynamic linker's lookup" : "executable-first (no linker list)");
	for (int i = 0; i < t->plan->nr_objects; i++)
		allocator__describe_object(&t->plan->objects[i], f);
	allocator__describe(t->plan, f);
}

/* Targets that cannot be watched fail here, before any BPF is loaded:
 * a PID that does not exist, a command that cannot be found. */
int targets__preflight(const pid_t *pids, int nr_pids, char *const *command)
{
	char exe[PATH_MAX], why[PATH_MAX + 128];

	for (int i = 0; i < nr_pids; i++) {
		if (kill(pids[i], 0) && errno == ESRCH) {
			lw_say("no such process: PID %d (is it still running? pgrep finds a PID by name)",
			       pids[i]);
			return LW_EXIT_TARGET;
		}
	}
	if (command && command__find(command[0], exe, sizeof(exe), why, sizeof(why))) {
		lw_say("%s", why);
		return LW_EXIT_TARGET;
	}
	return 0;
}
