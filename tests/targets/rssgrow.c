/*
 * rssgrow - resident memory that grows in three ways, for the note leakwatch
 * writes when a process's RSS grows while the heap it tracks does not (or
 * explains under a quarter of it).
 *
 * Protocol: see target_protocol.h; argv[1] is the mode (below). "go" starts
 * the ticks, which run until EOF on stdin: tick n is due n * 20 ms after
 * "go" (late ticks are caught up). "done mode=M tick_ms=20 ..." comes right
 * after "go" (each mode adds its parameters); then each "ping" is answered
 * "pong ticks=N ms=M" (ticks run, ms since "go").
 *
 * Each tick n, from main -> tick -> the mode's sites:
 *
 *   mode      site (frames[0])  what it does                        tracked heap
 *   mmap      map_raw           64 KiB of anonymous memory mapped
 *                               with the raw system call
 *                               (syscall(SYS_mmap, ...), which no
 *                               probe sees: leakwatch probes libc's
 *                               mmap), every page written; kept     0
 *                               RSS grows 64 KiB a tick, 3200 KiB/s
 *   fragment  frag_block        8 x malloc(2048 + 16 n + 16), each
 *                               filled: they come from the top of
 *                               the heap, one after another         0 (moved away)
 *             frag_trim         8 x realloc(block, 16): each keeps
 *                               its first 16 B, glibc frees the
 *                               rest in place; dropped              + 128 B a tick
 *                               RSS grows ~8 x (2048 + 16 n) B a tick
 *   leak      leak_fill         malloc(8000), filled, dropped       + 8000 B a tick
 *                               RSS grows about as much
 *
 * fragment is glibc heap fragmentation that grows: most of every block is
 * freed, and each hole stays resident but useless, because the kept heads
 * on both sides stay live (no coalescing) and every later request is larger
 * than any hole (the size grows by 16 B, a size class, each tick). So the
 * heap's top climbs by the blocks while the tracked heap grows by the heads
 * alone: 6400 B/s against ~1 MB/s of RSS. It cannot be made to grow with no
 * live bytes added at all: glibc reuses any free chunk, or run of coalesced
 * chunks, that fits a request, so holes stay unused only while live blocks
 * separate them. Nor can the separators be small blocks of their own: a
 * small request is carved out of an old hole, not taken from the top, and
 * the big blocks then lie side by side and coalesce when freed; shrinking
 * each block in place (realloc) leaves its head exactly where it must be.
 *
 * Nothing else touches the heap after "go" (I/O is read(2)/write(2)).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "target_protocol.h"

#define TICK_MS		20
#define MAP_CHUNK	(64 * 1024)
#define FRAG_BLOCKS	8	/* per tick */
#define FRAG_BASE	2048
#define FRAG_STEP	16
#define FRAG_HEAD	16
#define LEAK_SIZE	8000

enum mode { MODE_MMAP, MODE_FRAGMENT, MODE_LEAK };

static enum mode mode;	/* from argv[1] */
static long page_size;

SITE static void map_raw(void)
{
	long p = syscall(SYS_mmap, NULL, (size_t)MAP_CHUNK, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == -1)
		exit(1);
	for (long off = 0; off < MAP_CHUNK; off += page_size)
		((volatile char *)p)[off] = 1;
	drop((void *)p);
}

SITE static void *frag_block(size_t size)
{
	void *p = MALLOC_OR_EXIT(size);

	memset(p, 0x5a, size);
	NO_TAIL();
	return p;
}

SITE static void frag_trim(void *p)
{
	void *q = realloc(p, FRAG_HEAD);

	/* glibc shrinks in place; moving would leave no hole */
	if (q != p)
		exit(1);
	drop(q);
}

SITE static void fragment(long n)
{
	void *blocks[FRAG_BLOCKS];

	for (int i = 0; i < FRAG_BLOCKS; i++)
		blocks[i] = frag_block(FRAG_BASE + FRAG_STEP * (size_t)n + FRAG_HEAD);
	for (int i = 0; i < FRAG_BLOCKS; i++)
		frag_trim(blocks[i]);
	NO_TAIL();
}

SITE static void leak_fill(void)
{
	void *p = MALLOC_OR_EXIT(LEAK_SIZE);

	memset(p, 0x5a, LEAK_SIZE);
	drop(p);
}

SITE static void tick(long n)
{
	switch (mode) {
	case MODE_MMAP:
		map_raw();
		break;
	case MODE_FRAGMENT:
		fragment(n);
		break;
	case MODE_LEAK:
		leak_fill();
		break;
	}
	NO_TAIL();
}

int main(int argc, char **argv)
{
	long start_ms;

	if (argc != 2) {
		put_str("usage: rssgrow mmap|fragment|leak\n");
		return 64;
	}
	if (!strcmp(argv[1], "mmap"))
		mode = MODE_MMAP;
	else if (!strcmp(argv[1], "fragment"))
		mode = MODE_FRAGMENT;
	else if (!strcmp(argv[1], "leak"))
		mode = MODE_LEAK;
	else {
		put_str("rssgrow: unknown mode\n");
		return 64;
	}
	page_size = sysconf(_SC_PAGESIZE);
	start_ms = ready_wait_go_ms();
	switch (mode) {
	case MODE_MMAP:
		say("done mode=mmap tick_ms=%d map_chunk=%d", TICK_MS, MAP_CHUNK);
		break;
	case MODE_FRAGMENT:
		say("done mode=fragment tick_ms=%d blocks=%d base=%d step=%d head=%d", TICK_MS,
		    FRAG_BLOCKS, FRAG_BASE, FRAG_STEP, FRAG_HEAD);
		break;
	case MODE_LEAK:
		say("done mode=leak tick_ms=%d leak_per_tick=%d", TICK_MS, LEAK_SIZE);
		break;
	}
	run_ticks(start_ms, 0, TICK_MS, tick);	/* tick 0 at "go" */
	return 0;
}
