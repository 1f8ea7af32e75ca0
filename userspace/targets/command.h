/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A command leakwatch starts: forked, held before exec until the probes
 * can go in, and reaped for its exit status.
 */
#ifndef LW_COMMAND_H
#define LW_COMMAND_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct command {
	pid_t pid;
	int go_fd;                 /* written to let the child exec */
	char exe[PATH_MAX];        /* the file it runs */
	char hold_path[PATH_MAX];  /* where to stop it once its libraries are mapped */
	uint64_t hold_offset;
};

/*
 * Finds what argv[0] runs (through PATH, and a #! interpreter) and where
 * to hold it: the dynamic linker's _dl_debug_state, which runs once the
 * libraries are mapped and before their initializers, or for a static
 * executable its entry point. Then forks a child that waits before exec.
 * 0, or an exit code with why set.
 */
int command__spawn(char *const argv[], struct command *cmd, char *why, size_t len);
/* What name runs, as execvp would find it, into exe: 0, or LW_EXIT_TARGET
 * with why set (checked before any BPF is loaded, and by command__spawn). */
int command__find(const char *name, char *exe, size_t exe_len, char *why, size_t len);
/* Lets the child exec. */
void command__go(struct command *cmd);
/* Ends a child that could not be watched (it never ran the command). */
void command__abort(struct command *cmd);

#endif
