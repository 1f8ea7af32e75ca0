/*
 * sampling - known leaks beside heavy balanced churn, in a call order fixed
 * down to each call, so that leakwatch's sampled numbers can be predicted:
 * exactly for --sample-every (a per-thread countdown over the calls below),
 * and in mean and variance for --sample-bytes (independent draws).
 *
 * Protocol: see target_protocol.h; argv[1] picks the mode, "once" (the
 * default), "grow" or "realloc0".
 *
 * Mode "once". Before "ready" a helper thread is up, its malloc arena made
 * (one malloc+free, finished before "ready"), waiting on a barrier that "go"
 * opens. After "go":
 *
 *   main thread, main -> run_once -> each site, in this order:
 *   site (frames[0])   what it does                              outstanding
 *   leak_small         4000 x malloc(100), dropped: the only
 *                      allocator of its phase                    400000 B, 4000
 *   leak_mmap          3 x mmap(10000, anonymous), kept          30000 B, 3
 *   then 40 rounds r = 0..39 of:
 *     leak_large       malloc(1 MiB), dropped                    41943040 B, 40
 *     churn            100 x { malloc(churn_size(r, j)), free },
 *                      j = 0..99 (sizes 16..2015)                0
 *
 *   helper thread, thread_main -> thread_leak:
 *   thread_leak        1000 x malloc(200), dropped               200000 B, 1000
 *
 *   churn_size(r, j) = 16 + (r * 37 + j * 53) % 2000
 *   heap calls: 9040 mallocs (8040 main, 1000 helper), 4000 frees, 3 mmaps;
 *   no calloc, realloc, free(NULL) or failing call. "done" says
 *   mallocs=9040 frees=4000 mmaps=3.
 *
 * Mode "grow". "done tick_ms=20 leak_per_tick=16000" comes right after "go";
 * then, every 20 ms until EOF on stdin (late ticks are caught up), main ->
 * tick -> each site:
 *   grow_leak          16 x malloc(1000), dropped                grows 16000 B a tick
 *   grow_churn         32 x { malloc(16 + (t * 7 + j * 31) % 1000), free }
 * Each tick makes 48 mallocs, a multiple of 16. Each "ping" is answered
 * "pong ticks=N" (ticks completed; answered between ticks, never inside one).
 *
 * Mode "realloc0". Before "ready", 1000 x malloc(50) into a static array (the
 * scratch blocks, allocated before any probe). After "go", main ->
 * run_realloc0, 1000 rounds i of:
 *   leak_between_frees  malloc(100), dropped                      100000 B, 1000
 *   release_by_realloc  realloc(scratch[i], 0): frees it, returns NULL
 * So the heap allocation calls after "go" are the 1000 mallocs, alternating
 * with 1000 frees done by realloc. "done mallocs=1000 zero_reallocs=1000".
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "target_protocol.h"

#define SMALL_COUNT	4000
#define SMALL_SIZE	100
#define ROUNDS		40
#define LARGE_SIZE	(1 << 20)
#define CHURN_PER_ROUND	100
#define MMAP_COUNT	3
#define MMAP_SIZE	10000
#define THREAD_COUNT	1000
#define THREAD_SIZE	200

#define TICK_MS		20
#define GROW_PER_TICK	16
#define GROW_SIZE	1000
#define GROW_CHURN	32

static pthread_barrier_t warm_line, start_line, finish_line;
static long mallocs, frees, mmaps;
static long thread_mallocs;

static void *must(void *p)
{
	if (!p)
		exit(1);
	return p;
}

SITE static void leak_small(void)
{
	for (int i = 0; i < SMALL_COUNT; i++)
		drop(must(malloc(SMALL_SIZE)));
	mallocs += SMALL_COUNT;
}

SITE static void leak_large(void)
{
	drop(must(malloc(LARGE_SIZE)));
	mallocs++;
}

SITE static void churn(int round)
{
	for (int j = 0; j < CHURN_PER_ROUND; j++) {
		char *p = must(malloc(16 + (round * 37 + j * 53) % 2000));

		p[0] = 1;
		drop(p);
		free(p);
	}
	mallocs += CHURN_PER_ROUND;
	frees += CHURN_PER_ROUND;
}

SITE static void leak_mmap(void)
{
	for (int i = 0; i < MMAP_COUNT; i++) {
		void *p = mmap(NULL, MMAP_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			exit(1);
		drop(p);
	}
	mmaps += MMAP_COUNT;
}

SITE static void run_once(void)
{
	leak_small();
	NO_TAIL();
	leak_mmap();
	NO_TAIL();
	for (int r = 0; r < ROUNDS; r++) {
		leak_large();
		NO_TAIL();
		churn(r);
		NO_TAIL();
	}
}

SITE static void thread_leak(void)
{
	for (int i = 0; i < THREAD_COUNT; i++)
		drop(must(malloc(THREAD_SIZE)));
	thread_mallocs += THREAD_COUNT;
}

SITE static void *thread_main(void *arg)
{
	void *warm;

	/* Makes this thread's arena now, while nobody watches. */
	warm = must(malloc(THREAD_SIZE));
	drop(warm);
	free(warm);
	pthread_barrier_wait(&warm_line);

	pthread_barrier_wait(&start_line);
	thread_leak();
	NO_TAIL();
	pthread_barrier_wait(&finish_line);
	/* ends with the process */
	for (;;)
		pause();
	return NULL;
}

