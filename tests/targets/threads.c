/*
 * threads - four threads leak from one site at the same time, with churn in
 * between, so per-thread state in leakwatch (the size an entry probe keeps
 * for its return probe) is exercised concurrently; each thread leaks a
 * different size so a mix-up between threads changes the total.
 *
 * Protocol: see target_protocol.h. Before "ready" the threads are up, each
 * with its malloc arena already made (one malloc+free), waiting on a
 * barrier; "go" releases them; "done threads=4 allocs= frees=" counts the
 * heap calls once all have finished; at EOF they end and are joined.
 *
 * After "go", thread i (0..3), in thread_main, does 10*(i+1) rounds of:
 *   thread_leak(1000*(i+1) + i)   one malloc, pointer dropped
 *   thread_churn(i, 250)          250 x { malloc(16..515), free }   0
 *
 *   site (frames[0], frames[1])     outstanding
 *   thread_leak, thread_main        10*1000 + 20*2001 + 30*3002 + 40*4003
 *                                   = 300200 B in 100 allocations
 *   thread_churn, thread_main       0
 *   heap calls: 25100 mallocs, 25000 frees.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "target_protocol.h"

#define NTHREADS	4
#define ROUNDS_PER_ID	10	/* thread i runs ROUNDS_PER_ID * (i + 1) rounds */
#define CHURN_PER_ROUND	250

static pthread_barrier_t start_line, finish_line, quit_line;
static long allocs[NTHREADS], frees[NTHREADS];

SITE static void thread_leak(int id, size_t size)
{
	void *p = malloc(size);

	if (!p)
		exit(1);
	drop(p);
	allocs[id]++;
}

SITE static void thread_churn(int id, int count)
{
	for (int j = 0; j < count; j++) {
		size_t size = 16 + (j * 13 + id * 7) % 500;
		char *p = malloc(size);

		if (!p)
			exit(1);
		p[0] = 1;
		drop(p);
		free(p);
		allocs[id]++;
		frees[id]++;
	}
	NO_TAIL();
}

SITE static void *thread_main(void *arg)
{
	int id = (int)(intptr_t)arg;
	size_t leak_size = 1000 * (id + 1) + id;
	void *warm;

	/* Makes this thread's arena now, while nobody watches. */
	warm = malloc(leak_size);
	drop(warm);
	free(warm);

	pthread_barrier_wait(&start_line);
	for (int round = 0; round < ROUNDS_PER_ID * (id + 1); round++) {
		thread_leak(id, leak_size);
		NO_TAIL();
		thread_churn(id, CHURN_PER_ROUND);
		NO_TAIL();
	}
	pthread_barrier_wait(&finish_line);
	pthread_barrier_wait(&quit_line);
	return NULL;
}

int main(void)
{
	pthread_t threads[NTHREADS];
	long total_allocs = 0, total_frees = 0;

	pthread_barrier_init(&start_line, NULL, NTHREADS + 1);
	pthread_barrier_init(&finish_line, NULL, NTHREADS + 1);
	pthread_barrier_init(&quit_line, NULL, NTHREADS + 1);
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&threads[i], NULL, thread_main,
				   (void *)(intptr_t)i))
			return 1;

	if (!ready_wait_go())
		return 0;	/* exit() ends the waiting threads */
	pthread_barrier_wait(&start_line);
	pthread_barrier_wait(&finish_line);
	for (int i = 0; i < NTHREADS; i++) {
		total_allocs += allocs[i];
		total_frees += frees[i];
	}
	say("done threads=%d allocs=%ld frees=%ld", NTHREADS, total_allocs,
	    total_frees);
	wait_eof();
	pthread_barrier_wait(&quit_line);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
