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
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A call site the tests name: never inlined, never cloned under a new name. */
#ifdef __clang__
#define SITE __attribute__((noinline))
#else
#define SITE __attribute__((noinline, noclone))
#endif
/* Keeps a call from being the last instruction of its caller (no tail call). */
#define NO_TAIL() __asm__ volatile("" ::: "memory")
/*
 * For helpers that make heap calls or call a site: inlined even at -O0, so
 * those calls come from the function using the helper and the stacks stay
 * as each target documents them.
 */
#define ALWAYS_INLINE __attribute__((always_inline))

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

/*
 * For the ticking targets (steady, trends, rssgrow): after "go" and its
 * "done" line a target calls run_ticks(), which runs tick(0), tick(1), ... on
 * a fixed schedule until EOF on stdin and between ticks answers each "ping"
 * with "pong ticks=N ms=M" (ticks run so far, ms since "go"). Their sites
 * allocate through MALLOC_OR_EXIT() and BALANCED_CHURN().
 */

/*
 * malloc(size), exiting 1 if it fails. Macros, not functions: the calls must
 * belong to the function that uses them, which the tests name as the
 * allocation site (leakwatch shows an inlined function as a frame of its
 * own, as a debugger does).
 */
#define MALLOC_OR_EXIT(size) ({				\
	void *p_ = malloc(size);			\
	if (!p_)					\
		exit(1);				\
	p_;						\
})

/*
 * Churn that leaves nothing outstanding: count x { malloc(16 + (n * a + i * b)
 * % 1000) for i = 0..count-1 (16..1015 B), first byte written, free }.
 */
#define BALANCED_CHURN(n, count, a, b) do {				\
	for (int i_ = 0; i_ < (count); i_++) {				\
		char *c_ = (char *)MALLOC_OR_EXIT(16 + ((n) * (a) + i_ * (b)) % 1000); \
									\
		c_[0] = 1;						\
		drop(c_);						\
		free(c_);						\
	}								\
} while (0)

/* Milliseconds on the monotonic clock. */
static inline long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ready_wait_go(), exiting 0 at EOF first; returns now_ms() at "go". */
static inline long ready_wait_go_ms(void)
{
	if (!ready_wait_go())
		exit(0);
	return now_ms();
}

/*
 * Answers the "ping" lines that arrived (several may come in one read; the
 * buffer is static, not heap). Returns 0 at EOF, else 1.
 */
static inline int serve_stdin(long ticks, long start_ms)
{
	static char buf[256];
	static size_t len;
	ssize_t r = read(0, buf + len, sizeof(buf) - 1 - len);
	char *nl;

	if (r < 0 && errno == EINTR)
		return 1;
	if (r <= 0)
		return 0;
	len += r;
	while ((nl = (char *)memchr(buf, '\n', len))) {
		*nl = '\0';
		if (!strcmp(buf, "ping"))
			say("pong ticks=%ld ms=%ld", ticks, now_ms() - start_ms);
		len -= nl + 1 - buf;
		memmove(buf, nl + 1, len);
	}
	if (len == sizeof(buf) - 1)
		len = 0;	/* an overlong line: forget it */
	return 1;
}

/*
 * Tick n is due first_ms + n * tick_ms after start_ms; late ticks are caught
 * up at once, so the rate holds on average whatever the probes cost. Between
 * ticks it waits in poll(2) on stdin. Returns at EOF on stdin. Always
 * inlined, so stacks read main -> tick -> ... with no frame in between.
 */
static inline ALWAYS_INLINE void
run_ticks(long start_ms, long first_ms, long tick_ms, void (*tick)(long n))
{
	struct pollfd in = { .fd = 0, .events = POLLIN, .revents = 0 };
	long ticks = 0;

	for (;;) {
		long wait = start_ms + first_ms + ticks * tick_ms - now_ms();

		if (wait <= 0) {
			tick(ticks++);
			continue;
		}
		if (poll(&in, 1, (int)wait) > 0 && !serve_stdin(ticks, start_ms))
			return;
	}
}

#endif /* TARGET_PROTOCOL_H */
