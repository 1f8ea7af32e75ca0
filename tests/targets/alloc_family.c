/*
 * alloc_family - the own entry points of one allocator library (jemalloc,
 * tcmalloc or mimalloc, preloaded or linked), each leaking a known number
 * of bytes from a site of its own, and each free function of the family
 * (sized and aligned delete, sdallocx, tc_free_sized, mi_free_size, ...)
 * given blocks allocated after "go": leakwatch must count every block and
 * match every free (no unknown free).
 *
 * The functions are looked up with dlsym(RTLD_DEFAULT) before "ready", as
 * the dynamic linker binds them for this process, so the program needs no
 * allocator headers or libraries to build; a name that is not found is
 * printed as "missing NAME" and the program exits 2 without "ready".
 *
 * Protocol: see target_protocol.h. argv[1] is the family; after "go",
 * main -> run_FAMILY -> each site below:
 *
 *   jemalloc
 *     leak_mallocx          6 x mallocx(300, 0)                         1800 B, 6
 *     leak_rallocx          4 x { mallocx(50, 0); rallocx(p, 700, 0) }  2800 B, 4
 *     leak_jemalloc_new     3 x operator new(24)                        72 B, 3
 *     churn_jemalloc        100 x mallocx(64, 0) + dallocx; 100 x
 *                           mallocx(80, 0) + sdallocx(p, 80, 0); 100 x
 *                           new(40) + sized delete(p, 40); 50 x
 *                           aligned new(64, 64) + sized aligned delete  0
 *   tcmalloc
 *     leak_tc_skip          5 x tc_malloc_skip_new_handler(120)         600 B, 5
 *     leak_tc_memalign      3 x memalign(64, 200); 2 x posix_memalign
 *                           (&p, 128, 300); 2 x valloc(100)             1400 B, 7
 *     churn_tcmalloc        100 x new(48) + sized delete(p, 48); 100 x
 *                           tc_malloc(90) + tc_free_sized(p, 90); 50 x
 *                           aligned new(64, 64) + sized aligned delete;
 *                           50 x malloc(30) + cfree; 50 x nothrow new[]
 *                           (20) + nothrow delete[]                     0
 *   mimalloc
 *     leak_mi_zalloc        5 x mi_zalloc(70)                           350 B, 5
 *     leak_mi_mallocn       4 x mi_mallocn(6, 11)                       264 B, 4
 *     leak_mi_aligned       3 x mi_malloc_aligned(100, 64); 2 x
 *                           mi_calloc_aligned(3, 50, 32)                600 B, 5
 *     leak_mi_reallocn      4 x { mi_malloc(10); mi_reallocn(p, 20, 8) } 640 B, 4
 *     leak_mi_recalloc      2 x { mi_calloc(2, 10); mi_recalloc(p, 30,
 *                           10) }                                       600 B, 2
 *     leak_mi_compat        2 x reallocf(malloc(10), 400); 2 x
 *                           _aligned_malloc(16, 90); 3 x memalign(32,
 *                           70)                                         1190 B, 7
 *     churn_mimalloc        100 x mi_malloc(33) + mi_free_size(p, 33);
 *                           50 x mi_malloc_aligned(40, 64) +
 *                           mi_free_aligned(p, 64); 50 x
 *                           mi_malloc_aligned(40, 64) +
 *                           mi_free_size_aligned(p, 40, 64); 50 x
 *                           mi_zalloc_small(16) + mi_cfree; 50 x
 *                           malloc(16) + vfree; 50 x new(48) + sized
 *                           delete(p, 48); 50 x mi_new_n(4, 8) +
 *                           delete[]; 50 x posix_memalign(&p, 64, 24)
 *                           + free; 50 x aligned_alloc(64, 64) + cfree  0
 *
 * "done" reports allocs= (calls that returned a block, realloc-like ones
 * included) and frees= (blocks given back, realloc-like calls that moved
 * or resized one included): what leakwatch's alloc_calls and free_calls
 * must be.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "target_protocol.h"

typedef void *(*size_fn)(size_t);
typedef void *(*size2_fn)(size_t, size_t);
typedef void *(*size3_fn)(size_t, size_t, size_t);
typedef void *(*ptr_size_fn)(void *, size_t);
typedef void *(*ptr_size2_fn)(void *, size_t, size_t);
typedef void (*free_fn)(void *);
typedef void (*free_size_fn)(void *, size_t);
typedef void (*free_size2_fn)(void *, size_t, size_t);
typedef int (*posix_memalign_fn)(void **, size_t, size_t);

static const char *missing;

static void *need(const char *name)
{
	void *f = dlsym(RTLD_DEFAULT, name);

	if (!f && !missing)
		missing = name;
	return f;
}

static long allocs, frees;

/* --- jemalloc ------------------------------------------------------------ */

static struct {
	void *(*mallocx)(size_t, int);
	void *(*rallocx)(void *, size_t, int);
	void (*dallocx)(void *, int);
	void (*sdallocx)(void *, size_t, int);
	size_fn new_;
	size2_fn new_aligned;
	free_size_fn delete_sized;
	free_size2_fn delete_sized_aligned;
} je;

