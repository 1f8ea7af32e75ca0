/*
 * api - one leak site per entry point of the C allocator API (malloc,
 * calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign,
 * valloc, pvalloc), large blocks that glibc maps with mmap (and grows with
 * mremap) inside malloc/calloc/realloc, and a realloc/reallocarray stress
 * that moves blocks between the heap and their own mappings. Every site is
 * a function of its own, so the tests check bytes and call sites by name.
 *
 * Protocol: see target_protocol.h; "done" is described at the end below.
 * Before "ready", mallopt(M_MMAP_THRESHOLD, 128 KiB) pins glibc's mmap
 * threshold (no dynamic raise after a free), so which blocks glibc maps is
 * fixed: every request of 128 KiB or more.
 *
 * argv[1] selects a mode (default "api").
 *
 * Mode "api": after "go", main -> run_api -> each site below, in order:
 *
 *   site (frames[0])       what it does                              outstanding
 *   leak_malloc            3 x malloc(777), dropped                  2331 B, 3
 *   leak_calloc            6 x calloc(13, 17), dropped               1326 B, 6
 *   leak_realloc           4 x { realloc(NULL, 100), realloc(p, 250)
 *                          }, dropped                                1000 B, 4
 *   leak_reallocarray      5 x { reallocarray(NULL, 10, 12),
 *                          reallocarray(p, 30, 12) }, dropped        1800 B, 5
 *   leak_reallocarray_fail 2 x { p = malloc(444); reallocarray(p,
 *                          SIZE_MAX / 8, 16) fails (overflow: glibc
 *                          never calls realloc); reallocarray(p,
 *                          SIZE_MAX / 2, 1) fails (realloc does);
 *                          p stays valid }, dropped                  888 B, 2
 *   leak_posix_memalign    10 x posix_memalign(&p, 64, 1000), then
 *                          posix_memalign(&p, 3, 100) (EINVAL) and
 *                          posix_memalign(&p, 64, SIZE_MAX) (ENOMEM) 10000 B, 10
 *   leak_aligned_alloc     7 x aligned_alloc(128, 384)               2688 B, 7
 *   leak_memalign          9 x memalign(32, 333)                     2997 B, 9
 *   leak_valloc            5 x valloc(100)                           500 B, 5
 *   leak_pvalloc           4 x pvalloc(100)                          400 B, 4
 *   leak_large_malloc      malloc(200000), malloc(1 MiB): mmapped    1248576 B, 2
 *   leak_large_calloc      calloc(1000, 300): mmapped                300000 B, 1
 *   leak_large_memalign    posix_memalign(&p, 4096, 400000),
 *                          aligned_alloc(65536, 200000): mmapped     600000 B, 2
 *   large_start            malloc(300000), handed on                 0 (moved away)
 *   leak_large_realloc     realloc to 600000, then to 3 MiB (glibc
 *                          grows the mapping with mremap), held      3145728 B, 1
 *   free_large             malloc(700000), free; malloc(500000),
 *                          realloc(p, 0) (a free): both mmapped      0
 *   stress_start           6 x malloc(sizes[2j]) (j = 0..5),
 *                          handed to stress_realloc                  0 (moved away)
 *   stress_realloc         30 rounds: block j -> realloc(p,
 *                          sizes[(i + 2j) % 15]); a blocker after
 *                          each; held in a global                    754528 B, 6
 *   arr_start              6 x malloc(sizes[j] * 3), handed on       0 (moved away)
 *   stress_reallocarray    30 rounds: block j -> reallocarray(p,
 *                          sizes[(2i + 4j) % 15], 3); blockers       861531 B, 6
 *   stress_blocker         360 x malloc(48) between the reallocs     0
 *   release_blockers       frees the 360 blockers                    0
 *
 *   total outstanding: 6934293 B in 73 allocations, all category malloc.
 *
 *   sizes[] = {24, 600, 5000, 150000, 40, 300000, 1000, 140000, 200,
 *              163840, 17, 250000, 3000, 131072, 88}: small and large
 *   (>= 128 KiB, mmapped) mixed, so blocks grow in place, move on the heap,
 *   move from the heap to a mapping and back, and mappings are mremap'ed.
 *
 *   "done" reports large_mmapped= (of the 6 large blocks held at the end,
 *   how many glibc mmapped: want 6), inplace= and moves= (stress reallocs
 *   that kept / changed the address), heap_to_map= map_to_heap= (stress
 *   reallocs from a heap block to a mapped one and back), realloc_bytes=
 *   and array_bytes= (the stress blocks' final sizes, summed) and failed=
 *   (calls meant to fail that did: want 6).
 *
 * Mode "nulls": calls that must not change any count. Before "ready": one
 * anonymous mmap of 3 pages (made before leakwatch attaches). After "go",
 * main -> run_nulls -> each site, in order:
 *
 *   nulls_leak             3 x malloc(111), dropped                  333 B, 3
 *   nulls_churn            5 x { malloc(50), free }                  0
 *   free_null              10 x free(NULL)                           0
 *   unmap_untracked        munmap of the pre-"ready" mapping; the
 *                          same range again (nothing mapped there
 *                          now); a file mapping of /proc/self/exe
 *                          (not counted) and its munmap; a failing
 *                          mmap (length 0, EINVAL)                   0
 *
 *   heap calls counted: 8 allocations, 5 frees. "done unmapped=3" (munmap
 *   calls that returned 0) and "failed=1".
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "target_protocol.h"

#define KiB		1024
#define MiB		(1024 * 1024)
#define PAGE		4096
#define NSIZES		15
#define STRESS_BLOCKS	6
#define STRESS_ROUNDS	30
#define ARRAY_ELEM	3
#define BLOCKER_SIZE	48
#define NBLOCKERS	(2 * STRESS_BLOCKS * STRESS_ROUNDS)

static const size_t sizes[NSIZES] = {
	24, 600, 5000, 150000, 40, 300000, 1000, 140000, 200,
	163840, 17, 250000, 3000, 131072, 88,
};

/* Read through volatiles so the compiler cannot fold the calls away. */
static volatile size_t huge_size = SIZE_MAX;
static volatile size_t bad_align = 3;
static volatile size_t zero_len;
static void *volatile null_ptr;

