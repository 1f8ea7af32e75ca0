/*
 * cxx - C++ allocation: every form of operator new (plain, array, nothrow,
 * aligned, aligned nothrow) leaking from a function of its own, balanced
 * new/delete churn through every form of operator delete (plain, sized,
 * array, nothrow, aligned, sized aligned, and the deleting destructor of a
 * class), deletes of null pointers, and (mode "throw") a throwing operator
 * new caught before known leaks. Under LD_PRELOAD of jemalloc, which has
 * its own operator new/delete, the numbers are the same.
 *
 * Protocol: see target_protocol.h (it compiles as C++); "done" is described
 * at the end below. Site names are C++ functions: leakwatch demangles them
 * ("leak_new()" or "leak_new", whichever it prints).
 *
 * Mode "main" (default): after "go", main -> run_main -> each site:
 *
 *   site (frames[0])          what it does                           outstanding
 *   leak_new                  10 x new Obj24                         240 B, 10
 *   leak_new_array            5 x new int[10]                        200 B, 5
 *   leak_new_cookie           3 x new WithDtor[3] (16 B each, and an
 *                             8 B array cookie: 56 B asked)          168 B, 3
 *   leak_nothrow_new          4 x new (std::nothrow) Obj24           96 B, 4
 *   leak_nothrow_new_array    3 x new (std::nothrow) char[50]        150 B, 3
 *   leak_aligned_new          6 x new Aligned64 (192 B, align 64)    1152 B, 6
 *   leak_aligned_new_array    2 x new Aligned64[2]                   768 B, 2
 *   leak_aligned_nothrow      3 x new (std::nothrow) Aligned64       576 B, 3
 *   leak_aligned_nothrow_array new (std::nothrow) Aligned64[5]       960 B, 1
 *   leak_aligned_cookie       new AlignedDtor[2] (64 B each, align 64,
 *                             a 64 B cookie: 192 B asked)            192 B, 1
 *   leak_operator_new_aligned 2 x operator new(100, align_val_t(128)) 200 B, 2
 *   leak_malloc_cxx           3 x malloc(1234)                       3702 B, 3
 *   churn_cxx                 500 rounds of 12 new + 12 delete (every
 *                             form above, sized deletes, a virtual
 *                             deleting destructor, a std::vector)    0
 *   delete_null               delete / delete[] of null pointers,
 *                             operator delete(nullptr, ...) in every
 *                             form, free(NULL): 8 calls              0
 *
 *   total outstanding: 8404 B in 43 allocations, all category malloc.
 *   "done allocs=6043 frees=6000": the allocation calls (new forms and
 *   malloc; a new[] or new is one call) and the deletes of non-null
 *   pointers made after "go".
 *
 * Mode "auto": no protocol, for a command leakwatch starts itself: main ->
 * run_main (the same calls as mode "main") right away, then a pause of
 * argv[2] milliseconds (default 500), then exit 0. Nothing is printed.
 *
 * Mode "throw": after "go", main -> run_throw -> each site:
 *
 *   throw_bad_alloc           3 x { new char[2^50] throws
 *                             std::bad_alloc, caught }; then
 *                             new (std::nothrow) char[2^50] -> NULL  0
 *   leak_after_throw          7 x new char[33]                       231 B, 7
 *   leak_malloc_after_throw   2 x malloc(500)                        1000 B, 2
 *   churn_after_throw         100 x { new Obj24; delete }            0
 *
 *   total outstanding: 1231 B in 9 allocations.
 *   "done caught=3 nothrow_null=1".
 */
#include <cstddef>
#if __cplusplus < 201703L
#error "needs C++17 (aligned new), the default of g++ 11 and later"
#endif

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <new>
#include <vector>

#include "target_protocol.h"

struct Obj24 {
	long a, b, c;
};

struct WithDtor {
	long a, b;
	~WithDtor() { sink ^= (uintptr_t)a; }
};

struct alignas(64) Aligned64 {
	char bytes[192];
};

