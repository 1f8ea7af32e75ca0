// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "kernel/guardian.h"
#include "leakwatch.h"
#include "common/proc.h"

#define STAND_DOWN "ok"
/* the guardian's descriptors, moved here before all others are closed */
#define PIPE_FD 3
#define MAP_FD 4
#define READY_FD 5

int guardian__continue_held(int exec_watch_fd, bool say)
{
	__u32 key, prev = 0, flags;
	bool first = true;
	int n = 0;

	while (!bpf_map_get_next_key(exec_watch_fd, first ? NULL : &prev, &key)) {
		first = false;
		prev = key;
		if (bpf_map_lookup_elem(exec_watch_fd, &key, &flags) ||
		    !(flags & (LW_EXEC_HELD | LW_EXEC_SEEN)) || proc__state((pid_t)key) != 'T' ||
		    kill((pid_t)key, SIGCONT))
			continue;
		n++;
		if (say)
			fprintf(stderr, "leakwatch: ended while PID %u was held stopped: continued it\n",
				key);
	}
	return n;
}

static void serve(pid_t leakwatch)
{
	char buf[8];
	ssize_t n;
	int null;

	/* a session of its own: signals for leakwatch's process group or
	 * terminal (timeout -s KILL, kill -9 %1, Ctrl-C and Ctrl-\ at the
	 * terminal) do not reach it; however leakwatch ends, it waits */
	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "leakwatch-guard");
	/* no output of leakwatch's is held open: a reader of its stdout sees
	 * the end when leakwatch ends */
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	do
		n = read(PIPE_FD, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n >= (ssize_t)strlen(STAND_DOWN) && !memcmp(buf, STAND_DOWN, strlen(STAND_DOWN)))
		_exit(0);
	/* leakwatch's probes go as the kernel releases its descriptors, which
	 * is done when the guardian is no longer its child (2 s at most) */
	for (int i = 0; i < 200 && getppid() == leakwatch; i++)
		usleep(10 * 1000);
	guardian__continue_held(MAP_FD, true);
	_exit(0);
}

int guardian__start(struct guardian *g, int exec_watch_fd)
{
	pid_t leakwatch = getpid();
	int fds[2], ready[2], err;
	ssize_t n;
	char c;

	g->fd = -1;
	g->pid = 0;
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	if (pipe2(ready, O_CLOEXEC)) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	g->pid = fork();
	if (!g->pid) {
		/* nothing of leakwatch's but these: its links, held here,
		 * would keep its probes in after it */
		int p = fcntl(fds[0], F_DUPFD, READY_FD + 1);
		int m = fcntl(exec_watch_fd, F_DUPFD, READY_FD + 1);
		int r = fcntl(ready[1], F_DUPFD, READY_FD + 1);

		if (p < 0 || m < 0 || r < 0 || dup2(p, PIPE_FD) < 0 || dup2(m, MAP_FD) < 0 ||
		    dup2(r, READY_FD) < 0 || close_range(READY_FD + 1, ~0U, 0) ||
		    write(READY_FD, "r", 1) != 1)
			_exit(1);
		close(READY_FD);
		serve(leakwatch);
	}
	err = g->pid < 0 ? -errno : 0;
	close(fds[0]);
	close(ready[1]);
	/* the guardian says it is ready, or its end of the pipe closes */
	do
		n = g->pid > 0 ? read(ready[0], &c, 1) : 0;
	while (n < 0 && errno == EINTR);
	close(ready[0]);
	if (!err && n != 1) {
		waitpid(g->pid, NULL, 0);
		err = -ECHILD;
	}
	if (err) {
		close(fds[1]);
		g->pid = 0;
		return err;
	}
	g->fd = fds[1];
	return 0;
}

void guardian__stand_down(struct guardian *g)
{
	if (g->fd < 0)
		return;
	if (write(g->fd, STAND_DOWN, strlen(STAND_DOWN)) < 0) {
		/* it is gone already */
	}
	close(g->fd);
	g->fd = -1;
	waitpid(g->pid, NULL, 0);
}