static void *held_large[6];
static void *held_realloc[STRESS_BLOCKS];
static void *held_array[STRESS_BLOCKS];
static void *blockers[NBLOCKERS];
static int nblockers;

struct result {
	long large_mmapped;
	long inplace, moves, heap_to_map, map_to_heap;
	size_t realloc_bytes, array_bytes;
	long failed;
	long unmapped;
};

/* glibc's chunk header: IS_MMAPPED (bit 1) in the size word before p. */
static int is_mmapped(const void *p)
{
	return (((const size_t *)p)[-1] & 2) != 0;
}

static void *must(void *p)
{
	if (!p)
		exit(1);
	return p;
}

SITE static void leak_malloc(void)
{
	for (int i = 0; i < 3; i++)
		drop(must(malloc(777)));
}

SITE static void leak_calloc(void)
{
	for (int i = 0; i < 6; i++)
		drop(must(calloc(13, 17)));
}

SITE static void leak_realloc(void)
{
	for (int i = 0; i < 4; i++) {
		void *p = must(realloc(NULL, 100));

		drop(must(realloc(p, 250)));
	}
}

SITE static void leak_reallocarray(void)
{
	for (int i = 0; i < 5; i++) {
		void *p = must(reallocarray(NULL, 10, 12));

		drop(must(reallocarray(p, 30, 12)));
	}
}

SITE static void leak_reallocarray_fail(struct result *r)
{
	for (int i = 0; i < 2; i++) {
		void *p = must(malloc(444));

		drop(p);
		if (!reallocarray(p, huge_size / 8, 16))
			r->failed++;
		if (!reallocarray(p, huge_size / 2, 1))
			r->failed++;
	}
}