SITE static void leak_mallocx(void)
{
	for (int i = 0; i < 6; i++, allocs++)
		drop(je.mallocx(300, 0));
}

SITE static void leak_rallocx(void)
{
	for (int i = 0; i < 4; i++) {
		void *p = je.mallocx(50, 0);

		drop(je.rallocx(p, 700, 0));
		allocs += 2;
		frees++;
	}
}

SITE static void leak_jemalloc_new(void)
{
	for (int i = 0; i < 3; i++, allocs++)
		drop(je.new_(24));
}

SITE static void churn_jemalloc(void)
{
	for (int i = 0; i < 100; i++) {
		je.dallocx(je.mallocx(64, 0), 0);
		je.sdallocx(je.mallocx(80, 0), 80, 0);
		je.delete_sized(je.new_(40), 40);
		allocs += 3;
		frees += 3;
	}
	for (int i = 0; i < 50; i++, allocs++, frees++)
		je.delete_sized_aligned(je.new_aligned(64, 64), 64, 64);
	NO_TAIL();
}

SITE static void run_jemalloc(void)
{
	leak_mallocx();
	leak_rallocx();
	leak_jemalloc_new();
	churn_jemalloc();
	NO_TAIL();
}

static void find_jemalloc(void)
{
	je.mallocx = need("mallocx");
	je.rallocx = need("rallocx");
	je.dallocx = need("dallocx");
	je.sdallocx = need("sdallocx");
	je.new_ = need("_Znwm");
	je.new_aligned = need("_ZnwmSt11align_val_t");
	je.delete_sized = need("_ZdlPvm");
	je.delete_sized_aligned = need("_ZdlPvmSt11align_val_t");
}

/* --- tcmalloc ------------------------------------------------------------ */

static struct {
	size_fn skip_new_handler, tc_malloc, new_;
	size2_fn new_aligned, memalign, new_array_nothrow;
	size_fn valloc, malloc;
	posix_memalign_fn posix_memalign;
	free_size_fn tc_free_sized, delete_sized, delete_array_nothrow;
	free_size2_fn delete_sized_aligned;
	free_fn cfree;
} tc;

SITE static void leak_tc_skip(void)
{
	for (int i = 0; i < 5; i++, allocs++)
		drop(tc.skip_new_handler(120));
}

SITE static void leak_tc_memalign(void)
{
	void *p;

	for (int i = 0; i < 3; i++, allocs++)
		drop(tc.memalign(64, 200));
	for (int i = 0; i < 2; i++, allocs++) {
		tc.posix_memalign(&p, 128, 300);
		drop(p);
	}
	for (int i = 0; i < 2; i++, allocs++)
		drop(tc.valloc(100));
}

SITE static void churn_tcmalloc(void)
{
	for (int i = 0; i < 100; i++) {
		tc.delete_sized(tc.new_(48), 48);
		tc.tc_free_sized(tc.tc_malloc(90), 90);
		allocs += 2;
		frees += 2;
	}
	for (int i = 0; i < 50; i++) {
		/* nothrow_t is passed by reference and never read */
		tc.delete_sized_aligned(tc.new_aligned(64, 64), 64, 64);
		tc.cfree(tc.malloc(30));
		tc.delete_array_nothrow(tc.new_array_nothrow(20, 0), 0);
		allocs += 3;
		frees += 3;
	}
	NO_TAIL();
}

SITE static void run_tcmalloc(void)
{
	leak_tc_skip();
	leak_tc_memalign();
	churn_tcmalloc();
	NO_TAIL();
}

static void find_tcmalloc(void)
{
	tc.skip_new_handler = need("tc_malloc_skip_new_handler");
	tc.tc_malloc = need("tc_malloc");
	tc.new_ = need("_Znwm");
	tc.new_aligned = need("_ZnwmSt11align_val_t");
	tc.memalign = need("memalign");
	tc.new_array_nothrow = need("_ZnamRKSt9nothrow_t");
	tc.valloc = need("valloc");
	tc.malloc = need("malloc");
	tc.posix_memalign = need("posix_memalign");
	tc.tc_free_sized = need("tc_free_sized");
	tc.delete_sized = need("_ZdlPvm");
	tc.delete_array_nothrow = need("_ZdaPvRKSt9nothrow_t");
	tc.delete_sized_aligned = need("_ZdlPvmSt11align_val_t");
	tc.cfree = need("cfree");
}

/* --- mimalloc ------------------------------------------------------------ */

static struct {
	size_fn zalloc, malloc, zalloc_small, libc_malloc, new_;
	size2_fn mallocn, malloc_aligned, calloc, aligned_malloc, memalign, new_n, aligned_alloc;
	size3_fn calloc_aligned;
	ptr_size_fn reallocf;
	ptr_size2_fn reallocn, recalloc;
	posix_memalign_fn posix_memalign;
	free_fn cfree, vfree, delete_array, free, libc_cfree;
	free_size_fn free_size, free_aligned, delete_sized;
	free_size2_fn free_size_aligned;
} mi;