struct alignas(64) AlignedDtor {
	long a;
	~AlignedDtor() { sink ^= (uintptr_t)a; }
};

struct Base {
	long x;
	virtual ~Base() { sink ^= (uintptr_t)x; }
};

struct Derived : Base {
	long y[3];
	~Derived() override { sink ^= (uintptr_t)y[0]; }
};

static_assert(sizeof(Obj24) == 24, "Obj24");
static_assert(sizeof(WithDtor) == 16, "WithDtor");
static_assert(sizeof(Aligned64) == 192, "Aligned64");
static_assert(sizeof(Derived) == 40, "Derived");
static_assert(sizeof(AlignedDtor) == 64, "AlignedDtor");

/* Read through volatiles so the compiler cannot fold the calls away. */
static volatile size_t huge_size = (size_t)1 << 50;
static void *volatile null_ptr;

static long allocs, frees, caught, nothrow_null;

template <typename T> static T *counted(T *p)
{
	if (!p)
		exit(1);
	allocs++;
	return p;
}

template <typename T> static void dropped(T *p)
{
	drop((void *)p);
}

SITE static void leak_new()
{
	for (int i = 0; i < 10; i++)
		dropped(counted(new Obj24()));
}

SITE static void leak_new_array()
{
	for (int i = 0; i < 5; i++)
		dropped(counted(new int[10]()));
}

SITE static void leak_new_cookie()
{
	for (int i = 0; i < 3; i++)
		dropped(counted(new WithDtor[3]()));
}

SITE static void leak_nothrow_new()
{
	for (int i = 0; i < 4; i++)
		dropped(counted(new (std::nothrow) Obj24()));
}

SITE static void leak_nothrow_new_array()
{
	for (int i = 0; i < 3; i++)
		dropped(counted(new (std::nothrow) char[50]()));
}

SITE static void leak_aligned_new()
{
	for (int i = 0; i < 6; i++)
		dropped(counted(new Aligned64()));
}

SITE static void leak_aligned_new_array()
{
	for (int i = 0; i < 2; i++)
		dropped(counted(new Aligned64[2]()));
}

SITE static void leak_aligned_nothrow()
{
	for (int i = 0; i < 3; i++)
		dropped(counted(new (std::nothrow) Aligned64()));
}

SITE static void leak_aligned_nothrow_array()
{
	dropped(counted(new (std::nothrow) Aligned64[5]()));
}

SITE static void leak_aligned_cookie()
{
	dropped(counted(new AlignedDtor[2]()));
}

SITE static void leak_operator_new_aligned()
{
	for (int i = 0; i < 2; i++)
		dropped(counted(::operator new(100, std::align_val_t(128))));
}

SITE static void leak_malloc_cxx()
{
	for (int i = 0; i < 3; i++)
		dropped(counted(malloc(1234)));
}

template <typename T> static void deleted(T *p)
{
	drop((void *)p);
	frees++;
}

SITE static void churn_cxx()
{
	for (int i = 0; i < 500; i++) {
		Obj24 *o = counted(new Obj24());		/* operator new */
		deleted(o);
		delete o;					/* sized delete */

		int *a = counted(new int[7]());			/* new[] */
		deleted(a);
		delete[] a;					/* delete[] */

		WithDtor *w = counted(new WithDtor[4]());	/* new[] with a cookie */
		deleted(w);
		delete[] w;					/* sized delete[] */

		Aligned64 *x = counted(new Aligned64());	/* aligned new */
		deleted(x);
		delete x;					/* sized aligned delete */

		Aligned64 *y = counted(new Aligned64[2]());	/* aligned new[] */
		deleted(y);
		delete[] y;					/* aligned delete[] */

		AlignedDtor *z = counted(new AlignedDtor[3]());	/* cookie, aligned */
		deleted(z);
		delete[] z;				/* sized aligned delete[] */

		Base *b = counted(new Derived());
		deleted(b);
		delete b;				/* deleting destructor: sized delete */

		void *n = counted(::operator new(64, std::nothrow));
		deleted(n);
		::operator delete(n, std::nothrow);		/* nothrow delete */

		void *m = counted(::operator new[](32, std::nothrow));
		deleted(m);
		::operator delete[](m, std::nothrow);		/* nothrow delete[] */

		void *an = counted(::operator new(256, std::align_val_t(256), std::nothrow));
		deleted(an);
		::operator delete(an, std::align_val_t(256), std::nothrow);

		void *s = counted(::operator new(77));
		deleted(s);
		::operator delete(s, 77);			/* explicit sized delete */

		std::vector<long> v;
		v.reserve(20);					/* one operator new */
		allocs++;
		for (long k = 0; k < 20; k++)
			v.push_back(k + i);
		sink ^= (uintptr_t)v[19];
		frees++;					/* v's sized delete */
	}
	NO_TAIL();
}

