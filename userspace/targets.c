// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include "command.h"
#include "exitcodes.h"
#include "proc.h"
#include "targets.h"

int target__attach_pid(struct target *t, pid_t pid, struct tracer *tracer, char *why, size_t len)
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
	err = allocator__plan(t->pid, &t->plan, why, len);
	if (!err)
		err = tracer__attach(tracer, t->pid, &t->plan, why, len);
	if (err)
		return err;
	proc__comm(t->pid, t->comm, sizeof(t->comm));
	t->alive = true;
	return 0;
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

/* The held child stops at its hold point, perhaps several times (the
 * dynamic linker's hook runs before and after it maps the libraries):
 * attach once the allocator is mapped. */
static int attach_when_loaded(struct target *t, struct command *cmd, struct tracer *tracer,
			      char *why, size_t len)
{
	int status, err;

	for (;;) {
		if (waitpid(cmd->pid, &status, WUNTRACED) < 0) {
			snprintf(why, len, "lost the command '%s': %s", cmd->exe, strerror(errno));
			return LW_EXIT_FAILURE;
		}
		if (!WIFSTOPPED(status)) {
			set_exit(t, status);
			cmd->pid = 0;
			snprintf(why, len, "the command '%s' ended before its probes were in (exit status %d)",
				 cmd->exe, t->exit_status);
			return LW_EXIT_TARGET;
		}
		err = allocator__plan(cmd->pid, &t->plan, why, len);
		if (err == 0)
			return tracer__attach(tracer, cmd->pid, &t->plan, why, len);
		kill(cmd->pid, SIGCONT); /* not loaded yet */
	}
}

int target__start_command(struct target *t, char *const argv[], struct tracer *tracer,
			  char *why, size_t len)
{
	struct command cmd;
	struct bpf_link *hold;
	int err;

	memset(t, 0, sizeof(*t));
	t->started = true;
	err = command__spawn(argv, &cmd, why, len);
	if (err)
		return err;
	hold = tracer__stop_at(tracer, cmd.pid, cmd.hold_path, cmd.hold_offset, why, len);
	if (!hold) {
		command__abort(&cmd);
		return LW_EXIT_FAILURE;
	}
	command__go(&cmd);
	err = attach_when_loaded(t, &cmd, tracer, why, len);
	tracer__release_stop(tracer, hold);
	if (err) {
		command__abort(&cmd);
		return err;
	}
	t->pid = cmd.pid;
	t->alive = true;
	proc__comm(t->pid, t->comm, sizeof(t->comm));
	kill(t->pid, SIGCONT);
	return 0;
}

bool target__poll(struct target *t)
{
	int status;

	if (!t->alive)
		return false;
	if (t->started) {
		if (waitpid(t->pid, &status, WNOHANG) == t->pid)
			set_exit(t, status);
	} else if (!proc__alive(t->pid)) {
		t->alive = false;
	}
	return t->alive;
}

void target__describe(const struct target *t, FILE *f)
{
	fprintf(f, "leakwatch: PID %d (%s): allocator functions in %s order:\n", t->pid, t->comm,
		t->plan.link_order ? "the dynamic linker's lookup" : "executable-first (no linker list)");
	for (int i = 0; i < t->plan.nr_objects; i++) {
		const struct lw_object *o = &t->plan.objects[i];

		fprintf(f, "leakwatch:   %s (via %s):\n", o->module, o->attach_path);
		for (int j = 0; j < o->nr_probes; j++) {
			const struct lw_probe *p = &o->probes[j];

			fprintf(f, "leakwatch:     %-36s 0x%-8lx %s%s\n", p->symbol, (unsigned long)p->offset,
				p->first_insn, p->single_step ?
				"  <- not emulated: the kernel single-steps it, a second trap per call" : "");
		}
	}
}
