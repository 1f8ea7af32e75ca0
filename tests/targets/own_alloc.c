/*
 * own_alloc - a program that brings its own allocator, the way Redis links
 * in a jemalloc built with --with-jemalloc-prefix=je_: the executable
 * defines je_malloc, je_calloc, je_realloc and je_free (and no plain
 * malloc), and its code calls those, while libc's malloc still serves
 * libc. The allocator below is not jemalloc: a small size-class allocator,
 * free lists of 16 B .. 4 KiB blocks carved from 64 KiB mappings, larger
 * blocks mapped one each; enough for leakwatch to find and probe the
 * je_ names and count them to the byte. Single-threaded, like the target.
 *
 * Built a second time by the Makefile as own_alloc_static, with
 * -DOWN_ALLOC_PLAIN_NAMES -static: the same allocator named malloc,
 * calloc, realloc and free, replacing glibc's in a static executable
 * (which still has its symbol table). Site names do not change.
 *
 * Protocol: see target_protocol.h. After "go", main -> run_own -> each site
 * below, in order (A = the allocator's names: je_malloc or malloc, ...):
 *
 *   site (frames[0])       what it does                              outstanding
 *   leak_own_malloc        30 x A malloc(100), dropped               3000 B, 30
 *   leak_own_calloc        12 x A calloc(7, 9), dropped              756 B, 12
 *   leak_own_realloc       8 x { A realloc(NULL, 40); A realloc(p, 44)
 *                          (in place); A realloc(p, 500) (moves) }   4000 B, 8
 *   leak_own_large         2 x A malloc(100000): a mapping each      200000 B, 2
 *   churn_own              500 x { A malloc(1 + i % 300); A free }   0
 *   free_by_realloc_zero   5 x { A malloc(50); A realloc(p, 0) }     0
 *   free_own_null          3 x A free(NULL)                          0
 *   leak_libc_malloc       4 x libc's malloc(64), dropped (with
 *                          plain names: the allocator's too)         256 B, 4
 *
 *   total outstanding: 208012 B in 56 allocations.
 *
 * "done" reports allocs= (calls that returned a block, realloc's included)
 * frees= (blocks given back: free of non-NULL, and each realloc that
 * resized or moved its block or freed it) and inplace= moves= (how
 * leak_own_realloc's second and third reallocs went: want 8 and 8).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "target_protocol.h"

#ifdef OWN_ALLOC_PLAIN_NAMES
#define A(name) name
#else
#define A(name) je_##name
#endif

/* Each allocator function stays a function of its own, called by name:
 * what leakwatch probes. */
#ifdef __clang__
#define ENTRY __attribute__((noinline, used))
#else
#define ENTRY __attribute__((noipa, used))
#endif

#define HEADER		16		/* before each block: its class, or its mapping's length */
#define MIN_SHIFT	4		/* 16 B */
#define MAX_SHIFT	12		/* 4 KiB */
#define NR_CLASSES	(MAX_SHIFT - MIN_SHIFT + 1)
#define CHUNK		(64 << 10)
#define LARGE		UINT64_MAX	/* header word of a block mapped alone */

struct header {
	uint64_t class_or_large;
	uint64_t map_len;
};

struct free_block {
	struct free_block *next;
};

static struct free_block *free_lists[NR_CLASSES];

void *A(malloc)(size_t size);
void *A(calloc)(size_t n, size_t size);
void *A(realloc)(void *p, size_t size);
void A(free)(void *p);

static int class_of(size_t size)
{
	for (int c = 0; c < NR_CLASSES; c++)
		if (size + HEADER <= (size_t)1 << (c + MIN_SHIFT))
			return c;
	return -1;
}

static size_t usable(const struct header *h)
{
	if (h->class_or_large == LARGE)
		return h->map_len - HEADER;
	return ((size_t)1 << (h->class_or_large + MIN_SHIFT)) - HEADER;
}

/* A fresh chunk cut into blocks of class c, onto its free list. */
static int refill(int c)
{
	size_t block = (size_t)1 << (c + MIN_SHIFT);
	char *chunk = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (chunk == MAP_FAILED)
		return -1;
	for (size_t off = 0; off + block <= CHUNK; off += block) {
		struct free_block *b = (struct free_block *)(chunk + off);

		b->next = free_lists[c];
		free_lists[c] = b;
	}
	return 0;
}

