/*
 * churn - heavy, balanced malloc/free traffic beside one small known leak:
 * leakwatch must keep every freed block out of the report and find the leak
 * to the byte among 200,000 short-lived allocations.
 *
 * Protocol: see target_protocol.h; "done" reports allocs= and frees=, the
 * heap calls made.
 *
 * After "go", main -> run_churn -> churn, then run_churn -> churn_ring:
 *
 *   site (frames[0])  what it does                                outstanding
 *   churn             100000 x { malloc(1..2000), write, free },
 *                     then 60000 x { calloc(1..50, 8..23), free }  0
 *   leak_small        called from churn at i = 7, 15007, ... 90007:
 *                     7 x malloc(123), pointers dropped            861 B, 7
 *   churn_ring        40000 mallocs of 1..1500 bytes into a 64-slot
 *                     ring, each replacing (freeing) the oldest;
 *                     the ring is emptied at the end               0
 *
 *   heap calls: 200007 allocations (malloc/calloc, none fails), 200000 frees,
 *   no realloc, no free(NULL).
 */
#include <stdlib.h>

#include "target_protocol.h"

#define CHURN_MALLOCS	100000
#define CHURN_CALLOCS	60000
#define RING_ALLOCS	40000
#define RING_SLOTS	64
#define LEAK_EVERY	15000
#define LEAK_AT		7
#define LEAK_SIZE	123

static long allocs, frees;

static void *must(void *p)
{
	if (!p)
		exit(1);
	allocs++;
	return p;
}

static void release(void *p)
{
	drop(p);
	free(p);
	frees++;
}

SITE static void leak_small(void)
{
	drop(must(malloc(LEAK_SIZE)));
}

SITE static void churn(void)
{
	for (long i = 0; i < CHURN_MALLOCS; i++) {
		size_t size = 1 + (i * 37) % 2000;
		char *p = must(malloc(size));

		/* A nonzero write keeps malloc from being merged with anything. */
		p[0] = 1;
		p[size - 1] = (char)i;
		release(p);
		if (i % LEAK_EVERY == LEAK_AT)
			leak_small();
	}
	for (long i = 0; i < CHURN_CALLOCS; i++) {
		char *p = must(calloc(1 + i % 50, 8 + i % 16));

		p[0] = 1;
		release(p);
	}
	NO_TAIL();
}

SITE static void churn_ring(void)
{
	char *ring[RING_SLOTS] = { 0 };

	for (long i = 0; i < RING_ALLOCS; i++) {
		int slot = i % RING_SLOTS;
		size_t size = 1 + (i * 53) % 1500;

		if (ring[slot])
			release(ring[slot]);
		ring[slot] = must(malloc(size));
		ring[slot][0] = 1;
	}
	for (int slot = 0; slot < RING_SLOTS; slot++)
		release(ring[slot]);
	NO_TAIL();
}

SITE static void run_churn(void)
{
	churn();
	NO_TAIL();
	churn_ring();
	NO_TAIL();
}

int main(void)
{
	if (!ready_wait_go())
		return 0;
	run_churn();
	say("done allocs=%ld frees=%ld", allocs, frees);
	wait_eof();
	return 0;
}