SITE static void delete_null()
{
	Obj24 *o = static_cast<Obj24 *>(null_ptr);
	WithDtor *w = static_cast<WithDtor *>(null_ptr);

	delete o;
	delete[] w;
	::operator delete(null_ptr);
	::operator delete[](null_ptr);
	::operator delete(null_ptr, 16);
	::operator delete(null_ptr, std::align_val_t(64));
	::operator delete(null_ptr, std::nothrow);
	free(null_ptr);
	NO_TAIL();
}

SITE static void run_main()
{
	leak_new();
	NO_TAIL();
	leak_new_array();
	NO_TAIL();
	leak_new_cookie();
	NO_TAIL();
	leak_nothrow_new();
	NO_TAIL();
	leak_nothrow_new_array();
	NO_TAIL();
	leak_aligned_new();
	NO_TAIL();
	leak_aligned_new_array();
	NO_TAIL();
	leak_aligned_nothrow();
	NO_TAIL();
	leak_aligned_nothrow_array();
	NO_TAIL();
	leak_aligned_cookie();
	NO_TAIL();
	leak_operator_new_aligned();
	NO_TAIL();
	leak_malloc_cxx();
	NO_TAIL();
	churn_cxx();
	NO_TAIL();
	delete_null();
	NO_TAIL();
}

/* Mode "throw". */

SITE static void throw_bad_alloc()
{
	for (int i = 0; i < 3; i++) {
		try {
			dropped(new char[huge_size]);
		} catch (const std::bad_alloc &) {
			caught++;
		}
	}
	char *p = new (std::nothrow) char[huge_size];

	if (!p)
		nothrow_null++;
	dropped(p);
}

SITE static void leak_after_throw()
{
	for (int i = 0; i < 7; i++)
		dropped(new char[33]);
}

SITE static void leak_malloc_after_throw()
{
	for (int i = 0; i < 2; i++)
		dropped(malloc(500));
}

SITE static void churn_after_throw()
{
	for (int i = 0; i < 100; i++) {
		Obj24 *o = new Obj24();

		dropped(o);
		delete o;
	}
	NO_TAIL();
}

SITE static void run_throw()
{
	throw_bad_alloc();
	NO_TAIL();
	leak_after_throw();
	NO_TAIL();
	leak_malloc_after_throw();
	NO_TAIL();
	churn_after_throw();
	NO_TAIL();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "main";

	if (!strcmp(mode, "main")) {
		if (!ready_wait_go())
			return 0;
		run_main();
		say("done allocs=%ld frees=%ld", allocs, frees);
	} else if (!strcmp(mode, "auto")) {
		long ms = argc > 2 ? atol(argv[2]) : 500;
		struct timespec pause = { ms / 1000, ms % 1000 * 1000000L };

		run_main();
		while (nanosleep(&pause, &pause) < 0 && errno == EINTR)
			;
		return 0;
	} else if (!strcmp(mode, "throw")) {
		if (!ready_wait_go())
			return 0;
		run_throw();
		say("done caught=%ld nothrow_null=%ld", caught, nothrow_null);
	} else {
		return 2;
	}
	wait_eof();
	return 0;
}
