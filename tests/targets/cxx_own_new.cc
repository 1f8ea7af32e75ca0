/*
 * cxx_own_new - a program that replaces the global operator new and delete
 * with its own (counting wrappers over malloc and free), as C++ programs
 * may. The executable then defines _Znwm and friends, first in the dynamic
 * linker's lookup order: leakwatch must probe those (not libstdc++'s, which
 * nothing calls), count each new once (operator new[] here calls operator
 * new, which calls malloc), and name the function holding the
 * new-expression as the site.
 *
 * Protocol: see target_protocol.h; "done news=N deletes=M" gives the calls
 * of the program's own operator new (not counting new[]'s inner call) and
 * operator delete on non-null pointers after "go".
 *
 * After "go", main -> run_own -> each site:
 *
 *   site (frames[0])     what it does                               outstanding
 *   leak_own_new         8 x new Obj24                              192 B, 8
 *   leak_own_new_array   4 x new int[25]                            400 B, 4
 *   churn_own            200 x { new Obj24, delete (sized);
 *                        new int[9], delete[] }                     0
 *
 *   total outstanding: 592 B in 12 allocations; "done news=412 deletes=400".
 */
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "target_protocol.h"

struct Obj24 {
	long a, b, c;
};

static long news, deletes;
static bool counting;

static void *own_alloc(std::size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		throw std::bad_alloc();
	return p;
}

void *operator new(std::size_t n)
{
	news += counting;
	return own_alloc(n);
}

void *operator new[](std::size_t n)
{
	void *p = ::operator new(n);	/* counts it */

	NO_TAIL();
	return p;
}

void operator delete(void *p) noexcept
{
	if (p)
		deletes += counting;
	free(p);
}

void operator delete(void *p, std::size_t) noexcept
{
	::operator delete(p);
}

void operator delete[](void *p) noexcept
{
	::operator delete(p);
}

void operator delete[](void *p, std::size_t) noexcept
{
	::operator delete(p);
}

SITE static void leak_own_new()
{
	for (int i = 0; i < 8; i++)
		drop(new Obj24());
}

SITE static void leak_own_new_array()
{
	for (int i = 0; i < 4; i++)
		drop(new int[25]());
}

SITE static void churn_own()
{
	for (int i = 0; i < 200; i++) {
		Obj24 *o = new Obj24();

		drop(o);
		delete o;

		int *a = new int[9]();

		drop(a);
		delete[] a;
	}
	NO_TAIL();
}

SITE static void run_own()
{
	leak_own_new();
	NO_TAIL();
	leak_own_new_array();
	NO_TAIL();
	churn_own();
	NO_TAIL();
}

int main()
{
	if (!ready_wait_go())
		return 0;
	counting = true;
	run_own();
	counting = false;
	say("done news=%ld deletes=%ld", news, deletes);
	wait_eof();
	return 0;
}
