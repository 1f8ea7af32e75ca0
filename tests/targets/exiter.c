/*
 * exiter - leaks known bytes, then exits on its own while watched: leakwatch
 * must keep the process's stacks (symbolized while it was alive), mark it
 * not alive, and when it was the last target print the summary and exit 0.
 *
 * Protocol: see target_protocol.h, except the end: after "done pause_ms=N"
 * it sleeps argv[1] milliseconds (default 500), then exits 0 by itself,
 * without waiting for EOF on stdin. The leak is its only heap call.
 *
 *   site (frames[0], frames[1])    what it does                 outstanding
 *   exiter_leak, main              30 x malloc(512), held in a   15360 B, 30
 *                                  global array until exit
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "target_protocol.h"

#define LEAK_COUNT	30
#define LEAK_SIZE	512

static void *volatile held[LEAK_COUNT];

SITE static void exiter_leak(void)
{
	for (int i = 0; i < LEAK_COUNT; i++) {
		held[i] = malloc(LEAK_SIZE);
		if (!held[i])
			exit(1);
	}
}

int main(int argc, char **argv)
{
	long pause_ms = argc > 1 ? atol(argv[1]) : 500;
	struct timespec pause;

	if (pause_ms < 0)
		pause_ms = 0;
	pause.tv_sec = pause_ms / 1000;
	pause.tv_nsec = pause_ms % 1000 * 1000000L;

	if (!ready_wait_go())
		return 0;
	exiter_leak();
	NO_TAIL();
	say("done pause_ms=%ld", pause_ms);
	while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
		;
	return 0;
}
