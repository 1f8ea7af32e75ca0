/*
 * freestress - the free paths at leakwatch's moved probe points, from four
 * threads at once: free(NULL), realloc(p, 0), realloc(NULL, n), realloc that
 * grows, frees of blocks from posix_memalign, valloc, pvalloc and
 * aligned_alloc, and frees of blocks another thread allocated, interleaved.
 * glibc's free is probed after its NULL check and posix_memalign, valloc and
 * pvalloc after their first instruction (see leakwatch -v), so the counts
 * below check those probe points to the call.
 *
 * Protocol: see target_protocol.h. Before "ready" the four threads are up,
 * each with its malloc arena made (one malloc+free, finished before
 * "ready"), waiting on a barrier that "go" opens. "done" comes once all
 * have finished (below); the threads then wait for the process to end.
 *
 * After "go", thread t (0..3), in thread_main, does 1500 rounds r of
 * (sizes in bytes; all calls succeed):
 *   free_null            free(NULL)
 *   start_block          a = realloc(NULL, 24 + (13 t + r) % 200)
 *   scratch_block        b = malloc(40 + (7 r) % 300)
 *   free_null            free(NULL)
 *   drop_by_realloc      realloc(b, 0): frees b, returns NULL
 *   aligned_block        posix_memalign(&c, 64, 100 + r % 500)
 *   page_block           d = r odd ? valloc(200 + t) : pvalloc(300 + t)
 *   cache_block          e = aligned_alloc(32, 64 + r % 100)
 *   grow_block           a = realloc(a, size of a + 1000)
 *   free_block           free(c), free(NULL), free(d), free(e)
 *   free_block           free(a), except when r % 50 == 49: a is kept
 * then the handoff:
 *   give_blocks          100 x handoff[t][i] = malloc(32 + i)
 *   (a barrier: every thread has given)
 *   take_blocks          free of each of handoff[(t + 1) % 4][]
 *
 *   site (frames[0])   outstanding
 *   grow_block         the 30 kept blocks of each thread: the sum over t,
 *                      and r with r % 50 == 49, of 1024 + (13 t + r) % 200
 *                      bytes = 135500 B, in 120 allocations
 *   every other site   0
 *
 *   heap calls per thread: 6 allocations a round (realloc(NULL, n), malloc,
 *   posix_memalign, valloc/pvalloc, aligned_alloc, the growing realloc) and
 *   100 handoff mallocs: 9100; frees of non-NULL pointers: 6 a round
 *   (realloc(b, 0), the growing realloc's old block, c, d, e, a) less the
 *   30 kept, plus 100 handoff frees: 9070; and 3 x 1500 free(NULL).
 *
 * "done threads=4 allocs=36400 frees=36280 free_nulls=18000 kept=120
 * kept_bytes=135500 zero_nulls=6000" (zero_nulls: realloc(b, 0) calls that
 * returned NULL, as glibc's do).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "target_protocol.h"

#define NTHREADS	4
#define ROUNDS		1500
#define KEEP_EVERY	50
#define GROW_BY		1000
#define HANDOFF		100

static pthread_barrier_t warm_line, start_line, handoff_line, finish_line;
static void *handoff[NTHREADS][HANDOFF];
static void *volatile null_ptr;

struct counts {
	long allocs, frees, free_nulls, kept, kept_bytes, zero_nulls;
};

static struct counts counts[NTHREADS];

static void *must(void *p)
{
	if (!p)
		exit(1);
	return p;
}

SITE static void free_null(struct counts *c)
{
	free(null_ptr);
	c->free_nulls++;
	NO_TAIL();
}

SITE static void *start_block(struct counts *c, size_t size)
{
	void *p = must(realloc(null_ptr, size));

	c->allocs++;
	NO_TAIL();
	return p;
}

SITE static void *scratch_block(struct counts *c, size_t size)
{
	void *p = must(malloc(size));

	c->allocs++;
	NO_TAIL();
	return p;
}

SITE static void drop_by_realloc(struct counts *c, void *p)
{
	/* glibc frees p and returns NULL */
	if (!realloc(p, 0))
		c->zero_nulls++;
	c->frees++;
	NO_TAIL();
}

SITE static void *aligned_block(struct counts *c, size_t size)
{
	void *p;

	if (posix_memalign(&p, 64, size))
		exit(1);
	c->allocs++;
	NO_TAIL();
	return p;
}

