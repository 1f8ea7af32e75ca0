/*
 * mmaps - anonymous mappings the program makes itself, counted as
 * allocations of the length asked (category "mmap"): leaks, file mappings
 * (never counted), full and partial munmap (prefix, suffix, holes that
 * split a region), mremap (grow in place, grow and move, shrink), MAP_FIXED
 * over tracked regions, and one munmap spanning two regions. No malloc at
 * all after "go": every count leakwatch has comes from the calls below.
 *
 * Protocol: see target_protocol.h; "done" is described at the end below.
 * The page size must be 4096 (the target exits 1 otherwise).
 *
 * After "go", main -> run_mmaps -> each site below, in order. Lengths in
 * bytes; P = 4096. "Remaining" is the bytes asked that are still mapped.
 *
 *   site (frames[0])     what it does                                outstanding
 *   leak_mmap            3 x mmap(10000), kept                       30000 B, 3
 *   leak_mmap_large      mmap(1 MiB + 1), kept                       1048577 B, 1
 *   map_file             two mappings of /proc/self/exe (read-only,
 *                        and private writable), kept: not counted    0
 *   map_then_unmap       mmap(20000), munmap(p, 20000); mmap(20000),
 *                        munmap(p, 5 P) (length rounded up)          0
 *   map_prefix           mmap(10000), munmap(p, P)                   5904 B, 1
 *   map_suffix           mmap(5 P + 100) (6 pages), munmap(p + 3 P,
 *                        3 P)                                        12288 B, 1
 *   map_hole             mmap(10000), munmap(p + P, P): split in two 5904 B, 2
 *   map_holes            mmap(5 P); munmap pages 1 and 3 (three
 *                        pieces), then page 2 (a whole piece)        8192 B, 2
 *   fixed_base           mmap(5 P + 100)                             12388 B, 2
 *   fixed_over           mmap(fixed_base + P, 2 P, MAP_FIXED, anon):
 *                        a hole in fixed_base, a new region          8192 B, 1
 *   under_file           mmap(4 P)                                   12288 B, 1
 *   fixed_file           mmap(under_file + 3 P, P, MAP_FIXED, a
 *                        file): cuts under_file, is not counted      0
 *   replace_start        mmap(3 P)                                   0
 *   replace_whole        mmap(replace_start, 3 P, MAP_FIXED, anon)   12288 B, 1
 *   span_base            mmap(8 P)                                   0
 *   span_fixed           mmap(span_base + 4 P, 4 P, MAP_FIXED, anon) 0
 *   unmap_span           munmap(span_base, 8 P): both regions at once 0
 *   remap_guard          mmap(3 P), munmap of its first 2 pages      4096 B, 1
 *   move_start           mmap(2 P) at the guard's freed pages (right
 *                        below its last page, MAP_FIXED_NOREPLACE)   0 (moved away)
 *   remap_move           mremap(p, 2 P, 65536, MAYMOVE): cannot grow
 *                        into the guard, so it moves                 65536 B, 1
 *   inplace_start        mmap(16 P), munmap of its last 12 pages     0 (moved away)
 *   remap_inplace        mremap(p, 4 P, 40960, 0): grows in place    40960 B, 1
 *   shrink_start         mmap(40000)                                 0 (moved away)
 *   remap_shrink         mremap(p, 40000, 10000, 0)                  10000 B, 1
 *
 *   total outstanding: 1276613 B in 19 allocations, all of category mmap.
 *
 * "done" reports moved= (1: remap_move changed the address), inplace= (1:
 * remap_inplace did not), shrunk= (1: remap_shrink kept the address).
 *
 * Mode "threads" (argv[1]): glibc's own mmap/munmap inside malloc/free on
 * one thread while another thread calls mmap/munmap itself, at the same
 * time: each thread's nesting is its own. Before "ready": mallopt pins the
 * mmap threshold at 128 KiB (every block below is mapped by glibc), and
 * both threads are up, with their malloc arena made, waiting on a barrier
 * that "go" opens; they end at EOF. Then, each thread in its own function:
 *
 *   site (frames[0])     thread   what it does                      outstanding
 *   large_churn          heap     300 x { malloc(140000 + i), free }  0
 *   large_leak           heap     every 30th round: malloc(150000),
 *                                 kept                              1500000 B, 10
 *   map_churn            map      300 x { mmap(8192 + i), munmap }    0
 *   map_leak             map      every 30th round: mmap(5000),
 *                                 kept                              50000 B, 10
 *
 *   total 1550000 B in 20 allocations: large_leak's of category malloc,
 *   map_leak's of category mmap. "done rounds=600".
 */
#define _GNU_SOURCE	/* mremap, MAP_FIXED_NOREPLACE */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "target_protocol.h"

#define P	4096UL
#define MiB	(1024UL * 1024)

