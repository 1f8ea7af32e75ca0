/*
 * threads - four threads leak from one site at the same time, with churn in
 * between, so per-thread state in leakwatch (the size an entry probe keeps
 * for its return probe) is exercised concurrently; each thread leaks a
 * different size so a mix-up between threads changes the total.
 *
 * Protocol (one line each way, as every target in this directory):
 *   -> "ready"          threads are up, each with its malloc arena already
 *                       made (one malloc+free before "ready"); they wait on
 *                       a barrier and the heap is untouched until "go"
 *   <- "go"             release the threads; they run the workload below
 *   -> "done K=V ..."   every thread finished: allocs= and frees= counted
 *   <- EOF on stdin     threads end, are joined, exit 0 (or be killed)
 * I/O is read(2)/write(2), never stdio, so after "go" the only heap calls are
 * the ones below (thread creation happened before "ready").
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
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __clang__
#define SITE __attribute__((noinline))
#else
#define SITE __attribute__((noinline, noclone))
#endif
#define NO_TAIL() __asm__ volatile("" ::: "memory")

#define NTHREADS	4
#define ROUNDS_PER_ID	10	/* thread i runs ROUNDS_PER_ID * (i + 1) rounds */
#define CHURN_PER_ROUND	250

static volatile uintptr_t sink;
static pthread_barrier_t start_line, finish_line, quit_line;
static long allocs[NTHREADS], frees[NTHREADS];

static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		exit(1);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t w = write(1, buf + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			exit(1);
		off += w;
	}
}

static int read_line(char *buf, size_t len)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(0, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return n ? (int)n : -1;
		if (c == '\n')
			break;
		if (n + 1 < len)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return n;
}

static void wait_eof(void)
{
	char buf[256];

	for (;;) {
		ssize_t r = read(0, buf, sizeof(buf));

		if (r == 0 || (r < 0 && errno != EINTR))
			return;
	}
}

SITE static void thread_leak(int id, size_t size)
{
	void *p = malloc(size);

	if (!p)
		exit(1);
	sink ^= (uintptr_t)p;
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
		sink ^= (uintptr_t)p;
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
	sink ^= (uintptr_t)warm;
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
	char line[64];

	pthread_barrier_init(&start_line, NULL, NTHREADS + 1);
	pthread_barrier_init(&finish_line, NULL, NTHREADS + 1);
	pthread_barrier_init(&quit_line, NULL, NTHREADS + 1);
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&threads[i], NULL, thread_main,
				   (void *)(intptr_t)i))
			return 1;

	say("ready");
	for (;;) {
		if (read_line(line, sizeof(line)) < 0)
			return 0;	/* exit() ends the waiting threads */
		if (!strcmp(line, "go"))
			break;
	}
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
