/*
 * steps - leaks a known number of bytes per "step" command, for leakwatch
 * diff: what a report says was added between two of them is what the target
 * says it added between the two steps.
 *
 * Protocol: see target_protocol.h, with commands after "done" (one line
 * each, answered with one line; EOF exits 0):
 *   "go"     nothing allocated yet: "done size=4096 per_step=3"
 *   "step"   step_leak: 3 x malloc(4096), pointers dropped:
 *            "stepped steps=N bytes=B allocs=A" (totals since "go")
 * Nothing else touches the heap after "go": outstanding is 4096 B times
 * 3 per step, all from step_leak (frames main -> serve -> step_leak).
 */
#include <stdlib.h>

#include "target_protocol.h"

#define STEP_SIZE	4096
#define PER_STEP	3

SITE static void step_leak(void)
{
	for (int i = 0; i < PER_STEP; i++)
		drop(MALLOC_OR_EXIT(STEP_SIZE));
	NO_TAIL();
}

SITE static void serve(void)
{
	char line[64];
	long steps = 0;

	while (read_line(line, sizeof(line)) >= 0) {
		if (strcmp(line, "step"))
			continue;
		step_leak();
		steps++;
		say("stepped steps=%ld bytes=%ld allocs=%ld", steps, steps * PER_STEP * STEP_SIZE,
		    steps * PER_STEP);
	}
}

int main(void)
{
	if (!ready_wait_go())
		return 0;
	say("done size=%d per_step=%d", STEP_SIZE, PER_STEP);
	serve();
	return 0;
}
