/* LEAKWATCH_NO_FP: built -O2 -fomit-frame-pointer (the Makefile reads this line)
 *
 * nofp - leaks at the end of call chains in code without frame pointers,
 * for the CFI unwinder: its stacks must match libdw's from the leak site
 * up to main and past it to _start. Locals, arrays and a variable-length
 * array give the frames sizes of their own (CFA = rsp + N, and rbp + N
 * where the VLA needs a frame pointer).
 *
 * Protocol: see target_protocol.h. After "go", main ->
 *   chain_a1 -> chain_a2 -> chain_a3 -> leak_deep (8 deep)  5 x malloc(1111): 5555 B
 *   chain_b1 -> leak_vla (VLA frame: rbp-based CFA)          3 x malloc(2222): 6666 B
 *   leak_shallow                                              2 x calloc(7, 111): 1554 B
 * pointers dropped; then "done", and EOF ends it.
 */
#include <stdlib.h>
#include <string.h>
#include "target_protocol.h"

static volatile int vsink;
/* loop counts the compiler cannot unroll: one call site per leak */
static volatile int five = 5, three = 3, two = 2;

SITE void leak_deep(int n)
{
	char pad[200];

	memset(pad, n, sizeof(pad));
	vsink += pad[n % 200];
	drop(malloc(1111));
	NO_TAIL();
}

SITE void chain_a3(int n)
{
	long pad[9];

	for (int i = 0; i < 9; i++)
		pad[i] = n + i;
	leak_deep(n + 1);
	vsink += pad[n % 9];
}

SITE void chain_a2(int n)
{
	chain_a3(n + 1);
	vsink += n;
}

SITE void chain_a1(int n)
{
	chain_a2(n + 1);
	vsink += n;
}

SITE void leak_vla(int n)
{
	char vla[n + 16];

	memset(vla, 1, sizeof(vla));
	vsink += vla[n];
	drop(malloc(2222));
	NO_TAIL();
	vsink += vla[3];
}

SITE void chain_b1(int n)
{
	leak_vla(n * 8 + 1);
	vsink += n;
}

SITE void leak_shallow(void)
{
	drop(calloc(7, 111));
	NO_TAIL();
}

int main(void)
{
	if (!ready_wait_go())
		return 0;
	for (int i = 0; i < five; i++)
		chain_a1(i);
	for (int i = 0; i < three; i++)
		chain_b1(i + 5);
	for (int i = 0; i < two; i++)
		leak_shallow();
	put_str("done\n");
	wait_eof();
	return 0;
}
