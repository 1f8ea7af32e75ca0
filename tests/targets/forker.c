/*
 * forker - a server that forks workers, as gunicorn does: the parent leaks,
 * then forks; each worker leaks at once (before anything else runs: the
 * fork must not open a window), frees the blocks it inherited from the
 * parent (which are the parent's, not its own), and the first worker forks
 * a grandchild that leaks too. Or, with "exec PATH", one child execs PATH
 * (a target speaking this same protocol), which leaks as its own program.
 *
 * Protocol: see target_protocol.h.
 *
 *   forker fork N  (N workers, 1..8, default 2). After "go":
 *     parent: leak_in_parent           10 x malloc(1000), kept   10000 B, 10
 *     worker i (0..N-1), right after fork:
 *             leak_in_worker           (i+1)*10 x malloc(2000)   (i+1)*20000 B
 *             then frees the 10 inherited blocks (unknown to it: 10 frees)
 *     worker 0 then forks the grandchild:
 *             leak_in_grandchild       5 x malloc(3000)          15000 B, 5
 *     "done workers=P0,P1,... grandchild=G" once all have leaked.
 *   forker grow N: as fork N, and then every worker (not the grandchild)
 *     keeps leaking: leak_in_worker_tick, malloc(1000) kept, every 50 ms
 *     (20000 B/s each), until EOF.
 *   forker exec PATH. After "go": leak_in_parent as above, then one child
 *     execs PATH with its stdin and stdout on pipes to the parent, which
 *     sends it "go" and waits for its "done ...": "done child=C KV..."
 *     (the child's own done line's values follow).
 * EOF on stdin ends every process (children see their pipe close).
 */
#include <sys/wait.h>
#include "target_protocol.h"

#define MAX_WORKERS 8

static void *inherited[10];
/* children report "role pid" here; they block on hold until it closes */
static int ready_pipe[2], hold_pipe[2];

SITE void leak_in_parent(void)
{
	for (int i = 0; i < 10; i++) {
		inherited[i] = MALLOC_OR_EXIT(1000);
		NO_TAIL();
	}
}

SITE void leak_in_worker(int i)
{
	for (int k = 0; k < (i + 1) * 10; k++) {
		drop(MALLOC_OR_EXIT(2000));
		NO_TAIL();
	}
}

SITE void leak_in_grandchild(void)
{
	for (int k = 0; k < 5; k++) {
		drop(MALLOC_OR_EXIT(3000));
		NO_TAIL();
	}
}

SITE void leak_in_worker_tick(void)
{
	drop(MALLOC_OR_EXIT(1000));
	NO_TAIL();
}

static bool grow;

/* Tells the parent who is ready, then waits until it lets go (leaking a
 * block every 50 ms meanwhile, for a worker of "grow"). */
static void report_and_hold(int role)
{
	int msg[2] = { role, (int)getpid() };
	struct pollfd pfd = { .fd = hold_pipe[0], .events = POLLIN };
	char c;

	if (write(ready_pipe[1], msg, sizeof(msg)) != sizeof(msg))
		_exit(1);
	for (;;) {
		int n = poll(&pfd, 1, grow && role >= 0 ? 50 : -1);

		if (n == 0) {
			leak_in_worker_tick();
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || read(hold_pipe[0], &c, 1) <= 0)
			break;
	}
	_exit(0);
}

static int run_fork(int workers)
{
	pid_t pids[MAX_WORKERS];
	int grandchild = 0;
	char line[256];
	size_t n;

	if (pipe(ready_pipe) || pipe(hold_pipe))
		return 1;
	if (!ready_wait_go())
		return 0;
	leak_in_parent();
	for (int i = 0; i < workers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			return 1;
		if (pids[i] == 0) {
			close(hold_pipe[1]);
			leak_in_worker(i);
			for (int k = 0; k < 10; k++)
				free(inherited[k]);
			if (i == 0 && fork() == 0) {
				leak_in_grandchild();
				report_and_hold(-1);
			}
			report_and_hold(i);
		}
	}
	for (int got = 0; got < workers + 1; got++) {
		int msg[2];

		if (read(ready_pipe[0], msg, sizeof(msg)) != sizeof(msg))
			return 1;
		if (msg[0] < 0)
			grandchild = msg[1];
	}
	n = snprintf(line, sizeof(line), "done workers=");
	for (int i = 0; i < workers; i++)
		n += snprintf(line + n, sizeof(line) - n, "%s%d", i ? "," : "", pids[i]);
	snprintf(line + n, sizeof(line) - n, " grandchild=%d", grandchild);
	say("%s", line);
	wait_eof();
	close(hold_pipe[1]);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}

/* One line from fd into buf (no newline); -1 at EOF. */
static int read_line_fd(int fd, char *buf, size_t len)
{
	size_t n = 0;
	char c;

	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 < len)
			buf[n++] = c;
	}
	buf[n] = 0;
	return n;
}

static int run_exec(const char *path)
{
	int to_child[2], from_child[2];
	char line[256];
	pid_t child;

	if (pipe(to_child) || pipe(from_child))
		return 1;
	if (!ready_wait_go())
		return 0;
	leak_in_parent();
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		close(to_child[1]);
		close(from_child[0]);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	if (read_line_fd(from_child[0], line, sizeof(line)) < 0 || strcmp(line, "ready"))
		return 1;
	if (write(to_child[1], "go\n", 3) != 3)
		return 1;
	if (read_line_fd(from_child[0], line, sizeof(line)) < 0 || strncmp(line, "done", 4))
		return 1;
	say("done child=%d%s", child, line + 4);
	wait_eof();
	close(to_child[1]);
	waitpid(child, NULL, 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "exec"))
		return run_exec(argv[2]);
	grow = argc >= 2 && !strcmp(argv[1], "grow");
	if (argc >= 2 && strcmp(argv[1], "fork") && !grow) {
		say("usage: forker [fork N | grow N | exec PATH]");
		return 2;
	}
	int workers = argc >= 3 ? atoi(argv[2]) : 2;

	if (workers < 1 || workers > MAX_WORKERS)
		return 2;
	return run_fork(workers);
}