#define RW	(PROT_READ | PROT_WRITE)
#define ANON	(MAP_PRIVATE | MAP_ANONYMOUS)

/* An mmap in the calling function itself (frames[0] is that function). */
#define MAP(addr, len, flags) must_map(mmap((addr), (len), RW, (flags), -1, 0))

struct result {
	long moved, inplace, shrunk;
};

/* Regions kept to the end; their addresses are not dropped, so no mistake
 * can make leakwatch look right by accident. */
static char *kept[32];
static int nkept;
static int exe_fd = -1;

static char *must_map(void *p)
{
	if (p == MAP_FAILED)
		exit(1);
	return p;
}

static char *must_map_or_heap(void *p)
{
	if (!p)
		exit(1);
	return p;
}

static void must_unmap(void *p, size_t len)
{
	if (munmap(p, len))
		exit(1);
}

static char *keep(char *p)
{
	kept[nkept++] = p;
	return p;
}

SITE static void leak_mmap(void)
{
	for (int i = 0; i < 3; i++)
		keep(MAP(NULL, 10000, ANON));
}

SITE static void leak_mmap_large(void)
{
	keep(MAP(NULL, MiB + 1, ANON));
}

SITE static void map_file(void)
{
	keep(must_map(mmap(NULL, 2 * P, PROT_READ, MAP_PRIVATE, exe_fd, 0)));
	keep(must_map(mmap(NULL, 3 * P, RW, MAP_PRIVATE, exe_fd, 0)))[0] = 1;
}

SITE static void map_then_unmap(void)
{
	char *p = MAP(NULL, 20000, ANON);

	must_unmap(p, 20000);
	p = MAP(NULL, 20000, ANON);
	must_unmap(p, 5 * P);
}

SITE static void map_prefix(void)
{
	char *p = MAP(NULL, 10000, ANON);

	must_unmap(p, P);
	keep(p + P);
}

SITE static void map_suffix(void)
{
	char *p = keep(MAP(NULL, 5 * P + 100, ANON));

	must_unmap(p + 3 * P, 3 * P);
}

SITE static void map_hole(void)
{
	char *p = keep(MAP(NULL, 10000, ANON));

	must_unmap(p + P, P);
}

SITE static void map_holes(void)
{
	char *p = keep(MAP(NULL, 5 * P, ANON));

	must_unmap(p + P, P);
	must_unmap(p + 3 * P, P);
	must_unmap(p + 2 * P, P);
}

SITE static char *fixed_base(size_t len)
{
	char *p = keep(MAP(NULL, len, ANON));

	NO_TAIL();
	return p;
}

SITE static void fixed_over(char *at)
{
	if (MAP(at, 2 * P, ANON | MAP_FIXED) != at)
		exit(1);
}

SITE static char *under_file(void)
{
	char *p = keep(MAP(NULL, 4 * P, ANON));

	NO_TAIL();
	return p;
}

SITE static void fixed_file(char *at)
{
	if (must_map(mmap(at, P, PROT_READ, MAP_PRIVATE | MAP_FIXED, exe_fd, 0)) != at)
		exit(1);
}

SITE static char *replace_start(void)
{
	char *p = MAP(NULL, 3 * P, ANON);

	NO_TAIL();
	return p;
}

SITE static void replace_whole(char *at)
{
	if (keep(MAP(at, 3 * P, ANON | MAP_FIXED)) != at)
		exit(1);
}

SITE static char *span_base(void)
{
	char *p = MAP(NULL, 8 * P, ANON);

	NO_TAIL();
	return p;
}

SITE static void span_fixed(char *at)
{
	if (MAP(at, 4 * P, ANON | MAP_FIXED) != at)
		exit(1);
}

SITE static void unmap_span(char *p)
{
	must_unmap(p, 8 * P);
}

SITE static char *remap_guard(void)
{
	char *p = keep(MAP(NULL, 3 * P, ANON));

	must_unmap(p, 2 * P);
	return p;
}

SITE static char *move_start(char *at)
{
	char *p = MAP(at, 2 * P, ANON | MAP_FIXED_NOREPLACE);

	if (p != at)
		exit(1);
	return p;
}

SITE static void remap_move(struct result *r, char *p)
{
	char *q = must_map(mremap(p, 2 * P, 65536, MREMAP_MAYMOVE));

	r->moved = q != p;
	keep(q);
}

SITE static char *inplace_start(void)
{
	char *p = MAP(NULL, 16 * P, ANON);

	must_unmap(p + 4 * P, 12 * P);
	return p;
}

SITE static void remap_inplace(struct result *r, char *p)
{
	char *q = must_map(mremap(p, 4 * P, 40960, 0));

	r->inplace = q == p;
	keep(q);
}

SITE static char *shrink_start(void)
{
	char *p = MAP(NULL, 40000, ANON);

	NO_TAIL();
	return p;
}

