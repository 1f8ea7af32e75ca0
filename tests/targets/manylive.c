/*
 * manylive - many small blocks alive at once, more than a small
 * --max-allocs can track, then all freed, then allocated again: the
 * per-allocation map fills, empties and fills again.
 *
 * Protocol: see target_protocol.h, with commands after "done" (one line
 * each, answered with one line; EOF exits 0):
 *   "go"     hold_blocks: argv[1] (default 3000) x malloc(64), each kept
 *            in a static array (not on the heap): "done held=N size=64"
 *   "free"   release_blocks: free of each block held: "freed n=N"
 *   "alloc"  hold_blocks again, unless blocks are held: "held n=N"
 *   "ping"   "pong held=N" (blocks held now)
 * Nothing else touches the heap after "go": outstanding is 64 B times the
 * blocks held, from hold_blocks (frames main -> hold_blocks, or main ->
 * serve -> hold_blocks for "alloc").
 */
#include <stdlib.h>

#include "target_protocol.h"

#define MAX_BLOCKS	100000
#define BLOCK_SIZE	64

static void *blocks[MAX_BLOCKS];
static long held;

SITE static void hold_blocks(long n)
{
	for (long i = 0; i < n; i++) {
		blocks[i] = malloc(BLOCK_SIZE);
		if (!blocks[i])
			exit(1);
	}
	held = n;
}

SITE static void release_blocks(void)
{
	for (long i = 0; i < held; i++) {
		free(blocks[i]);
		blocks[i] = NULL;
	}
	NO_TAIL();
}

SITE static void serve(long count)
{
	char line[64];

	while (read_line(line, sizeof(line)) >= 0) {
		if (!strcmp(line, "free")) {
			long n = held;

			release_blocks();
			held = 0;
			say("freed n=%ld", n);
		} else if (!strcmp(line, "alloc")) {
			if (!held)
				hold_blocks(count);
			NO_TAIL();
			say("held n=%ld", held);
		} else if (!strcmp(line, "ping")) {
			say("pong held=%ld", held);
		}
	}
}

int main(int argc, char **argv)
{
	long count = argc > 1 ? atol(argv[1]) : 3000;

	if (count < 1 || count > MAX_BLOCKS)
		return 2;
	if (!ready_wait_go())
		return 0;
	hold_blocks(count);
	NO_TAIL();
	say("done held=%ld size=%d", held, BLOCK_SIZE);
	serve(count);
	return 0;
}
