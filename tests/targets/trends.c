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
#include <stdlib.h>

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

SITE static void leak_tick(void)
{
	drop(MALLOC_OR_EXIT(LEAK_SIZE));
}

SITE static void cache_put(void)
{
	for (int i = 0; i < CACHE_PUTS; i++) {
		int slot = cache_puts++ % CACHE_SLOTS;

		free(cache[slot]);
		cache[slot] = MALLOC_OR_EXIT(CACHE_ENTRY);
	}
}

SITE static void churn_tick(long n)
{
	BALANCED_CHURN(n, CHURN_PER_TICK, 13, 37);
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
	saw[saw_len++] = MALLOC_OR_EXIT(SAW_BLOCK);
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

int main(void)
{
	long start_ms = ready_wait_go_ms();

	say("done tick_ms=%d leak_per_tick=%d cache_slots=%d cache_entry=%d saw_period=%d"
	    " saw_block=%d", TICK_MS, LEAK_SIZE, CACHE_SLOTS, CACHE_ENTRY, SAW_PERIOD, SAW_BLOCK);
	run_ticks(start_ms, 0, TICK_MS, tick);	/* tick 0 at "go" */
	return 0;
}