ENTRY void *A(malloc)(size_t size)
{
	struct header *h;
	int c = class_of(size);

	if (c < 0) {
		size_t len = (size + HEADER + 4095) & ~(size_t)4095;

		if (size > SIZE_MAX / 2)
			return NULL;
		h = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (h == MAP_FAILED)
			return NULL;
		h->class_or_large = LARGE;
		h->map_len = len;
		return h + 1;
	}
	if (!free_lists[c] && refill(c))
		return NULL;
	h = (struct header *)free_lists[c];
	free_lists[c] = free_lists[c]->next;
	h->class_or_large = (uint64_t)c;
	h->map_len = 0;
	return h + 1;
}

ENTRY void A(free)(void *p)
{
	struct header *h = (struct header *)p - 1;
	struct free_block *b = (struct free_block *)h;
	uint64_t c;

	if (!p)
		return;
	c = h->class_or_large;
	if (c == LARGE) {
		munmap(h, h->map_len);
		return;
	}
	b->next = free_lists[c]; /* over the header */
	free_lists[c] = b;
}

ENTRY void *A(calloc)(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = A(malloc)(n * size);
	/* zeroed through a volatile pointer: gcc would turn malloc and
	 * memset into a call to calloc, which is this function */
	for (volatile char *z = p; z && z < (char *)p + n * size; z++)
		*z = 0;
	return p;
}

ENTRY void *A(realloc)(void *p, size_t size)
{
	size_t have;
	void *q;

	if (!p)
		return A(malloc)(size);
	if (!size) {
		A(free)(p);
		return NULL;
	}
	have = usable((struct header *)p - 1);
	if (size <= have)
		return p;
	q = A(malloc)(size);
	if (!q)
		return NULL;
	memcpy(q, p, have);
	A(free)(p);
	return q;
}

/* ------------------------------------------------------------------ */

struct result {
	long allocs, frees, inplace, moves;
};

SITE static void leak_own_malloc(struct result *r)
{
	for (int i = 0; i < 30; i++, r->allocs++)
		drop(A(malloc)(100));
}

SITE static void leak_own_calloc(struct result *r)
{
	for (int i = 0; i < 12; i++, r->allocs++)
		drop(A(calloc)(7, 9));
}

SITE static void leak_own_realloc(struct result *r)
{
	for (int i = 0; i < 8; i++) {
		void *p = A(realloc)(NULL, 40), *q;

		q = A(realloc)(p, 44);
		r->inplace += q == p;
		p = A(realloc)(q, 500);
		r->moves += p != q;
		r->allocs += 3;
		r->frees += 2;
		drop(p);
	}
}

SITE static void leak_own_large(struct result *r)
{
	for (int i = 0; i < 2; i++, r->allocs++)
		drop(A(malloc)(100000));
}

SITE static void churn_own(struct result *r)
{
	for (int i = 0; i < 500; i++) {
		void *p = A(malloc)(1 + i % 300);

		sink ^= (uintptr_t)p;
		A(free)(p);
		r->allocs++;
		r->frees++;
	}
}

SITE static void free_by_realloc_zero(struct result *r)
{
	for (int i = 0; i < 5; i++) {
		void *p = A(malloc)(50);

		sink ^= (uintptr_t)A(realloc)(p, 0);
		r->allocs++;
		r->frees++;
	}
}

SITE static void free_own_null(void)
{
	static void *volatile null_ptr;

	for (int i = 0; i < 3; i++)
		A(free)(null_ptr);
	NO_TAIL();
}

SITE static void leak_libc_malloc(struct result *r)
{
	for (int i = 0; i < 4; i++, r->allocs++)
		drop(malloc(64));
}

SITE static void run_own(struct result *r)
{
	leak_own_malloc(r);
	leak_own_calloc(r);
	leak_own_realloc(r);
	leak_own_large(r);
	churn_own(r);
	free_by_realloc_zero(r);
	free_own_null();
	leak_libc_malloc(r);
	NO_TAIL();
}

int main(void)
{
	struct result r = { 0 };

	if (!ready_wait_go())
		return 0;
	run_own(&r);
	say("done allocs=%ld frees=%ld inplace=%ld moves=%ld\n", r.allocs, r.frees, r.inplace,
	    r.moves);
	wait_eof();
	return 0;
}
