/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What leakwatch says on stderr: one line, prefixed with its name. */
#ifndef LW_MESSAGES_H
#define LW_MESSAGES_H

#include <stdarg.h>

/* "leakwatch: <message>\n" on stderr. */
void lw_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void lw_vsay(const char *fmt, va_list ap);

#endif