SITE static void *page_block(struct counts *c, int odd, size_t size)
{
	void *p = must(odd ? valloc(size) : pvalloc(size));

	c->allocs++;
	NO_TAIL();
	return p;
}

SITE static void *cache_block(struct counts *c, size_t size)
{
	void *p = must(aligned_alloc(32, size));

	c->allocs++;
	NO_TAIL();
	return p;
}

SITE static void *grow_block(struct counts *c, void *p, size_t size)
{
	p = must(realloc(p, size));
	c->allocs++;
	c->frees++;
	NO_TAIL();
	return p;
}

SITE static void free_block(struct counts *c, void *p)
{
	free(p);
	c->frees++;
	NO_TAIL();
}

SITE static void give_blocks(struct counts *c, int t)
{
	for (int i = 0; i < HANDOFF; i++)
		handoff[t][i] = must(malloc(32 + i));
	c->allocs += HANDOFF;
}

SITE static void take_blocks(struct counts *c, int t)
{
	for (int i = 0; i < HANDOFF; i++) {
		free(handoff[t][i]);
		handoff[t][i] = NULL;
	}
	c->frees += HANDOFF;
}

SITE static void round_of_frees(struct counts *c, int t, int r)
{
	size_t size = 24 + (13 * t + r) % 200;
	void *a, *b, *p, *d, *e;

	free_null(c);
	a = start_block(c, size);
	b = scratch_block(c, 40 + 7 * r % 300);
	free_null(c);
	drop_by_realloc(c, b);
	p = aligned_block(c, 100 + r % 500);
	d = page_block(c, r & 1, (r & 1 ? 200 : 300) + t);
	e = cache_block(c, 64 + r % 100);
	a = grow_block(c, a, size + GROW_BY);
	free_block(c, p);
	free_null(c);
	free_block(c, d);
	free_block(c, e);
	if (r % KEEP_EVERY == KEEP_EVERY - 1) {
		drop(a);
		c->kept++;
		c->kept_bytes += size + GROW_BY;
	} else {
		free_block(c, a);
	}
	NO_TAIL();
}

SITE static void *thread_main(void *arg)
{
	int t = (int)(intptr_t)arg;
	struct counts *c = &counts[t];
	void *warm;

	/* Makes this thread's arena now, while nobody watches. */
	warm = must(malloc(64));
	drop(warm);
	free(warm);
	pthread_barrier_wait(&warm_line);

	pthread_barrier_wait(&start_line);
	for (int r = 0; r < ROUNDS; r++) {
		round_of_frees(c, t, r);
		NO_TAIL();
	}
	give_blocks(c, t);
	NO_TAIL();
	pthread_barrier_wait(&handoff_line);
	take_blocks(c, (t + 1) % NTHREADS);
	NO_TAIL();
	pthread_barrier_wait(&finish_line);
	/* ends with the process */
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	pthread_t threads[NTHREADS];
	struct counts sum = { 0 };

	pthread_barrier_init(&warm_line, NULL, NTHREADS + 1);
	pthread_barrier_init(&start_line, NULL, NTHREADS + 1);
	pthread_barrier_init(&handoff_line, NULL, NTHREADS);
	pthread_barrier_init(&finish_line, NULL, NTHREADS + 1);
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&threads[i], NULL, thread_main, (void *)(intptr_t)i))
			return 1;
	pthread_barrier_wait(&warm_line);

	if (!ready_wait_go())
		return 0;	/* exit() ends the waiting threads */
	pthread_barrier_wait(&start_line);
	pthread_barrier_wait(&finish_line);
	for (int i = 0; i < NTHREADS; i++) {
		sum.allocs += counts[i].allocs;
		sum.frees += counts[i].frees;
		sum.free_nulls += counts[i].free_nulls;
		sum.kept += counts[i].kept;
		sum.kept_bytes += counts[i].kept_bytes;
		sum.zero_nulls += counts[i].zero_nulls;
	}
	say("done threads=%d allocs=%ld frees=%ld free_nulls=%ld kept=%ld kept_bytes=%ld"
	    " zero_nulls=%ld", NTHREADS, sum.allocs, sum.frees, sum.free_nulls, sum.kept,
	    sum.kept_bytes, sum.zero_nulls);
	wait_eof();
	return 0;
}
