/* LEAKWATCH_STATIC: the Makefile links this target -static -s (see below). */
/*
 * static_stripped - a statically linked, stripped program: malloc is inside
 * the executable but no symbol table names it, so leakwatch cannot find the
 * allocator and must refuse with exit status 2 and one line on stderr,
 * leaving the process untouched.
 *
 * Protocol: see target_protocol.h; "go" leaks 10 x malloc(100) in leak_static
 * (for the case where a tool does attach; nobody can name it here), then
 * "done leaked=1000". Only put_str() writes, so no formatting code is linked.
 */
#include <stdlib.h>

#include "target_protocol.h"

SITE static void leak_static(void)
{
	for (int i = 0; i < 10; i++)
		drop(malloc(100));
}

int main(void)
{
	if (!ready_wait_go())
		return 0;
	leak_static();
	put_str("done leaked=1000\n");
	wait_eof();
	return 0;
}
