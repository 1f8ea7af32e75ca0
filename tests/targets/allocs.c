/*
 * allocs - one leak per allocator API, each in a function of its own, so the
 * integration tests can check leakwatch's numbers to the byte and its call
 * sites by name.
 *
 * Protocol: see target_protocol.h; "done" is described at the end below.
 *
 * argv[1] (optional, default 1) is a scale N applied to leak_malloc's count,
 * so two instances watched together leak different amounts from one site.
 *
 * After "go", main -> run_leaks -> each site below, in this order:
 *
 *   site (frames[0])       what it does                              outstanding
 *   leak_malloc            50*N x malloc(1000), pointers dropped     50000*N B, 50*N
 *   leak_calloc            20 x calloc(100, 7), dropped              14000 B, 20
 *   grow_start             malloc(16), handed to leak_realloc_grow   0 (moved away)
 *   leak_realloc_grow      200 x realloc(p, size + 16): the block
 *                          sits at the top of the heap, so it mostly
 *                          grows in place; held in a global          3216 B, 1
 *   move_start             malloc(64), handed to leak_realloc_move   0 (moved away)
 *   leak_realloc_move      50 x { make_blocker(size + 128); realloc(p,
 *                          size + 64) }: the blocker, larger than any
 *                          hole, comes from the top right after p, so
 *                          p cannot grow and glibc moves it every
 *                          time; held in a global                    3264 B, 1
 *   make_blocker           50 x malloc(192..3328), all freed by
 *                          release_blockers at the end               0
 *   leak_realloc_null      10 x realloc(NULL, 300), dropped          3000 B, 10
 *   leak_realloc_fail      5 x { p = malloc(500); realloc(p,
 *                          SIZE_MAX) fails, p stays valid }, dropped 2500 B, 5
 *   free_by_realloc_zero   10 x { p = malloc(200); realloc(p, 0) }   0
 *   free_null              10 x free(NULL)                           0
 *   fail_alloc             5 x malloc(SIZE_MAX), 5 x calloc(SIZE_MAX,
 *                          2): all return NULL                       0
 *
 *   total outstanding: 75980 + 50000*(N-1) B in 87 + 50*(N-1) allocations.
 *
 * "done" reports scale=N, grow_inplace= grow_moves= move_inplace= move_moves=
 * (how the 200 and the 50 reallocs went: expected mostly in place, and all
 * 50 moved) and failed= (NULL returns among the 15 calls meant to fail).
 */
#include <stdint.h>
#include <stdlib.h>

#include "target_protocol.h"

#define MALLOC_COUNT	50
#define MALLOC_SIZE	1000
#define CALLOC_COUNT	20
#define GROW_STEPS	200
#define GROW_STEP	16
#define MOVE_STEPS	50
#define MOVE_STEP	64
#define RNULL_COUNT	10
#define RNULL_SIZE	300
#define RFAIL_COUNT	5
#define RFAIL_SIZE	500
#define RZERO_COUNT	10
#define RZERO_SIZE	200
#define FAIL_COUNT	5

/* Held blocks (the two realloc'ed buffers). */
static void *volatile held_grow, *volatile held_move;
/* Read through volatiles so the compiler cannot fold the calls away. */
static volatile size_t huge_size = SIZE_MAX;
static void *volatile null_ptr;

static void *blockers[MOVE_STEPS];

struct result {
	long grow_inplace, grow_moves;	/* leak_realloc_grow's reallocs that */
	long move_inplace, move_moves;	/* kept / changed the address, and */
	long failed;			/* calls meant to fail that did */
};

SITE static void leak_malloc(int scale)
{
	for (int i = 0; i < MALLOC_COUNT * scale; i++)
		drop(malloc(MALLOC_SIZE));
}

SITE static void leak_calloc(void)
{
	for (int i = 0; i < CALLOC_COUNT; i++)
		drop(calloc(100, 7));
}

