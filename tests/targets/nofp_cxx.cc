// LEAKWATCH_NO_FP: built -O2 -fomit-frame-pointer (the Makefile reads this line)
//
// nofp_cxx - C++ leaks through operator new at the end of call chains in
// code without frame pointers (libstdc++'s operator new has none either).
//
// Protocol: see target_protocol.h. After "go", main ->
//   Level1::run -> Level2::run -> level3 -> level4 -> make_big   4 x new Big (3333 B): 13332 B
//   level3 -> make_array (new[] of 100 ints)                      2 x 400 B: 800 B
// pointers dropped; then "done", and EOF ends it.
#include <cstdlib>
#include <cstring>
#include "target_protocol.h"

struct Big {
	char buf[3333];
};

static volatile int vsink;
// loop counts the compiler cannot unroll: one call site per leak
static volatile int four = 4, two = 2;

SITE Big *make_big(int n)
{
	Big *b = new Big;

	vsink += n;
	return b;
}

SITE int *make_array(int n)
{
	int *a = new int[100];

	vsink += n;
	return a;
}

SITE void level4(int n)
{
	char pad[64];

	memset(pad, n, sizeof(pad));
	drop(make_big(n + pad[n % 64]));
	NO_TAIL();
}

SITE void level3(int n, bool array)
{
	if (array)
		drop(make_array(n));
	else
		level4(n + 1);
	vsink += n;
}

struct Level2 {
	SITE static void run(int n, bool array)
	{
		level3(n + 1, array);
		vsink += n;
	}
};

struct Level1 {
	SITE static void run(int n, bool array)
	{
		Level2::run(n + 1, array);
		vsink += n;
	}
};

int main()
{
	if (!ready_wait_go())
		return 0;
	for (int i = 0; i < four; i++)
		Level1::run(i, false);
	for (int i = 0; i < two; i++)
		level3(i, true);
	put_str("done\n");
	wait_eof();
	return 0;
}
