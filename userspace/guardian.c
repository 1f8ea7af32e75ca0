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
#include "guardian.h"
#include "proc.h"

#define STAND_DOWN "ok"
/* the guardian's descriptors, moved here before all others are closed */
#define PIPE_FD 3
#define MAP_FD 4

/* leakwatch is gone without continuing what it held: continue every
 * watched process that is stopped. */
static void continue_held(void)
{
	__u32 key, prev = 0;
	bool first = true;

	while (!bpf_map_get_next_key(MAP_FD, first ? NULL : &prev, &key)) {
		first = false;
		prev = key;
		if (proc__state((pid_t)key) != 'T' || kill((pid_t)key, SIGCONT))
			continue;
		fprintf(stderr, "leakwatch: ended while PID %u may have been held stopped: "
			"continued it\n", key);
	}
}

static void serve(void)
{
	char buf[8];
	ssize_t n;
	int null;

	/* Ctrl-C and kill reach leakwatch, which ends cleanly; the guardian
	 * waits for it either way */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
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
	/* leakwatch's probes go as the kernel releases its descriptors, a
	 * little after its pipe closes: look again once they surely have */
	usleep(100 * 1000);
	continue_held();
	usleep(500 * 1000);
	continue_held();
	_exit(0);
}

int guardian__start(struct guardian *g, int exec_watch_fd)
{
	int fds[2], err;

	g->fd = -1;
	g->pid = 0;
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	g->pid = fork();
	if (g->pid < 0) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (!g->pid) {
		/* nothing of leakwatch's but the two: its links, held here,
		 * would keep its probes in after it */
		int pipe_high = fcntl(fds[0], F_DUPFD, 1000), map_high = fcntl(exec_watch_fd, F_DUPFD, 1001);

		if (pipe_high < 0 || map_high < 0 || dup2(pipe_high, PIPE_FD) < 0 ||
		    dup2(map_high, MAP_FD) < 0 || close_range(MAP_FD + 1, ~0U, 0))
			_exit(1);
		serve();
	}
	close(fds[0]);
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