SITE static void leak_mi_zalloc(void)
{
	for (int i = 0; i < 5; i++, allocs++)
		drop(mi.zalloc(70));
}

SITE static void leak_mi_mallocn(void)
{
	for (int i = 0; i < 4; i++, allocs++)
		drop(mi.mallocn(6, 11));
}

SITE static void leak_mi_aligned(void)
{
	for (int i = 0; i < 3; i++, allocs++)
		drop(mi.malloc_aligned(100, 64));
	for (int i = 0; i < 2; i++, allocs++)
		drop(mi.calloc_aligned(3, 50, 32));
}

SITE static void leak_mi_reallocn(void)
{
	for (int i = 0; i < 4; i++) {
		drop(mi.reallocn(mi.malloc(10), 20, 8));
		allocs += 2;
		frees++;
	}
}

SITE static void leak_mi_recalloc(void)
{
	for (int i = 0; i < 2; i++) {
		drop(mi.recalloc(mi.calloc(2, 10), 30, 10));
		allocs += 2;
		frees++;
	}
}

SITE static void leak_mi_compat(void)
{
	for (int i = 0; i < 2; i++) {
		drop(mi.reallocf(mi.libc_malloc(10), 400));
		allocs += 2;
		frees++;
	}
	for (int i = 0; i < 2; i++, allocs++)
		drop(mi.aligned_malloc(16, 90)); /* mimalloc's order */
	for (int i = 0; i < 3; i++, allocs++)
		drop(mi.memalign(32, 70));
}

SITE static void churn_mimalloc(void)
{
	void *p;

	for (int i = 0; i < 100; i++, allocs++, frees++)
		mi.free_size(mi.malloc(33), 33);
	for (int i = 0; i < 50; i++) {
		mi.free_aligned(mi.malloc_aligned(40, 64), 64);
		mi.free_size_aligned(mi.malloc_aligned(40, 64), 40, 64);
		mi.cfree(mi.zalloc_small(16));
		mi.vfree(mi.libc_malloc(16));
		mi.delete_sized(mi.new_(48), 48);
		mi.delete_array(mi.new_n(4, 8));
		mi.posix_memalign(&p, 64, 24);
		mi.free(p);
		mi.libc_cfree(mi.aligned_alloc(64, 64));
		allocs += 8;
		frees += 8;
	}
	NO_TAIL();
}

SITE static void run_mimalloc(void)
{
	leak_mi_zalloc();
	leak_mi_mallocn();
	leak_mi_aligned();
	leak_mi_reallocn();
	leak_mi_recalloc();
	leak_mi_compat();
	churn_mimalloc();
	NO_TAIL();
}

static void find_mimalloc(void)
{
	mi.zalloc = need("mi_zalloc");
	mi.malloc = need("mi_malloc");
	mi.zalloc_small = need("mi_zalloc_small");
	mi.libc_malloc = need("malloc");
	mi.new_ = need("_Znwm");
	mi.mallocn = need("mi_mallocn");
	mi.malloc_aligned = need("mi_malloc_aligned");
	mi.calloc = need("mi_calloc");
	mi.aligned_malloc = need("_aligned_malloc");
	mi.memalign = need("memalign");
	mi.new_n = need("mi_new_n");
	mi.aligned_alloc = need("aligned_alloc");
	mi.calloc_aligned = need("mi_calloc_aligned");
	mi.reallocf = need("reallocf");
	mi.reallocn = need("mi_reallocn");
	mi.recalloc = need("mi_recalloc");
	mi.posix_memalign = need("posix_memalign");
	mi.cfree = need("mi_cfree");
	mi.vfree = need("vfree");
	mi.delete_array = need("_ZdaPv");
	mi.free = need("free");
	mi.libc_cfree = need("cfree");
	mi.free_size = need("mi_free_size");
	mi.free_aligned = need("mi_free_aligned");
	mi.delete_sized = need("_ZdlPvm");
	mi.free_size_aligned = need("mi_free_size_aligned");
}

int main(int argc, char **argv)
{
	const char *family = argc > 1 ? argv[1] : "";
	void (*run)(void);

	if (!strcmp(family, "jemalloc")) {
		find_jemalloc();
		run = run_jemalloc;
	} else if (!strcmp(family, "tcmalloc")) {
		find_tcmalloc();
		run = run_tcmalloc;
	} else if (!strcmp(family, "mimalloc")) {
		find_mimalloc();
		run = run_mimalloc;
	} else {
		put_str("usage: alloc_family jemalloc|tcmalloc|mimalloc\n");
		return 2;
	}
	if (missing) {
		say("missing %s\n", missing);
		return 2;
	}
	if (!ready_wait_go())
		return 0;
	run();
	say("done allocs=%ld frees=%ld\n", allocs, frees);
	wait_eof();
	return 0;
}
