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
#include <stdlib.h>

#include "target_protocol.h"

#define TICK_MS		20
#define LEAK_SIZE	1024
#define CHURN_PER_TICK	100
#define CACHE_SLOTS	32
#define CACHE_ENTRY	512

static void *cache[CACHE_SLOTS];
static long cache_puts;

SITE static void leak_tick(void)
{
	drop(MALLOC_OR_EXIT(LEAK_SIZE));
}

SITE static void churn_tick(long tick)
{
	BALANCED_CHURN(tick, CHURN_PER_TICK, 7, 31);
	NO_TAIL();
}

SITE static void cache_put(void)
{
	int slot = cache_puts++ % CACHE_SLOTS;

	free(cache[slot]);
	cache[slot] = MALLOC_OR_EXIT(CACHE_ENTRY);
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

int main(void)
{
	long start_ms = ready_wait_go_ms();

	say("done tick_ms=%d leak_per_tick=%d", TICK_MS, LEAK_SIZE);
	run_ticks(start_ms, TICK_MS, TICK_MS, tick);	/* tick 0 one tick after "go" */
	return 0;
}
