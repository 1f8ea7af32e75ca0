/*
 * steady - a long-running target with a steady leak, balanced churn and a
 * cache that fills and then plateaus; it answers "ping" while it runs, so a
 * test can show it is unharmed (e.g. after leakwatch is SIGKILLed), and it
 * gives the trend judgement a leak of known rate.
 *
 * Protocol: see target_protocol.h; "go" starts the ticks (below), which run
 * until EOF on stdin. "done tick_ms=20 leak_per_tick=1024" comes right after
 * "go"; then each "ping" is answered "pong ticks=N ms=M" (ticks run, ms since
 * "go"). Ticks keep to a fixed schedule (every 20 ms from "go"; late ticks
 * are caught up), so the leak rate is 1024 B / 20 ms = 51200 B/s.
 *
 * Each tick, from main -> tick:
 *   site (frames[0])  what it does                                outstanding
 *   leak_tick         malloc(1024), pointer dropped               grows 51200 B/s
 *   churn_tick        100 x { malloc(16..1015), free }            0
 *   cache_put         a 32-slot cache of 512 B entries: fills in
 *                     the first 32 ticks, then each put frees the
 *                     oldest entry and allocates a new one        16384 B, 32 (held)
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "target_protocol.h"

#define TICK_MS		20
#define LEAK_SIZE	1024
#define CHURN_PER_TICK	100
#define CACHE_SLOTS	32
#define CACHE_ENTRY	512

static void *cache[CACHE_SLOTS];
static long cache_puts;

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

SITE static void leak_tick(void)
{
	void *p = malloc(LEAK_SIZE);

	if (!p)
		exit(1);
	drop(p);
}

SITE static void churn_tick(long tick)
{
	for (int j = 0; j < CHURN_PER_TICK; j++) {
		char *p = malloc(16 + (tick * 7 + j * 31) % 1000);

		if (!p)
			exit(1);
		p[0] = 1;
		drop(p);
		free(p);
	}
	NO_TAIL();
}

SITE static void cache_put(void)
{
	int slot = cache_puts++ % CACHE_SLOTS;

	free(cache[slot]);
	cache[slot] = malloc(CACHE_ENTRY);
	if (!cache[slot])
		exit(1);
}

SITE static void tick(long n)
{
	leak_tick();
	NO_TAIL();
	churn_tick(n);
	NO_TAIL();
	cache_put();
	NO_TAIL();
}

/*
 * Lines arrive whole from the test but maybe several per read: keep a buffer.
 * Returns 1 after handling what arrived, 0 at EOF.
 */
static int serve_stdin(long ticks, long start_ms)
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
	while ((nl = memchr(buf, '\n', len))) {
		*nl = '\0';
		if (!strcmp(buf, "ping"))
			say("pong ticks=%ld ms=%ld", ticks, now_ms() - start_ms);
		len -= nl + 1 - buf;
		memmove(buf, nl + 1, len);
	}
	if (len == sizeof(buf) - 1)
		len = 0;	/* an overlong line: drop it */
	return 1;
}

int main(void)
{
	struct pollfd in = { .fd = 0, .events = POLLIN };
	long start_ms, ticks = 0;

	if (!ready_wait_go())
		return 0;
	start_ms = now_ms();
	say("done tick_ms=%d leak_per_tick=%d", TICK_MS, LEAK_SIZE);
	for (;;) {
		long wait = start_ms + (ticks + 1) * TICK_MS - now_ms();

		if (wait <= 0) {
			tick(ticks++);
			continue;
		}
		if (poll(&in, 1, (int)wait) > 0 && !serve_stdin(ticks, start_ms))
			return 0;
	}
}
