/*
 * page_churn - make bench's workloads for --growth: memory made resident
 * page by page, the only events growth mode pays for.
 *
 * Usage: page_churn churn|leak|trickle OPS
 *   churn    each op: malloc(1 MiB), every byte written, free. glibc's mmap
 *            threshold is pinned at 128 KiB, so every block is a fresh
 *            mapping: 257 page faults an op, and an munmap giving them back
 *            (the worst case; with glibc's default threshold the block is
 *            reused from the heap and faults once)
 *   leak     each op: malloc(1 MiB), every byte written, kept: 1 MiB of
 *            growth an op
 *   trickle  64 KiB leaked every 100 ms until EOF on stdin (a process
 *            among many on a host: make bench's fleet); OPS is ignored
 *   hold     as leak, then the memory is held, untouched, until EOF on
 *            stdin (a big steady heap: what each report costs)
 * Prints "ready", waits for "go" on stdin, runs, prints "ops=N cpu_ns=T
 * wall_ns=W faults=F" (minor faults of the loop), then exits (trickle and
 * hold: wait for EOF first).
 */
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (1 << 20)

static long long ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

int main(int argc, char **argv)
{
	long ops = argc == 3 ? atol(argv[2]) : 0, faults;
	long long cpu, wall;
	char line[16];

	if (argc != 3 || ops <= 0 || (strcmp(argv[1], "churn") && strcmp(argv[1], "leak") &&
				      strcmp(argv[1], "trickle") && strcmp(argv[1], "hold"))) {
		fprintf(stderr, "usage: page_churn churn|leak|trickle|hold OPS\n");
		return 64;
	}
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin) || strcmp(line, "go\n"))
		return 0;
	if (!strcmp(argv[1], "trickle")) {
		struct pollfd in = { .fd = 0, .events = POLLIN };

		while (poll(&in, 1, 100) == 0) {
			char *p = malloc(64 << 10);

			if (!p)
				return 1;
			memset(p, 1, 64 << 10);
			__asm__ volatile("" : : "r"(p) : "memory");
		}
		return 0;
	}
	cpu = ns(CLOCK_PROCESS_CPUTIME_ID);
	wall = ns(CLOCK_MONOTONIC);
	faults = minflt();
	for (long i = 0; i < ops; i++) {
		char *p = malloc(BLOCK);

		if (!p)
			return 1;
		memset(p, (int)i, BLOCK);
		/* the writes are kept: the block is seen as used */
		__asm__ volatile("" : : "r"(p) : "memory");
		if (argv[1][0] == 'c')
			free(p);
	}
	faults = minflt() - faults;
	cpu = ns(CLOCK_PROCESS_CPUTIME_ID) - cpu;
	wall = ns(CLOCK_MONOTONIC) - wall;
	printf("ops=%ld cpu_ns=%lld wall_ns=%lld faults=%ld\n", ops, cpu, wall, faults);
	if (argv[1][0] == 'h') {
		fflush(stdout);
		while (fgets(line, sizeof(line), stdin))
			;
	}
	return 0;
}
