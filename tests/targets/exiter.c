/*
 * exiter - leaks known bytes, then exits on its own while watched: leakwatch
 * must keep the process's stacks (symbolized while it was alive), mark it
 * not alive, and when it was the last target print the summary and exit 0.
 *
 * Protocol (as every target in this directory, except the end):
 *   -> "ready"          started; the heap is untouched until "go"
 *   <- "go"             leak as below
 *   -> "done K=V ..."   leaked; pause_ms= echoes the pause
 *   ... sleeps argv[1] milliseconds (default 500), then exits 0 by itself,
 *   without waiting for EOF on stdin. EOF before "go" exits 0 at once.
 * I/O is read(2)/write(2), never stdio, so the leak is the only heap call.
 *
 *   site (frames[0], frames[1])    what it does                 outstanding
 *   exiter_leak, main              30 x malloc(512), held in a   15360 B, 30
 *                                  global array until exit
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __clang__
#define SITE __attribute__((noinline))
#else
#define SITE __attribute__((noinline, noclone))
#endif
#define NO_TAIL() __asm__ volatile("" ::: "memory")

#define LEAK_COUNT	30
#define LEAK_SIZE	512

static void *volatile held[LEAK_COUNT];

static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		exit(1);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t w = write(1, buf + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			exit(1);
		off += w;
	}
}

static int read_line(char *buf, size_t len)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(0, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return n ? (int)n : -1;
		if (c == '\n')
			break;
		if (n + 1 < len)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return n;
}

SITE static void exiter_leak(void)
{
	for (int i = 0; i < LEAK_COUNT; i++) {
		held[i] = malloc(LEAK_SIZE);
		if (!held[i])
			exit(1);
	}
}

int main(int argc, char **argv)
{
	long pause_ms = argc > 1 ? atol(argv[1]) : 500;
	struct timespec pause;
	char line[64];

	if (pause_ms < 0)
		pause_ms = 0;
	pause.tv_sec = pause_ms / 1000;
	pause.tv_nsec = pause_ms % 1000 * 1000000L;

	say("ready");
	for (;;) {
		if (read_line(line, sizeof(line)) < 0)
			return 0;
		if (!strcmp(line, "go"))
			break;
	}
	exiter_leak();
	NO_TAIL();
	say("done pause_ms=%ld", pause_ms);
	while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
		;
	return 0;
}
