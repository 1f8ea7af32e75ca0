// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "targets/command.h"
#include "common/elf_symbols.h"
#include "common/exitcodes.h"

/* argv[0] as execvp would find it. */
static int find_exe(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK) ? -errno : 0;
	}
	copy = strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
	if (!copy)
		return -ENOMEM;
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", *dir ? dir : ".", name);
		if (access(out, X_OK) == 0) {
			free(copy);
			return 0;
		}
	}
	free(copy);
	return -ENOENT;
}

/* A script's interpreter, from its #! line. */
static int shebang(const char *file, char *out, size_t len)
{
	char line[PATH_MAX + 3];
	size_t n;
	FILE *f = fopen(file, "re");

	if (!f)
		return -errno;
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = 0;
	if (n < 3 || line[0] != '#' || line[1] != '!')
		return -ENOEXEC;
	n = strspn(line + 2, " \t");
	snprintf(out, len, "%.*s", (int)strcspn(line + 2 + n, " \t\n"), line + 2 + n);
	return out[0] ? 0 : -ENOEXEC;
}

/* Where to hold the ELF file at path (see command.h). */
static int hold_point(const char *path, struct command *cmd)
{
	char interp[PATH_MAX];
	struct elf_symbols *es;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	es = elf_symbols__open(fd);
	if (!es) {
		close(fd);
		return -ENOEXEC;
	}
	err = elf_symbols__interp(es, interp, sizeof(interp));
	if (err == -ENOENT) {
		snprintf(cmd->hold_path, sizeof(cmd->hold_path), "%s", path);
		err = elf_symbols__entry_offset(es, &cmd->hold_offset);
	}
	elf_symbols__close(es);
	close(fd);
	if (err || cmd->hold_path[0])
		return err;

	fd = open(interp, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	es = elf_symbols__open(fd);
	err = es ? elf_symbols__func_offset(es, "_dl_debug_state", &cmd->hold_offset) : -ENOEXEC;
	elf_symbols__close(es);
	close(fd);
	if (!err)
		snprintf(cmd->hold_path, sizeof(cmd->hold_path), "%s", interp);
	return err;
}

int command__find(const char *name, char *exe, size_t exe_len, char *why, size_t len)
{
	int err = find_exe(name, exe, exe_len);

	if (err) {
		snprintf(why, len, "cannot run '%s': %s: check the command and PATH", name,
			 strerror(-err));
		return LW_EXIT_TARGET;
	}
	return 0;
}

int command__spawn(char *const argv[], struct command *cmd, char *why, size_t len)
{
	char script_interp[PATH_MAX];
	int pipefd[2], err;

	memset(cmd, 0, sizeof(*cmd));
	cmd->go_fd = -1;
	err = command__find(argv[0], cmd->exe, sizeof(cmd->exe), why, len);
	if (err)
		return err;
	err = hold_point(cmd->exe, cmd);
	if (err == -ENOEXEC && shebang(cmd->exe, script_interp, sizeof(script_interp)) == 0)
		err = hold_point(script_interp, cmd);
	if (err) {
		snprintf(why, len, "cannot find where to hold '%s' before it runs (%s): is it an "
			 "ELF executable or a #! script?", cmd->exe, strerror(-err));
		return LW_EXIT_TARGET;
	}
	if (pipe2(pipefd, O_CLOEXEC)) {
		snprintf(why, len, "cannot start '%s': %s", argv[0], strerror(errno));
		return LW_EXIT_FAILURE;
	}
	cmd->pid = fork();
	if (cmd->pid < 0) {
		snprintf(why, len, "cannot start '%s': %s", argv[0], strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return LW_EXIT_FAILURE;
	}
	if (cmd->pid == 0) {
		char go;

		/* the child: signals as a shell would give them, then wait */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		close(pipefd[1]);
		if (read(pipefd[0], &go, 1) != 1)
			_exit(127); /* leakwatch gave up */
		execvp(argv[0], argv);
		fprintf(stderr, "leakwatch: cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[0]);
	cmd->go_fd = pipefd[1];
	return 0;
}

void command__go(struct command *cmd)
{
	char go = 1;

	if (cmd->go_fd >= 0) {
		if (write(cmd->go_fd, &go, 1) != 1)
			kill(cmd->pid, SIGKILL);
		close(cmd->go_fd);
		cmd->go_fd = -1;
	}
}

void command__abort(struct command *cmd)
{
	if (cmd->pid <= 0)
		return;
	if (cmd->go_fd >= 0) {
		close(cmd->go_fd); /* a child still waiting exits 127 */
		cmd->go_fd = -1;
	} else {
		kill(cmd->pid, SIGKILL);
	}
	waitpid(cmd->pid, NULL, 0);
	cmd->pid = 0;
}
