/*
 * target_protocol.h - the plumbing every test target in this directory shares.
 *
 * Protocol (one line each way, on stdin/stdout):
 *   -> "ready"          started; from here on the heap is untouched until "go"
 *   <- "go"             perform the target's allocations
 *   -> "done K=V ..."   finished; the values let the test cross-check what
 *                       the target did (each target lists its own)
 *   <- EOF on stdin     exit 0 (the test may also just kill it)
 * Lines other than "go" are ignored; EOF before "go" exits 0 at once.
 *
 * I/O goes through read(2)/write(2), never stdio, which would allocate
 * buffers (say() only formats into a buffer on its stack): after "go" the
 * only heap calls a target makes are the ones its header comment documents.
 */
#ifndef TARGET_PROTOCOL_H
#define TARGET_PROTOCOL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A call site the tests name: never inlined, never cloned under a new name. */
#ifdef __clang__
#define SITE __attribute__((noinline))
#else
#define SITE __attribute__((noinline, noclone))
#endif
/* Keeps a call from being the last instruction of its caller (no tail call). */
#define NO_TAIL() __asm__ volatile("" ::: "memory")

/* Dropped pointers are folded in here, so no live copy of them remains. */
static volatile uintptr_t sink;

static inline void drop(void *p)
{
	sink ^= (uintptr_t)p;
}

/* Writes buf[0..n) to stdout; exits 1 on error. */
static inline void write_all(const char *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(1, buf + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			exit(1);
		off += w;
	}
}

/* Writes s as it is (newline included): no formatting code at all. */
static inline void put_str(const char *s)
{
	write_all(s, strlen(s));
}

/* Formats one line (cut to 254 characters) and writes it with its newline. */
static inline void say(const char *fmt, ...)
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
	write_all(buf, n);
}

/* One line from stdin without its newline; -1 at EOF. */
static inline int read_line(char *buf, size_t len)
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

/* Prints "ready", then reads lines until "go": true; false at EOF first. */
static inline bool ready_wait_go(void)
{
	char line[64];

	put_str("ready\n");
	for (;;) {
		if (read_line(line, sizeof(line)) < 0)
			return false;
		if (!strcmp(line, "go"))
			return true;
	}
}

/* Reads and discards stdin until EOF (or a read error). */
static inline void wait_eof(void)
{
	char buf[256];

	for (;;) {
		ssize_t r = read(0, buf, sizeof(buf));

		if (r == 0 || (r < 0 && errno != EINTR))
			return;
	}
}

#endif /* TARGET_PROTOCOL_H */