static int main_once(void)
{
	pthread_t thread;

	pthread_barrier_init(&warm_line, NULL, 2);
	pthread_barrier_init(&start_line, NULL, 2);
	pthread_barrier_init(&finish_line, NULL, 2);
	if (pthread_create(&thread, NULL, thread_main, NULL))
		return 1;
	pthread_barrier_wait(&warm_line);
	if (!ready_wait_go())
		return 0;	/* exit() ends the waiting thread */
	pthread_barrier_wait(&start_line);
	run_once();
	pthread_barrier_wait(&finish_line);
	say("done mallocs=%ld frees=%ld mmaps=%ld", mallocs + thread_mallocs, frees, mmaps);
	wait_eof();
	return 0;
}

SITE static void grow_leak(void)
{
	for (int i = 0; i < GROW_PER_TICK; i++)
		drop(must(malloc(GROW_SIZE)));
}

SITE static void grow_churn(long tick)
{
	for (int j = 0; j < GROW_CHURN; j++) {
		char *p = must(malloc(16 + (tick * 7 + j * 31) % 1000));

		p[0] = 1;
		drop(p);
		free(p);
	}
	NO_TAIL();
}

SITE static void tick(long n)
{
	grow_leak();
	NO_TAIL();
	grow_churn(n);
	NO_TAIL();
}

/* Answers the "ping" lines that arrived (kept whole across reads);
 * false at EOF. */
static bool answer_pings(long ticks)
{
	static char buf[128];
	static size_t len;
	ssize_t r = read(0, buf + len, sizeof(buf) - 1 - len);
	char *nl;

	if (r < 0)
		return errno == EINTR;
	if (r == 0)
		return false;
	len += r;
	while ((nl = memchr(buf, '\n', len))) {
		*nl = '\0';
		if (!strcmp(buf, "ping"))
			say("pong ticks=%ld", ticks);
		len -= nl + 1 - buf;
		memmove(buf, nl + 1, len);
	}
	if (len == sizeof(buf) - 1)
		len = 0;	/* an overlong line: dropped */
	return true;
}

static int main_grow(void)
{
	struct pollfd in = { .fd = 0, .events = POLLIN };
	long start_ms, ticks = 0;

	if (!ready_wait_go())
		return 0;
	start_ms = now_ms();
	say("done tick_ms=%d leak_per_tick=%d", TICK_MS, GROW_PER_TICK * GROW_SIZE);
	for (;;) {
		long wait = start_ms + (ticks + 1) * TICK_MS - now_ms();

		if (wait <= 0) {
			tick(ticks++);
			continue;
		}
		if (poll(&in, 1, (int)wait) > 0 && !answer_pings(ticks))
			return 0;
	}
}

#define SCRATCH_COUNT	1000
#define SCRATCH_SIZE	50
#define BETWEEN_SIZE	100

static void *scratch[SCRATCH_COUNT];

SITE static void leak_between_frees(void)
{
	drop(must(malloc(BETWEEN_SIZE)));
	NO_TAIL();
}

SITE static long release_by_realloc(void *p)
{
	/* glibc frees p and returns NULL */
	long zero = realloc(p, 0) == NULL;

	NO_TAIL();
	return zero;
}

SITE static long run_realloc0(void)
{
	long zero = 0;

	for (int i = 0; i < SCRATCH_COUNT; i++) {
		leak_between_frees();
		NO_TAIL();
		zero += release_by_realloc(scratch[i]);
		scratch[i] = NULL;
	}
	return zero;
}

static int main_realloc0(void)
{
	long zero;

	for (int i = 0; i < SCRATCH_COUNT; i++)
		scratch[i] = must(malloc(SCRATCH_SIZE));
	if (!ready_wait_go())
		return 0;
	zero = run_realloc0();
	say("done mallocs=%d zero_reallocs=%ld", SCRATCH_COUNT, zero);
	wait_eof();
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "once";

	if (!strcmp(mode, "once"))
		return main_once();
	if (!strcmp(mode, "grow"))
		return main_grow();
	if (!strcmp(mode, "realloc0"))
		return main_realloc0();
	put_str("usage: sampling [once|grow|realloc0]\n");
	return 2;
}