SITE static void remap_shrink(struct result *r, char *p)
{
	char *q = must_map(mremap(p, 40000, 10000, 0));

	r->shrunk = q == p;
	keep(q);
}

SITE static void run_mmaps(struct result *r)
{
	char *p;

	leak_mmap();
	NO_TAIL();
	leak_mmap_large();
	NO_TAIL();
	map_file();
	NO_TAIL();
	map_then_unmap();
	NO_TAIL();
	map_prefix();
	NO_TAIL();
	map_suffix();
	NO_TAIL();
	map_hole();
	NO_TAIL();
	map_holes();
	NO_TAIL();
	fixed_over(fixed_base(5 * P + 100) + P);
	NO_TAIL();
	fixed_file(under_file() + 3 * P);
	NO_TAIL();
	replace_whole(replace_start());
	NO_TAIL();
	p = span_base();
	span_fixed(p + 4 * P);
	unmap_span(p);
	NO_TAIL();
	p = remap_guard();
	remap_move(r, move_start(p));
	NO_TAIL();
	remap_inplace(r, inplace_start());
	NO_TAIL();
	remap_shrink(r, shrink_start());
	NO_TAIL();
}

/* Mode "threads". */

#define ROUNDS		300
#define LEAK_EVERY	30

static pthread_barrier_t start_line, finish_line, quit_line;
static long rounds[2];
/* Each thread keeps its leaks in an array of its own. */
static char *heap_kept[ROUNDS / LEAK_EVERY], *map_kept[ROUNDS / LEAK_EVERY];
static int nheap_kept, nmap_kept;

SITE static void large_leak(void)
{
	heap_kept[nheap_kept++] = must_map_or_heap(malloc(150000));
}

SITE static void large_churn(int i)
{
	char *p = must_map_or_heap(malloc(140000 + i));

	p[0] = 1;
	drop(p);
	free(p);
}

SITE static void map_leak(void)
{
	map_kept[nmap_kept++] = MAP(NULL, 5000, ANON);
}

SITE static void map_churn(int i)
{
	char *p = MAP(NULL, 8192 + i, ANON);

	p[0] = 1;
	must_unmap(p, 8192 + i);
}

static void *heap_thread(void *arg)
{
	free(must_map_or_heap(malloc(64)));	/* this thread's arena, before "ready" */
	pthread_barrier_wait(&start_line);
	for (int i = 0; i < ROUNDS; i++) {
		large_churn(i);
		if (i % LEAK_EVERY == LEAK_EVERY - 1)
			large_leak();
		rounds[0]++;
	}
	pthread_barrier_wait(&finish_line);
	/* Alive until EOF: a thread's exit frees its malloc cache, made
	 * before "ready" (a free leakwatch rightly calls unknown). */
	pthread_barrier_wait(&quit_line);
	return arg;
}

static void *map_thread(void *arg)
{
	pthread_barrier_wait(&start_line);
	for (int i = 0; i < ROUNDS; i++) {
		map_churn(i);
		if (i % LEAK_EVERY == LEAK_EVERY - 1)
			map_leak();
		rounds[1]++;
	}
	pthread_barrier_wait(&finish_line);
	pthread_barrier_wait(&quit_line);
	return arg;
}

static int run_threads(void)
{
	pthread_t heap, map;

	if (!mallopt(M_MMAP_THRESHOLD, 128 * 1024))
		return 1;
	if (pthread_barrier_init(&start_line, NULL, 3) ||
	    pthread_barrier_init(&finish_line, NULL, 3) ||
	    pthread_barrier_init(&quit_line, NULL, 3) ||
	    pthread_create(&heap, NULL, heap_thread, NULL) ||
	    pthread_create(&map, NULL, map_thread, NULL))
		return 1;
	if (!ready_wait_go()) {
		/* Let them finish: the work is the same, nobody watches. */
		pthread_barrier_wait(&start_line);
		pthread_barrier_wait(&finish_line);
		pthread_barrier_wait(&quit_line);
		return 0;
	}
	pthread_barrier_wait(&start_line);
	pthread_barrier_wait(&finish_line);
	say("done rounds=%ld", rounds[0] + rounds[1]);
	wait_eof();
	pthread_barrier_wait(&quit_line);
	pthread_join(heap, NULL);
	pthread_join(map, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	struct result r = { 0 };

	if (sysconf(_SC_PAGESIZE) != (long)P)
		return 1;
	if (argc > 1 && !strcmp(argv[1], "threads"))
		return run_threads();
	exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (exe_fd < 0)
		return 1;
	if (!ready_wait_go())
		return 0;
	run_mmaps(&r);
	say("done moved=%ld inplace=%ld shrunk=%ld", r.moved, r.inplace, r.shrunk);
	wait_eof();
	return 0;
}
