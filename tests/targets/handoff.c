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
 * Then main frees a block (free_then) and maps 1 MiB itself from a function
 * whose frame holds free's old return address, unwritten (map_after_free):
 * that mapping is the program's, though it lies below where free was.
 *
 *   site (frames[0], frames[1])     outstanding
 *   thread_leak, thread_main        NTHREADS * LEAK = 4 * 3000 = 12000 B
 *                                   in 4 allocations
 *   handoff_block, main             0 (each freed by its thread)
 *   map_after_free, main            1 MiB, mmap, 1 region
 *   other mmaps                     only the threads' stacks
 *
 * "done threads=4 leak=3000" once the threads have leaked; at EOF they end
 * and are joined.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

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

SITE static void free_then(void)
{
	void *p = malloc(BLOCK);

	drop(p);
	free(p);
	NO_TAIL();
}

/* A frame larger than free_then's, never written below its top: free's
 * return address, left in free_then's frame, lies in buf, unchanged. */
SITE static void map_after_free(void)
{
	char buf[512];
	void *p;

	__asm__ volatile("" : : "r"(buf) : "memory");
	p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		exit(1);
	drop(p);
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
	free_then();
	NO_TAIL();
	map_after_free();
	NO_TAIL();
	say("done threads=%d leak=%d", NTHREADS, LEAK);
	wait_eof();
	pthread_barrier_wait(&quit_line);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