SITE static void leak_posix_memalign(struct result *r)
{
	void *p;

	for (int i = 0; i < 10; i++) {
		if (posix_memalign(&p, 64, 1000))
			exit(1);
		drop(p);
	}
	if (posix_memalign(&p, bad_align, 100) == EINVAL)
		r->failed++;
	if (posix_memalign(&p, 64, huge_size) == ENOMEM)
		r->failed++;
	NO_TAIL();
}

SITE static void leak_aligned_alloc(void)
{
	for (int i = 0; i < 7; i++)
		drop(must(aligned_alloc(128, 384)));
}

SITE static void leak_memalign(void)
{
	for (int i = 0; i < 9; i++)
		drop(must(memalign(32, 333)));
}

SITE static void leak_valloc(void)
{
	for (int i = 0; i < 5; i++)
		drop(must(valloc(100)));
}

SITE static void leak_pvalloc(void)
{
	for (int i = 0; i < 4; i++)
		drop(must(pvalloc(100)));
}

SITE static void leak_large_malloc(void)
{
	held_large[0] = must(malloc(200000));
	held_large[1] = must(malloc(1 * MiB));
}

SITE static void leak_large_calloc(void)
{
	held_large[2] = must(calloc(1000, 300));
}

SITE static void leak_large_memalign(void)
{
	void *p;

	if (posix_memalign(&p, 4096, 400000))
		exit(1);
	held_large[3] = p;
	held_large[4] = must(aligned_alloc(65536, 200000));
}

SITE static void *large_start(void)
{
	void *p = must(malloc(300000));

	NO_TAIL();
	return p;
}

SITE static void leak_large_realloc(void)
{
	void *p = large_start();

	p = must(realloc(p, 600000));
	p = must(realloc(p, 3 * MiB));
	held_large[5] = p;
}

SITE static void free_large(void)
{
	void *p = must(malloc(700000));

	drop(p);
	free(p);
	p = must(malloc(500000));
	drop(p);
	drop(realloc(p, 0));
}

SITE static void stress_blocker(void)
{
	blockers[nblockers++] = must(malloc(BLOCKER_SIZE));
}

SITE static void release_blockers(void)
{
	for (int i = 0; i < nblockers; i++)
		free(blockers[i]);
	nblockers = 0;
}

static void count_step(struct result *r, void *old, void *p)
{
	if (p == old)
		r->inplace++;
	else
		r->moves++;
}

SITE static void *stress_start(size_t size)
{
	void *p = must(malloc(size));

	NO_TAIL();
	return p;
}

SITE static void stress_realloc(struct result *r)
{
	for (int j = 0; j < STRESS_BLOCKS; j++)
		held_realloc[j] = stress_start(sizes[2 * j]);
	for (int i = 0; i < STRESS_ROUNDS; i++) {
		for (int j = 0; j < STRESS_BLOCKS; j++) {
			void *old = held_realloc[j];
			int was_mapped = is_mmapped(old);
			void *p = must(realloc(old, sizes[(i + 2 * j) % NSIZES]));

			count_step(r, old, p);
			r->heap_to_map += !was_mapped && is_mmapped(p);
			r->map_to_heap += was_mapped && !is_mmapped(p);
			held_realloc[j] = p;
			stress_blocker();
		}
	}
	for (int j = 0; j < STRESS_BLOCKS; j++)
		r->realloc_bytes += sizes[(STRESS_ROUNDS - 1 + 2 * j) % NSIZES];
	NO_TAIL();
}

SITE static void *arr_start(size_t size)
{
	void *p = must(malloc(size));

	NO_TAIL();
	return p;
}

