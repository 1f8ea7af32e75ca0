/*
 * ages - two leaks made at known times apart, for the ages leakwatch keeps
 * per stack (allocation epochs in BPF, not a walk of live blocks).
 *
 * Protocol: see target_protocol.h. After "go", main ->
 *   leak_early   10 x malloc(1000), pointers dropped      10000 B, 10
 *   (sleeps argv[1] milliseconds, default 1500)
 *   leak_late    10 x malloc(2000), pointers dropped      20000 B, 10
 * then prints "done" and waits for EOF. Nothing else allocates after "go".
 */
#include <stdlib.h>
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

int main(int argc, char **argv)
{
	long gap_ms = argc > 1 ? atol(argv[1]) : 1500;
	struct timespec gap = { gap_ms / 1000, gap_ms % 1000 * 1000000L };

	if (!ready_wait_go())
		return 0;
	leak_early();
	nanosleep(&gap, NULL);
	leak_late();
	put_str("done\n");
	wait_eof();
	return 0;
}