SITE static void *grow_start(void)
{
	void *p = malloc(GROW_STEP);

	NO_TAIL();
	return p;
}

SITE static void leak_realloc_grow(struct result *r)
{
	void *p = grow_start();
	size_t size = GROW_STEP;

	for (int i = 0; i < GROW_STEPS; i++) {
		uintptr_t old = (uintptr_t)p;

		size += GROW_STEP;
		p = realloc(p, size);
		if (!p)
			exit(1);
		if ((uintptr_t)p == old)
			r->grow_inplace++;
		else
			r->grow_moves++;
	}
	held_grow = p;
}

SITE static void *move_start(void)
{
	void *p = malloc(MOVE_STEP);

	NO_TAIL();
	return p;
}

SITE static void *make_blocker(size_t size)
{
	void *p = malloc(size);

	NO_TAIL();
	return p;
}

SITE static void release_blockers(void)
{
	for (int i = 0; i < MOVE_STEPS; i++) {
		free(blockers[i]);
		blockers[i] = NULL;
	}
}

SITE static void leak_realloc_move(struct result *r)
{
	void *p = move_start();
	size_t size = MOVE_STEP;

	for (int i = 0; i < MOVE_STEPS; i++) {
		uintptr_t old = (uintptr_t)p;

		blockers[i] = make_blocker(size + 2 * MOVE_STEP);
		size += MOVE_STEP;
		p = realloc(p, size);
		if (!p)
			exit(1);
		if ((uintptr_t)p == old)
			r->move_inplace++;
		else
			r->move_moves++;
	}
	held_move = p;
	release_blockers();
	NO_TAIL();
}

SITE static void leak_realloc_null(void)
{
	for (int i = 0; i < RNULL_COUNT; i++)
		drop(realloc(NULL, RNULL_SIZE));
}

SITE static void leak_realloc_fail(struct result *r)
{
	for (int i = 0; i < RFAIL_COUNT; i++) {
		void *p = malloc(RFAIL_SIZE);

		drop(p);
		if (!realloc(p, huge_size))
			r->failed++;
	}
}

SITE static void free_by_realloc_zero(void)
{
	for (int i = 0; i < RZERO_COUNT; i++) {
		void *p = malloc(RZERO_SIZE);

		drop(p);
		/* glibc frees p and returns NULL. */
		drop(realloc(p, 0));
	}
}

SITE static void free_null(void)
{
	for (int i = 0; i < RZERO_COUNT; i++) {
		free(null_ptr);
		NO_TAIL();
	}
}

SITE static void fail_alloc(struct result *r)
{
	for (int i = 0; i < FAIL_COUNT; i++) {
		void *p = malloc(huge_size);

		if (!p)
			r->failed++;
		drop(p);
		p = calloc(huge_size, 2);
		if (!p)
			r->failed++;
		drop(p);
	}
}

SITE static void run_leaks(struct result *r, int scale)
{
	leak_malloc(scale);
	NO_TAIL();
	leak_calloc();
	NO_TAIL();
	leak_realloc_grow(r);
	NO_TAIL();
	leak_realloc_move(r);
	NO_TAIL();
	leak_realloc_null();
	NO_TAIL();
	leak_realloc_fail(r);
	NO_TAIL();
	free_by_realloc_zero();
	NO_TAIL();
	free_null();
	NO_TAIL();
	fail_alloc(r);
	NO_TAIL();
}

int main(int argc, char **argv)
{
	struct result r = { 0 };
	int scale = argc > 1 ? atoi(argv[1]) : 1;

	if (scale < 1)
		scale = 1;
	if (!ready_wait_go())
		return 0;
	run_leaks(&r, scale);
	say("done scale=%d grow_inplace=%ld grow_moves=%ld move_inplace=%ld"
	    " move_moves=%ld failed=%ld", scale, r.grow_inplace, r.grow_moves,
	    r.move_inplace, r.move_moves, r.failed);
	wait_eof();
	return 0;
}
