/*
 * manystacks - more distinct call stacks than a small --max-stacks keeps:
 * 1100 leaves of a binary call tree, each reached by its own path, each
 * allocating once on the heap and, in a second pass, once with an anonymous
 * mmap, both from the same call instruction (so both passes produce the
 * same 1100 stacks, once per category).
 *
 * (Recursion depth alone would not do: leakwatch keeps 127 frames, so every
 * stack deeper than that looks the same.)
 *
 * Protocol: see target_protocol.h; "done leaves=1100 mallocs=1100
 * mmaps=1100" after both passes.
 *
 * After "go", main -> run_passes -> walk_all, twice (pass 0: heap, pass 1:
 * mmap, as set_pass sets; one call instruction for both), which for i = 0..1099 in order calls
 * step(i, 11): step(path, depth) calls go_left (path even) or go_right (path
 * odd), which call step(path >> 1, depth - 1); at depth 0 step calls leaf.
 * So leaf i's stack is leaf, step, then 11 x (go_left or go_right, step)
 * spelling i's 11 low bits from the root down, then walk_all, run_passes,
 * main: 1100 distinct stacks.
 *
 *   site (frames[0])  what it does                           outstanding
 *   leaf              pass 0: malloc(64), dropped            70400 B, 1100 (malloc)
 *                     pass 1: mmap(4096, anonymous), kept    4505600 B, 1100 (mmap)
 *
 * leaf makes its one call through a function pointer typed like mmap: in
 * pass 0 it points at malloc, which reads only its first argument (the size,
 * passed as the pointer argument); the x86-64 calling convention lets a
 * function ignore the arguments it does not take.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "target_protocol.h"

#define LEAVES		1100
#define DEPTH		11
#define HEAP_SIZE	64
#define MAP_SIZE	4096

typedef void *(*getter_fn)(void *addr, size_t len, int prot, int flags, int fd, off_t off);

/* What leaf calls, with what: set per pass, read through volatiles so the
 * one call instruction stays one. */
static getter_fn volatile getter;
static void *volatile arg_addr;
static volatile size_t arg_len;
static volatile int arg_prot, arg_flags, arg_fd;
static volatile int passes = 2;
static volatile long lefts, rights;
static long mallocs, mmaps;

SITE static void leaf(void)
{
	void *p = getter(arg_addr, arg_len, arg_prot, arg_flags, arg_fd, 0);

	if (!p || p == MAP_FAILED)
		exit(1);
	drop(p);
	NO_TAIL();
}

SITE static void step(unsigned int path, int depth);

SITE static void go_left(unsigned int path, int depth)
{
	lefts++;
	step(path, depth);
	NO_TAIL();
}

SITE static void go_right(unsigned int path, int depth)
{
	rights++;
	step(path, depth);
	NO_TAIL();
}

SITE static void step(unsigned int path, int depth)
{
	if (!depth)
		leaf();
	else if (path & 1)
		go_right(path >> 1, depth - 1);
	else
		go_left(path >> 1, depth - 1);
	NO_TAIL();
}

SITE static void walk_all(void)
{
	for (unsigned int i = 0; i < LEAVES; i++)
		step(i, DEPTH);
	NO_TAIL();
}

/* What leaf calls in pass 0 (heap) and pass 1 (mmap). */
SITE static void set_pass(int pass)
{
	if (pass == 0) {
		getter = (getter_fn)malloc;
		arg_addr = (void *)(uintptr_t)HEAP_SIZE;
		mallocs += LEAVES;
	} else {
		getter = (getter_fn)mmap;
		arg_addr = NULL;
		arg_len = MAP_SIZE;
		arg_prot = PROT_READ | PROT_WRITE;
		arg_flags = MAP_PRIVATE | MAP_ANONYMOUS;
		arg_fd = -1;
		mmaps += LEAVES;
	}
}

/* No branch around the call of walk_all: one call instruction for both
 * passes. */
SITE static void run_passes(void)
{
	for (int pass = 0; pass < passes; pass++) {
		set_pass(pass);
		NO_TAIL();
		walk_all();
		NO_TAIL();
	}
}

int main(void)
{
	if (!ready_wait_go())
		return 0;
	run_passes();
	say("done leaves=%d mallocs=%ld mmaps=%ld", LEAVES, mallocs, mmaps);
	wait_eof();
	return 0;
}
