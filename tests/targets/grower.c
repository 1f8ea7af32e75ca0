/*
 * grower - resident memory that grows, plateaus, churns or is given back,
 * for --growth (page faults, no allocator probes).
 *
 * Protocol: see target_protocol.h; argv[1] is the mode, argv[2] the ticks
 * that grow (default 100). "go" starts the ticks, every 20 ms until EOF on
 * stdin ("ping" -> "pong ticks=N ms=M"); "done mode=M ..." comes right
 * after "go". Before "ready", mallopt pins glibc's mmap threshold at
 * 128 KiB, so which blocks glibc maps does not drift with the frees.
 *
 * Each tick n, from main -> tick -> the mode's site:
 *
 *   mode    site (a frame)  what it does                          resident growth
 *   leak    leak_heap       malloc(60000) (the brk heap), every   60000 B a tick,
 *                           byte written, kept; for the first     then none
 *                           `grow` ticks
 *   mmap    leak_map        mmap(256 KiB) anonymous, every page   256 KiB a tick,
 *                           written, kept; first `grow` ticks     then none
 *   cache   fill_cache      a 4 MiB buffer, 1/`grow` of it        4 MiB over `grow`
 *                           written each of the first `grow`      ticks, then steady
 *                           ticks, then all of it rewritten
 *                           (no new page) every tick
 *   churn   churn_block     malloc(1 MiB) (mapped by glibc),      none: each block is
 *                           every byte written, free              unmapped by free
 *   huge    leak_huge       a 2 MiB-aligned 2 MiB anonymous       2 MiB a tick, then
 *                           mapping with MADV_HUGEPAGE, one       none (4 KiB a tick
 *                           byte written, kept; first `grow`      where transparent
 *                           ticks                                 huge pages are off)
 *   exit    leak_heap       as leak, then exit(0) after `grow` ticks
 *
 * "done" says mode=, grow=, and per_tick= (the bytes leaked a tick, or the
 * cache's whole size); huge also says thp=1 when the first block came out
 * as a huge page (AnonHugePages in /proc/self/smaps_rollup grew).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "target_protocol.h"

#define TICK_MS		20
#define HEAP_BLOCK	60000
#define MAP_BLOCK	(256 * 1024)
#define CACHE_BYTES	(4 * 1024 * 1024)
#define CHURN_BLOCK	(1024 * 1024)
#define HUGE_BLOCK	(2 * 1024 * 1024)

enum mode { MODE_LEAK, MODE_MMAP, MODE_CACHE, MODE_CHURN, MODE_HUGE, MODE_EXIT };

static enum mode mode;
static long grow = 100;
static char *cache;
static long ticked;	/* ticks run before run_ticks (huge: its first) */

SITE static void leak_heap(void)
{
	char *p = MALLOC_OR_EXIT(HEAP_BLOCK);

	memset(p, 0x5a, HEAP_BLOCK);
	drop(p);
}

SITE static void leak_map(void)
{
	char *p = mmap(NULL, MAP_BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		exit(1);
	for (long off = 0; off < MAP_BLOCK; off += 4096)
		p[off] = 1;
	drop(p);
}

SITE static void fill_cache(long n)
{
	long part = CACHE_BYTES / grow;

	if (n < grow)
		memset(cache + n * part, 0x5a, part);
	else
		memset(cache, (int)n, (size_t)part * grow);
	NO_TAIL();
}

SITE static void churn_block(void)
{
	char *p = MALLOC_OR_EXIT(CHURN_BLOCK);

	memset(p, 0x5a, CHURN_BLOCK);
	/* the block is read before free: the compiler may not drop the writes */
	__asm__ volatile("" : : "r"(p) : "memory");
	drop(p);
	free(p);
	NO_TAIL();
}

/* A 2 MiB-aligned block of anonymous memory, from a larger mapping. */
static char *huge_block(void)
{
	char *p = mmap(NULL, 2 * HUGE_BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	char *aligned;

	if (p == MAP_FAILED)
		exit(1);
	aligned = (char *)(((uintptr_t)p + HUGE_BLOCK - 1) & ~(uintptr_t)(HUGE_BLOCK - 1));
	if (aligned > p)
		munmap(p, aligned - p);
	munmap(aligned + HUGE_BLOCK, p + 2 * HUGE_BLOCK - (aligned + HUGE_BLOCK));
	madvise(aligned, HUGE_BLOCK, MADV_HUGEPAGE);
	return aligned;
}

SITE static void leak_huge(void)
{
	char *p = huge_block();

	p[0] = 1;
	drop(p);
}

SITE static void tick(long n)
{
	n += ticked;
	if (n >= grow && mode != MODE_CACHE && mode != MODE_CHURN) {
		if (mode == MODE_EXIT)
			exit(0);
		return;
	}
	switch (mode) {
	case MODE_LEAK:
	case MODE_EXIT:
		leak_heap();
		break;
	case MODE_MMAP:
		leak_map();
		break;
	case MODE_CACHE:
		fill_cache(n);
		break;
	case MODE_CHURN:
		churn_block();
		break;
	case MODE_HUGE:
		leak_huge();
		break;
	}
	NO_TAIL();
}

/* AnonHugePages of the whole process, in kB; -1 when it cannot be read. */
static long anon_huge_kb(void)
{
	static char buf[4096];
	int fd = open("/proc/self/smaps_rollup", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	char *at;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	at = strstr(buf, "AnonHugePages:");
	return at ? strtol(at + 14, NULL, 10) : -1;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "leak", "mmap", "cache", "churn", "huge", "exit" };
	long start_ms, per_tick = 0;
	int thp = 0;

	if (argc < 2 || argc > 3) {
		put_str("usage: grower leak|mmap|cache|churn|huge|exit [GROW_TICKS]\n");
		return 64;
	}
	for (mode = 0; mode <= MODE_EXIT && strcmp(argv[1], names[mode]); mode++)
		;
	if (mode > MODE_EXIT || (argc == 3 && (grow = atol(argv[2])) <= 0)) {
		put_str("grower: bad mode or tick count\n");
		return 64;
	}
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (mode == MODE_CACHE)
		cache = mmap(NULL, CACHE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			     -1, 0);
	if (cache == MAP_FAILED)
		return 1;
	start_ms = ready_wait_go_ms();
	switch (mode) {
	case MODE_LEAK:
	case MODE_EXIT:
		per_tick = HEAP_BLOCK;
		break;
	case MODE_MMAP:
		per_tick = MAP_BLOCK;
		break;
	case MODE_CACHE:
		per_tick = CACHE_BYTES;
		break;
	case MODE_CHURN:
		per_tick = 0;
		break;
	case MODE_HUGE: {
		long before = anon_huge_kb();

		/* tick 0 now, to tell whether the kernel gave a huge page */
		tick(0);
		ticked = 1;
		thp = anon_huge_kb() > before;
		per_tick = thp ? HUGE_BLOCK : 4096;
		break;
	}
	}
	say("done mode=%s grow=%ld per_tick=%ld thp=%d", names[mode], grow, per_tick, thp);
	run_ticks(start_ms, ticked * TICK_MS, TICK_MS, tick);
	return 0;
}
