// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * alloc_storm: the allocation-heavy workload of `make bench`. Each thread
 * makes a fixed number of allocation/free pairs as fast as it can, keeping
 * a ring of 16 live blocks so frees are not always of the newest block;
 * sizes are 16..1039 bytes from a per-thread xorshift.
 *
 *   -m pairs   malloc + free
 *   -m mix     in turn: malloc/free, calloc/free, realloc grow then free,
 *              new[]/delete[], new/delete of a 64-byte object
 *   -t N       threads (default 1); -n OPS total pairs (default 200000)
 *   -d D       pairs: every malloc D frames deeper (a recursion), for the
 *              cost of walking deep stacks
 *   -s K       spread the allocations over K distinct call stacks (up to
 *              3600: two recursions of 0..59 frames each), and keep the
 *              last block of each stack live, so leakwatch reports K stacks
 *
 * Protocol, so an observer can attach to the live process first: prints
 * "ready" and waits for a line on stdin, runs the timed region, prints
 * "ops=N wall_ns=W cpu_ns=C" (cpu is the process's user + system time in
 * the timed region, which includes time in uprobe handlers and BPF
 * programs) and exits.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RING 16

struct object {
	char bytes[64];
};

struct worker {
	pthread_t thread;
	long ops;
	bool mix;
	int stacks;
	int depth;
	uint64_t seed;
	uint64_t checksum;
};

#define MAX_DEPTH 60

/* Two recursions give depth_a * MAX_DEPTH + depth_b distinct stacks. */
__attribute__((noinline)) static void *down_b(int depth, size_t size)
{
	void *p = depth ? down_b(depth - 1, size) : malloc(size);

	__asm__ volatile("" ::: "memory"); /* no tail call: keep the frame */
	return p;
}

__attribute__((noinline)) static void *down_a(int depth_a, int depth_b, size_t size)
{
	void *p = depth_a ? down_a(depth_a - 1, depth_b, size) : down_b(depth_b, size);

	__asm__ volatile("" ::: "memory");
	return p;
}

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One allocation/free pair of the given kind; the block is kept in the
 * ring slot and the block it replaces is freed the matching way. */
struct slot {
	void *p;
	int kind;
};

static void release(struct slot *s)
{
	switch (s->kind) {
	case 3:
		delete[] static_cast<char *>(s->p);
		break;
	case 4:
		delete static_cast<struct object *>(s->p);
		break;
	default:
		free(s->p);
	}
	s->p = NULL;
}

/* -s: each call allocates through one of K stacks; the previous block of
 * that stack is freed, so every stack keeps one block live. */
static void *work_stacks(struct worker *w)
{
	void **live = static_cast<void **>(calloc(w->stacks, sizeof(void *)));

	for (long i = 0; i < w->ops; i++) {
		int k = (int)(i % w->stacks);

		free(live[k]);
		live[k] = down_a(k / MAX_DEPTH, k % MAX_DEPTH, 64);
		w->checksum += (uintptr_t)live[k] & 0xff;
	}
	for (int k = 0; k < w->stacks; k++)
		free(live[k]);
	free(live);
	return NULL;
}

static void *work(void *arg)
{
	struct worker *w = static_cast<struct worker *>(arg);
	struct slot ring[RING] = {};

	if (w->stacks)
		return work_stacks(w);
	for (long i = 0; i < w->ops; i++) {
		struct slot *s = &ring[i % RING];
		size_t size = 16 + next(&w->seed) % 1024;
		int kind = w->mix ? (int)(i % 5) : 0;

		if (s->p)
			release(s);
		s->kind = kind;
		switch (kind) {
		case 0:
			s->p = w->depth ? down_b(w->depth, size) : malloc(size);
			break;
		case 1:
			s->p = calloc(1, size);
			break;
		case 2:
			s->p = realloc(malloc(size / 2), size);
			break;
		case 3:
			s->p = new char[size];
			break;
		case 4:
			s->p = new struct object;
			break;
		}
		static_cast<char *>(s->p)[0] = (char)i;
		w->checksum += (uintptr_t)s->p & 0xff;
	}
	for (int i = 0; i < RING; i++)
		if (ring[i].p)
			release(&ring[i]);
	return NULL;
}

static uint64_t ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long total = 200000;
	int threads = 1, stacks = 0, depth = 0, opt;
	bool mix = false;
	char line[16];
	uint64_t sum = 0;

	while ((opt = getopt(argc, argv, "m:t:n:s:d:")) != -1) {
		switch (opt) {
		case 'm':
			mix = !strcmp(optarg, "mix");
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'n':
			total = atol(optarg);
			break;
		case 's':
			stacks = atoi(optarg);
			break;
		case 'd':
			depth = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: alloc_storm [-m pairs|mix] [-t THREADS] [-n OPS] [-s STACKS] "
				"[-d DEPTH]\n");
			return 2;
		}
	}
	if (threads < 1 || threads > 64 || total < threads || stacks < 0 ||
	    stacks > MAX_DEPTH * MAX_DEPTH || depth < 0 || depth > 1000) {
		fprintf(stderr, "alloc_storm: bad -t, -n, -s or -d\n");
		return 2;
	}
	struct worker *w = static_cast<struct worker *>(calloc(threads, sizeof(*w)));

	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 0;

	uint64_t wall0 = ns(CLOCK_MONOTONIC), cpu0 = ns(CLOCK_PROCESS_CPUTIME_ID);
	for (int i = 0; i < threads; i++) {
		w[i].ops = total / threads;
		w[i].mix = mix;
		w[i].stacks = stacks;
		w[i].depth = depth;
		w[i].seed = 0x9e3779b97f4a7c15ULL + i;
		pthread_create(&w[i].thread, NULL, work, &w[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		sum += w[i].checksum;
	}
	uint64_t wall = ns(CLOCK_MONOTONIC) - wall0, cpu = ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;

	printf("ops=%ld wall_ns=%llu cpu_ns=%llu checksum=%llu\n", total / threads * threads,
	       (unsigned long long)wall, (unsigned long long)cpu, (unsigned long long)sum);
	free(w);
	return 0;
}
