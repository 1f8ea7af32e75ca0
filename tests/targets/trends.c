/*
 * trends - four call sites whose outstanding bytes follow four shapes over
 * time, so the tests can check the verdict leakwatch gives each: a leak of
 * known rate (growing), a cache that warms up and then plateaus, balanced
 * churn, and a sawtooth (a batch filled over several ticks, then released).
 *
 * Protocol: see target_protocol.h; "go" starts the ticks (below), which run
 * until EOF on stdin. "done tick_ms=20 leak_per_tick=2000 cache_slots=50
 * cache_entry=16000 saw_period=25 saw_block=4000" comes right after "go";
 * then each "ping" is answered "pong ticks=N ms=M" (ticks run, ms since
 * "go"). Ticks keep to a fixed schedule (tick n is due n * 20 ms after "go";
 * late ticks are caught up), so the leak rate is 2000 B / 20 ms = 100000 B/s
 * exactly, on average, whatever the probes cost.
 *
 * Each tick n (0, 1, ...), from main -> tick -> each site below, in order:
 *
 *   site (frames[0])  what it does                                outstanding
 *   leak_tick         malloc(2000), pointer dropped               grows 100000 B/s
 *   cache_put         2 puts into a 50-slot cache of 16000 B
 *                     entries: the slots fill in ticks 0..24
 *                     (0.5 s), then each put frees the oldest
 *                     entry and allocates its replacement         800000 B, 50
 *   churn_tick        40 x { malloc(16..1015), free }             0
 *   saw_tick          ticks n % 25 = 0..23: malloc(4000) into a
 *                     batch; n % 25 = 24: frees the batch         0..96000 B,
 *                                                                 period 0.5 s
 *
 * The sawtooth's period (0.5 s) against the tests' 0.2 s interval: five
 * samples every two periods, the same phases over and over. A period close
 * to the interval (or to a multiple of it) would alias: samples taken a
 * little later in each cycle climb slowly, which no trend test can tell from
 * a leak.
 *
 * Nothing else touches the heap after "go" (I/O is read(2)/write(2)).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "target_protocol.h"

#define TICK_MS		20
#define LEAK_SIZE	2000
#define CACHE_SLOTS	50
#define CACHE_ENTRY	16000
#define CACHE_PUTS	2	/* per tick */
#define CHURN_PER_TICK	40
#define SAW_PERIOD	25	/* ticks */
#define SAW_BLOCK	4000

static void *cache[CACHE_SLOTS];
static long cache_puts;
static void *saw[SAW_PERIOD - 1];
static int saw_len;

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

SITE static void cache_put(void)
{
	for (int i = 0; i < CACHE_PUTS; i++) {
		int slot = cache_puts++ % CACHE_SLOTS;

		free(cache[slot]);
		cache[slot] = malloc(CACHE_ENTRY);
		if (!cache[slot])
			exit(1);
	}
}

SITE static void churn_tick(long n)
{
	for (int i = 0; i < CHURN_PER_TICK; i++) {
		char *p = malloc(16 + (n * 13 + i * 37) % 1000);

		if (!p)
			exit(1);
		p[0] = 1;
		drop(p);
		free(p);
	}
	NO_TAIL();
}

SITE static void saw_tick(long n)
{
	if (n % SAW_PERIOD == SAW_PERIOD - 1) {
		while (saw_len > 0) {
			free(saw[--saw_len]);
			saw[saw_len] = NULL;
		}
		return;
	}
	saw[saw_len] = malloc(SAW_BLOCK);
	if (!saw[saw_len])
		exit(1);
	saw_len++;
}

SITE static void tick(long n)
{
	leak_tick();
	NO_TAIL();
	cache_put();
	NO_TAIL();
	churn_tick(n);
	NO_TAIL();
	saw_tick(n);
	NO_TAIL();
}

/*
 * Answers the "ping" lines that arrived (several may come in one read; the
 * buffer is static, not heap). Returns 0 at EOF, else 1.
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
		len = 0;	/* an overlong line: forget it */
	return 1;
}

int main(void)
{
	struct pollfd in = { .fd = 0, .events = POLLIN };
	long start_ms, ticks = 0;

	if (!ready_wait_go())
		return 0;
	start_ms = now_ms();
	say("done tick_ms=%d leak_per_tick=%d cache_slots=%d cache_entry=%d saw_period=%d"
	    " saw_block=%d", TICK_MS, LEAK_SIZE, CACHE_SLOTS, CACHE_ENTRY, SAW_PERIOD, SAW_BLOCK);
	for (;;) {
		long wait = start_ms + ticks * TICK_MS - now_ms();

		if (wait <= 0) {
			tick(ticks++);
			continue;
		}
		if (poll(&in, 1, (int)wait) > 0 && !serve_stdin(ticks, start_ms))
			return 0;
	}
}