SITE static void stress_reallocarray(struct result *r)
{
	for (int j = 0; j < STRESS_BLOCKS; j++)
		held_array[j] = arr_start(sizes[j] * ARRAY_ELEM);
	for (int i = 0; i < STRESS_ROUNDS; i++) {
		for (int j = 0; j < STRESS_BLOCKS; j++) {
			void *old = held_array[j];
			int was_mapped = is_mmapped(old);
			void *p = must(reallocarray(old, sizes[(2 * i + 4 * j) % NSIZES],
						    ARRAY_ELEM));

			count_step(r, old, p);
			r->heap_to_map += !was_mapped && is_mmapped(p);
			r->map_to_heap += was_mapped && !is_mmapped(p);
			held_array[j] = p;
			stress_blocker();
		}
	}
	for (int j = 0; j < STRESS_BLOCKS; j++)
		r->array_bytes += ARRAY_ELEM *
			sizes[(2 * (STRESS_ROUNDS - 1) + 4 * j) % NSIZES];
	NO_TAIL();
}

SITE static void run_api(struct result *r)
{
	leak_malloc();
	NO_TAIL();
	leak_calloc();
	NO_TAIL();
	leak_realloc();
	NO_TAIL();
	leak_reallocarray();
	NO_TAIL();
	leak_reallocarray_fail(r);
	NO_TAIL();
	leak_posix_memalign(r);
	NO_TAIL();
	leak_aligned_alloc();
	NO_TAIL();
	leak_memalign();
	NO_TAIL();
	leak_valloc();
	NO_TAIL();
	leak_pvalloc();
	NO_TAIL();
	leak_large_malloc();
	NO_TAIL();
	leak_large_calloc();
	NO_TAIL();
	leak_large_memalign();
	NO_TAIL();
	leak_large_realloc();
	NO_TAIL();
	free_large();
	NO_TAIL();
	stress_realloc(r);
	NO_TAIL();
	stress_reallocarray(r);
	NO_TAIL();
	release_blockers();
	NO_TAIL();
	for (int i = 0; i < 6; i++)
		r->large_mmapped += is_mmapped(held_large[i]);
}

/* Mode "nulls". */

SITE static void nulls_leak(void)
{
	for (int i = 0; i < 3; i++)
		drop(must(malloc(111)));
}

SITE static void nulls_churn(void)
{
	for (int i = 0; i < 5; i++) {
		void *p = must(malloc(50));

		drop(p);
		free(p);
	}
}

SITE static void free_null(void)
{
	for (int i = 0; i < 10; i++) {
		free(null_ptr);
		NO_TAIL();
	}
}

SITE static void unmap_untracked(struct result *r, void *early)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	void *file;

	if (fd < 0)
		exit(1);
	r->unmapped += munmap(early, 3 * PAGE) == 0;
	r->unmapped += munmap(early, 3 * PAGE) == 0;
	file = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	if (file == MAP_FAILED)
		exit(1);
	r->unmapped += munmap(file, 2 * PAGE) == 0;
	if (mmap(NULL, zero_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0) == MAP_FAILED)
		r->failed++;
	close(fd);
}

SITE static void run_nulls(struct result *r, void *early)
{
	nulls_leak();
	NO_TAIL();
	nulls_churn();
	NO_TAIL();
	free_null();
	NO_TAIL();
	unmap_untracked(r, early);
	NO_TAIL();
}

int main(int argc, char **argv)
{
	struct result r = { 0 };
	const char *mode = argc > 1 ? argv[1] : "api";

	if (!mallopt(M_MMAP_THRESHOLD, 128 * KiB))
		return 1;
	if (!strcmp(mode, "nulls")) {
		void *early = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (early == MAP_FAILED)
			return 1;
		if (!ready_wait_go())
			return 0;
		run_nulls(&r, early);
		say("done unmapped=%ld failed=%ld", r.unmapped, r.failed);
	} else if (!strcmp(mode, "api")) {
		if (!ready_wait_go())
			return 0;
		run_api(&r);
		say("done large_mmapped=%ld inplace=%ld moves=%ld heap_to_map=%ld"
		    " map_to_heap=%ld realloc_bytes=%zu array_bytes=%zu failed=%ld",
		    r.large_mmapped, r.inplace, r.moves, r.heap_to_map, r.map_to_heap,
		    r.realloc_bytes, r.array_bytes, r.failed);
	} else {
		return 2;
	}
	wait_eof();
	return 0;
}
