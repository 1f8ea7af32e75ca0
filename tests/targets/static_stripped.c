/* LEAKWATCH_STATIC: the Makefile links this target -static -s (see below). */
/*
 * static_stripped - a statically linked, stripped program: malloc is inside
 * the executable but no symbol table names it, so leakwatch cannot find the
 * allocator and must refuse with exit status 2 and one line on stderr,
 * leaving the process untouched.
 *
 * Protocol (one line each way, as every target in this directory):
 *   -> "ready"          started; the heap is untouched until "go"
 *   <- "go"             leak 10 x malloc(100) in leak_static (for the case
 *                       where a tool does attach; nobody can name it here)
 *   -> "done leaked=1000"
 *   <- EOF on stdin     exit 0 (or be killed)
 * I/O is read(2)/write(2), never stdio.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __clang__
#define SITE __attribute__((noinline))
#else
#define SITE __attribute__((noinline, noclone))
#endif

static volatile uintptr_t sink;

static void say(const char *s)
{
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t w = write(1, s + off, n - off);

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

SITE static void leak_static(void)
{
	for (int i = 0; i < 10; i++)
		sink ^= (uintptr_t)malloc(100);
}

int main(void)
{
	char line[64];

	say("ready\n");
	for (;;) {
		if (read_line(line, sizeof(line)) < 0)
			return 0;
		if (!strcmp(line, "go"))
			break;
	}
	leak_static();
	say("done leaked=1000\n");
	while (read_line(line, sizeof(line)) >= 0)
		;
	return 0;
}
