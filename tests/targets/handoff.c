/*
 * handoff - new threads whose first allocator call is a free(): glibc sets
 * up the thread's cache inside that free, which creates a malloc arena,
 * and a new arena is a heap mapped with mmap (64 MiB reserved, PROT_NONE)
 * from within free. That mapping is the allocator's, not the program's:
 * it must not show as an mmap the program made.
 *
 * Protocol: see target_protocol.h. After "go", main mallocs one block per
 * thread (handoff_block), then starts NTHREADS threads at once; each, in
 * thread_main, first frees the block it was handed, then, once all have
 * freed theirs (so each had to make an arena of its own, none being free),
 * leaks one block:
 *
 *   site (frames[0], frames[1])     outstanding
 *   thread_leak, thread_main        NTHREADS * LEAK = 4 * 3000 = 12000 B
 *                                   in 4 allocations
 *   handoff_block, main             0 (each freed by its thread)
 *   mmap                            none
 *
 * "done threads=4 leak=3000" once the threads have leaked; at EOF they end
 * and are joined.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "target_protocol.h"

#define NTHREADS	4
#define BLOCK		200
#define LEAK		3000

static pthread_barrier_t freed_line, leaked_line, quit_line;
static void *blocks[NTHREADS];

SITE static void *handoff_block(void)
{
	void *p = malloc(BLOCK);

	if (!p)
		exit(1);
	drop(p);
	return p;
}

SITE static void thread_leak(void)
{
	void *p = malloc(LEAK);

	if (!p)
		exit(1);
	drop(p);
}

SITE static void *thread_main(void *arg)
{
	int id = (int)(intptr_t)arg;

	free(blocks[id]); /* this thread's first allocator call */
	pthread_barrier_wait(&freed_line);
	thread_leak();
	NO_TAIL();
	pthread_barrier_wait(&leaked_line);
	pthread_barrier_wait(&quit_line);
	return NULL;
}

int main(void)
{
	pthread_t threads[NTHREADS];

	pthread_barrier_init(&freed_line, NULL, NTHREADS);
	pthread_barrier_init(&leaked_line, NULL, NTHREADS + 1);
	pthread_barrier_init(&quit_line, NULL, NTHREADS + 1);
	if (!ready_wait_go())
		return 0;
	for (int i = 0; i < NTHREADS; i++)
		blocks[i] = handoff_block();
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&threads[i], NULL, thread_main, (void *)(intptr_t)i))
			return 1;
	pthread_barrier_wait(&leaked_line);
	say("done threads=%d leak=%d", NTHREADS, LEAK);
	wait_eof();
	pthread_barrier_wait(&quit_line);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
