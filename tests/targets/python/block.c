// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Called through ctypes by the Python test scripts: a C call that blocks.
 * Through ctypes.CDLL the caller has released the GIL; through
 * ctypes.PyDLL it still holds it. *entered is set once inside. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

void lw_block(volatile int *entered, unsigned int seconds)
{
	*entered = 1;
	while (seconds--)
		sleep(1);
}

/* The calling thread's pthread_t: its thread pointer on x86-64 glibc. */
unsigned long lw_self(void)
{
	return (unsigned long)pthread_self();
}

/* A C extension's buffer kept alive from Python: n bytes from malloc,
 * called through ctypes (test_python.py: the GIL released around it). */
void *lw_leak(size_t n)
{
	return malloc(n);
}
