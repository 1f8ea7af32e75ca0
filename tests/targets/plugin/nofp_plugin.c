/*
 * libnofp_plugin.so - the library nofp_dlopen loads after leakwatch has
 * attached, built -O2 -fomit-frame-pointer (Makefile): its frames are
 * found only through its CFI, once leakwatch has read it.
 *
 *   plugin_run(n, keep) -> plugin_mid -> plugin_leak: malloc(n), kept (keep)
 *   or freed at once.
 */
#include <stdlib.h>
#include <string.h>

#define SITE __attribute__((noinline, noclone, visibility("default")))

static volatile unsigned long vsink;
static void *kept[64];
static int nkept;

SITE void *plugin_leak(int n)
{
	char pad[64];
	void *p;

	memset(pad, n, sizeof(pad));
	vsink += pad[n % 64];
	p = malloc(n);
	__asm__ volatile("" ::: "memory");
	return p;
}

SITE void *plugin_mid(int n)
{
	long pad[5];
	void *p;

	for (int i = 0; i < 5; i++)
		pad[i] = n + i;
	p = plugin_leak(n);
	vsink += pad[n % 5];
	return p;
}

SITE int plugin_run(int n, int keep)
{
	void *p = plugin_mid(n);

	if (!p)
		return -1;
	if (keep && nkept < 64)
		kept[nkept++] = p;
	else
		free(p);
	__asm__ volatile("" ::: "memory");
	return 0;
}
