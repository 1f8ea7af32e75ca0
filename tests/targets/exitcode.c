/*
 * exitcode - a command for leakwatch to start itself (-c "CMD ARGS" or
 * -- CMD ARG...): no stdin protocol and no output at all (its stdout is
 * leakwatch's). It leaks at once, so only a command held until the probes
 * are in has these leaks counted, then ends with a chosen exit status or
 * signal.
 *
 * Usage: exitcode SIZE COUNT [STATUS [PAUSE_MS [SIGNAL [EXTRA...]]]]
 *
 *   site (frames[0])   when                       what             outstanding
 *   leak_in_ctor       a constructor, before main malloc(333)      333 B, 1
 *   leak_at_start      first thing in main        COUNT x malloc(SIZE),
 *                                                 dropped          SIZE*COUNT B, COUNT
 *   leak_argv          right after                per EXTRA argument: a
 *                                                 copy (strlen + 1 bytes),
 *                                                 dropped          sum, one each
 *
 * Then it sleeps PAUSE_MS milliseconds (default 0), and if SIGNAL (default 0)
 * is not 0 it raises SIGNAL with its default action (killed by it); else it
 * exits with STATUS (default 0). SIZE and COUNT come from argv, so the
 * numbers show which arguments arrived. Bad arguments: exit 125.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "target_protocol.h"

#define CTOR_LEAK	333
#define BAD_ARGS	125

/* A non-negative decimal number, or -1; no locale, no allocation. */
static long number(const char *s)
{
	long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 100000000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

SITE static void leak_in_ctor_site(void)
{
	drop(malloc(CTOR_LEAK));
}

/* The constructor itself may be entered from libc without a frame worth
 * naming: the leak is in a function of its own. */
__attribute__((constructor)) static void leak_in_ctor(void)
{
	leak_in_ctor_site();
	NO_TAIL();
}

SITE static void leak_at_start(long size, long count)
{
	for (long i = 0; i < count; i++)
		drop(malloc(size));
}

SITE static void leak_argv(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]) + 1;
		char *copy = malloc(n);

		if (!copy)
			exit(BAD_ARGS);
		memcpy(copy, argv[i], n);
		drop(copy);
	}
}

int main(int argc, char **argv)
{
	long size = argc > 1 ? number(argv[1]) : -1;
	long count = argc > 2 ? number(argv[2]) : -1;
	long status = argc > 3 ? number(argv[3]) : 0;
	long pause_ms = argc > 4 ? number(argv[4]) : 0;
	long sig = argc > 5 ? number(argv[5]) : 0;
	struct timespec pause;

	if (size < 1 || count < 0 || status < 0 || status > 255 || pause_ms < 0 || sig < 0)
		return BAD_ARGS;
	leak_at_start(size, count);
	NO_TAIL();
	if (argc > 6)
		leak_argv(argc - 6, argv + 6);
	NO_TAIL();
	pause.tv_sec = pause_ms / 1000;
	pause.tv_nsec = pause_ms % 1000 * 1000000L;
	while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
		;
	if (sig) {
		signal(sig, SIG_DFL);
		raise(sig);
		return BAD_ARGS;	/* a signal that does not kill */
	}
	return status;
}
