// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include "common/messages.h"

void lw_vsay(const char *fmt, va_list ap)
{
	/* one write per line, so lines from leakwatch and a command it
	 * started do not interleave mid-line */
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "leakwatch: %s\n", line);
}

void lw_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lw_vsay(fmt, ap);
	va_end(ap);
}
