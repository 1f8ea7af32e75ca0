/*
 * ages - two leaks made at known times apart, for the ages leakwatch keeps
 * per stack (allocation epochs in BPF, not a walk of live blocks).
 *
 * Protocol: see target_protocol.h. After "go", main ->
 *   leak_early   10 x malloc(1000), pointers dropped      10000 B, 10
 *   (sleeps argv[1] milliseconds, default 1500)
 *   leak_late    10 x malloc(2000), pointers dropped      20000 B, 10
 * then prints "done" and waits for EOF. Nothing else allocates after "go".
 *
 * With argv[2] = "drip": instead, leak_drip, 20 x { malloc(100) from one
 * call site; sleep 100 ms }, 2000 B in 20 from a single stack spread over
 * 2 s (so a stack's early epochs give way to later ones), then "done".
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "target_protocol.h"

SITE void leak_early(void)
{
	for (int i = 0; i < 10; i++) {
		drop(malloc(1000));
		NO_TAIL();
	}
}

SITE void leak_late(void)
{
	for (int i = 0; i < 10; i++) {
		drop(malloc(2000));
		NO_TAIL();
	}
}

SITE void leak_drip(void)
{
	struct timespec pause = { 0, 100 * 1000000L };

	for (int i = 0; i < 20; i++) {
		drop(malloc(100));
		nanosleep(&pause, NULL);
	}
}

int main(int argc, char **argv)
{
	long gap_ms = argc > 1 ? atol(argv[1]) : 1500;
	struct timespec gap = { gap_ms / 1000, gap_ms % 1000 * 1000000L };

	if (!ready_wait_go())
		return 0;
	if (argc > 2 && !strcmp(argv[2], "drip")) {
		leak_drip();
		put_str("done\n");
		wait_eof();
		return 0;
	}
	leak_early();
	nanosleep(&gap, NULL);
	leak_late();
	put_str("done\n");
	wait_eof();
	return 0;
}
