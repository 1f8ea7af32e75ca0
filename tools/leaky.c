/*
 * leaky - the demo workload for `make demo`: a pretend request server with
 * two real leaks among memory use that is not a leak, running until killed
 * (Ctrl-C, SIGTERM). It prints its PID and what to expect, then works
 * quietly; watch it with `sudo build/leakwatch -p PID 1`.
 *
 * Every 100 ms (a tick), main -> serve_tick ->
 *   handle_request -> leak_request_buffer   4 KiB, never freed:
 *                                           the fast leak, ~40 KiB/s
 *   handle_request -> parse_headers         balanced churn: 64 malloc/free
 *                                           pairs of 32..2079 B, and one
 *                                           calloc/free
 *   cache_lookup -> cache_insert            a 128-entry cache of 2 KiB
 *                                           values: it warms up over the
 *                                           first 12.8 s, then each insert
 *                                           evicts the oldest entry, so it
 *                                           plateaus at 256 KiB (not a leak)
 * and every 10 ticks (1 s):
 *   open_session -> leak_session_entry      one 300 B calloc, never freed:
 *                                           the slow leak, 300 B/s
 * leakwatch should call the two leak_* sites growing, and the cache steady
 * once it has warmed up; the churn holds nothing.
 *
 * Leaked blocks are really leaked: their pointers are dropped (only folded
 * into a checksum so the compiler keeps the calls). Build like the test
 * targets: cc -O2 -g -fno-omit-frame-pointer -pthread.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __clang__
#define SITE __attribute__((noinline))
#else
#define SITE __attribute__((noinline, noclone))
#endif
#define NO_TAIL() __asm__ volatile("" ::: "memory")

#define TICK_MS			100
#define REQUEST_BUFFER_SIZE	4096
#define HEADERS_PER_REQUEST	64
#define SESSION_EVERY_TICKS	10
#define SESSION_ENTRY_SIZE	300
#define CACHE_ENTRIES		128
#define CACHE_VALUE_SIZE	2048

struct cache_entry {
	unsigned long key;
	char *value;
};

static volatile uintptr_t checksum;
static struct cache_entry cache[CACHE_ENTRIES];
static unsigned long cache_inserts;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void *must(void *p)
{
	if (!p) {
		fprintf(stderr, "leaky: out of memory\n");
		exit(1);
	}
	return p;
}

SITE static char *leak_request_buffer(unsigned long id)
{
	char *buf = must(malloc(REQUEST_BUFFER_SIZE));

	/* Touch every page so RSS follows the heap. */
	memset(buf, (int)(id & 0x7f) | 1, REQUEST_BUFFER_SIZE);
	return buf;
}

SITE static void parse_headers(unsigned long id)
{
	char *table;

	for (int i = 0; i < HEADERS_PER_REQUEST; i++) {
		size_t len = 32 + (id * 31 + i * 97) % 2048;
		char *h = must(malloc(len));

		h[0] = 'H';
		h[len - 1] = '\0';
		checksum ^= (uintptr_t)h;
		free(h);
	}
	table = must(calloc(16, 24));
	checksum ^= (uintptr_t)table;
	free(table);
}

SITE static void handle_request(unsigned long id)
{
	parse_headers(id);
	/* The bug: the buffer should be freed once the reply is sent. */
	checksum ^= (uintptr_t)leak_request_buffer(id);
}

SITE static void leak_session_entry(unsigned long id)
{
	char *entry = must(calloc(1, SESSION_ENTRY_SIZE));

	entry[0] = (char)id;
	checksum ^= (uintptr_t)entry;
}

SITE static void open_session(unsigned long id)
{
	leak_session_entry(id);
	NO_TAIL();
}

SITE static void cache_insert(unsigned long key)
{
	struct cache_entry *e = &cache[cache_inserts++ % CACHE_ENTRIES];

	free(e->value);	/* evicts the oldest entry once the cache is full */
	e->key = key;
	e->value = must(malloc(CACHE_VALUE_SIZE));
	memset(e->value, 'v', CACHE_VALUE_SIZE);
}

SITE static void cache_lookup(unsigned long key)
{
	for (int i = 0; i < CACHE_ENTRIES; i++)
		if (cache[i].value && cache[i].key == key)
			return;
	cache_insert(key);
	NO_TAIL();
}

SITE static void serve_tick(unsigned long tick)
{
	handle_request(tick);
	NO_TAIL();
	cache_lookup(tick);
	NO_TAIL();
	if (tick % SESSION_EVERY_TICKS == 0)
		open_session(tick);
	NO_TAIL();
}

int main(void)
{
	struct timespec next;
	struct sigaction sa;
	unsigned long tick = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	printf("leaky: pid %d, running until killed (Ctrl-C)\n", (int)getpid());
	printf("  leaks %d B every %d ms in leak_request_buffer (from handle_request)\n",
	       REQUEST_BUFFER_SIZE, TICK_MS);
	printf("  leaks %d B every %d ms in leak_session_entry (from open_session)\n",
	       SESSION_ENTRY_SIZE, TICK_MS * SESSION_EVERY_TICKS);
	printf("  not leaks: churn in parse_headers; cache_insert warms up to %d KiB in %.1f s, then plateaus\n",
	       CACHE_ENTRIES * CACHE_VALUE_SIZE / 1024,
	       CACHE_ENTRIES * TICK_MS / 1000.0);
	printf("  watch it: sudo build/leakwatch -p %d 1\n", (int)getpid());
	fflush(stdout);

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop) {
		serve_tick(tick++);
		next.tv_nsec += TICK_MS * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
						&next, NULL) == EINTR)
			;
	}
	printf("leaky: stopped after %lu requests\n", tick);
	return 0;
}
