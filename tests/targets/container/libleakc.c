/*
 * libleakc - a shared library that exists only inside a test's private
 * mount namespace (a tmpfs mounted there), with its debug info likewise
 * only there: leakwatch can read either only through the process's own
 * view. Built by tests/integration/test_symbols.py.
 *
 * leak_in_container: 5 x malloc(4242) through an inlined helper, kept.
 */
#include <stdlib.h>

static inline __attribute__((always_inline)) void *make_block(size_t n)
{
	return malloc(n); /* MARK: make_block malloc */
}

__attribute__((noinline)) void leak_in_container(void **keep)
{
	for (int i = 0; i < 5; i++) {
		keep[i] = make_block(4242); /* MARK: leak_in_container call */
		__asm__ volatile("" ::: "memory");
	}
}
