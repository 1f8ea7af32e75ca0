// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "symbols/cfi.h"
#include "symbols/dwarf_lookup.h"
#include "leakwatch.h"
#include "symbols/oracle.h"
#include "common/messages.h"
#include "symbols/symbol_worker.h"
#include "symbols/worker_wire.h"
#include "symbols/sym.h"

/* The worker runs as nobody: it needs to read only what it is handed and
 * world-readable debug info. */
#define WORKER_UID 65534
#define WORKER_GID 65534
/* Loading a large library's DWARF takes seconds; a loop takes forever. */
#define REQUEST_TIMEOUT_MS 30000
/* After this many crashes and timeouts symbolization is given up. */
#define MAX_FAILURES 16
struct wmod {
	int fd, debug_fd;  /* ours, kept to hand to the next worker */
	char *path;
	bool debug_set;
	bool failed;       /* a worker died or hung on it */
	unsigned int gen;  /* worker generation it was opened in; 0: none */
};

struct symbol_worker {
	pid_t pid;         /* -1: not running */
	int sock;
	unsigned int gen;
	int exe_fd;
	char **envp;       /* the worker's environment, made before fork */
	char *cache_dir;   /* debuginfod cache we made for it, or NULL */
	struct wmod *mods;
	size_t nr_mods;
	struct symbol_worker_stats stats;
	bool given_up;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* debuginfod caches in $HOME by default, which nobody cannot write: give
 * the worker a cache of its own when it may download. */
static int make_env(struct symbol_worker *w)
{
	extern char **environ;
	size_t n = 0, i;

	while (environ[n])
		n++;
	w->envp = calloc(n + 2, sizeof(*w->envp));
	if (!w->envp)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		w->envp[i] = environ[i];
	if (getenv("DEBUGINFOD_URLS") && !getenv("DEBUGINFOD_CACHE_PATH")) {
		char dir[] = "/tmp/leakwatch-debuginfod-XXXXXX";

		if (mkdtemp(dir) && chown(dir, WORKER_UID, WORKER_GID) == 0 &&
		    asprintf(&w->envp[i], "DEBUGINFOD_CACHE_PATH=%s", dir) > 0)
			w->cache_dir = strdup(dir);
	}
	return 0;
}

struct symbol_worker *symbol_worker__new(void)
{
	struct symbol_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->pid = -1;
	w->sock = -1;
	/* opened now, while the path still names our binary */
	w->exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (w->exe_fd < 0 || make_env(w)) {
		symbol_worker__free(w);
		return NULL;
	}
	return w;
}

static void stop(struct symbol_worker *w)
{
	if (w->sock >= 0)
		close(w->sock);
	w->sock = -1;
	if (w->pid > 0) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
	}
	w->pid = -1;
}

void symbol_worker__free(struct symbol_worker *w)
{
	if (!w)
		return;
	stop(w);
	for (size_t i = 0; i < w->nr_mods; i++) {
		if (w->mods[i].fd >= 0)
			close(w->mods[i].fd);
		if (w->mods[i].debug_fd >= 0)
			close(w->mods[i].debug_fd);
		free(w->mods[i].path);
	}
	free(w->mods);
	if (w->cache_dir) {
		nftw(w->cache_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(w->cache_dir);
	}
	if (w->envp) {
		for (size_t i = 0; w->envp[i]; i++)
			if (!strncmp(w->envp[i], "DEBUGINFOD_CACHE_PATH=", 22) && w->cache_dir)
				free(w->envp[i]);
		free(w->envp);
	}
	if (w->exe_fd >= 0)
		close(w->exe_fd);
	free(w);
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void exec_worker(struct symbol_worker *w, int sock)
{
	char *argv[] = { "leakwatch-symbolizer", SYMBOL_WORKER_ARG, NULL };
	struct rlimit no_core = {};
	int null = open("/dev/null", O_RDWR);

	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		_exit(127);
	/* dup2 onto itself would keep close-on-exec: go through a spare */
	if (dup2(sock, 10) < 0 || dup2(w->exe_fd, 11) < 0 || dup2(10, WORKER_SOCK_FD) < 0 ||
	    dup2(11, WORKER_EXE_FD) < 0)
		_exit(127);
	syscall(SYS_close_range, WORKER_EXE_FD + 1, ~0U, 0);
	setrlimit(RLIMIT_CORE, &no_core);
	/* raw system calls: per thread, which in this child is the process */
	if (syscall(SYS_setgroups, 0, NULL) || syscall(SYS_setresgid, WORKER_GID, WORKER_GID, WORKER_GID) ||
	    syscall(SYS_setresuid, WORKER_UID, WORKER_UID, WORKER_UID))
		_exit(126);
	/* after the uid change, which clears it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	fexecve(WORKER_EXE_FD, argv, w->envp);
	_exit(127);
}

static int spawn(struct symbol_worker *w)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0)
		exec_worker(w, sv[1]);
	close(sv[1]);
	w->sock = sv[0];
	w->pid = pid;
	w->gen++;
	return 0;
}

/* The worker is gone: count it, and give up after too many. */
static void count_failure(struct symbol_worker *w, bool timeout)
{
	stop(w);
	if (timeout)
		w->stats.timeouts++;
	else
		w->stats.crashes++;
	if (!w->given_up && w->stats.crashes + w->stats.timeouts >= MAX_FAILURES) {
		w->given_up = true;
		lw_say("the symbolizer failed %u times; frames are shown as module+offset from here",
		       w->stats.crashes + w->stats.timeouts);
	}
}

/* The worker died or hung serving module id: give the module up. */
static int failed(struct symbol_worker *w, uint32_t id, bool timeout)
{
	count_failure(w, timeout);
	if (id < w->nr_mods && !w->mods[id].failed) {
		w->mods[id].failed = true;
		w->stats.modules_failed++;
	}
	return timeout ? -ETIMEDOUT : -EPIPE;
}

/* Whether the worker died between requests (killed from outside, out of
 * memory): its socket has hung up. */
static bool died_idle(struct symbol_worker *w)
{
	struct pollfd pfd = { .fd = w->sock, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLIN));
}

/* One request and its reply. */
static int call(struct symbol_worker *w, const struct request *req, size_t len, int fd,
		struct reply *reply, size_t *got)
{
	char control[CMSG_SPACE(sizeof(int))] = {};
	struct iovec iov = { (void *)req, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd pfd = { .fd = w->sock, .events = POLLIN };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(w->sock, &msg, MSG_NOSIGNAL) < 0)
		return failed(w, req->id, false);
	do
		n = poll(&pfd, 1, REQUEST_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return failed(w, req->id, true);
	do
		n = recv(w->sock, reply, MSG_MAX, 0);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)sizeof(*reply))
		return failed(w, req->id, false);
	*got = n;
	return reply->status;
}

static int send_open(struct symbol_worker *w, uint32_t id, struct reply *reply, size_t *got)
{
	struct wmod *m = &w->mods[id];
	size_t plen = strlen(m->path) + 1;
	struct request *req = malloc(sizeof(*req) + plen);
	int err;

	if (!req)
		return -ENOMEM;
	*req = (struct request){ .op = OP_OPEN, .id = id };
	memcpy(req->path, m->path, plen);
	err = call(w, req, sizeof(*req) + plen, m->fd, reply, got);
	free(req);
	return err;
}

static int send_debug(struct symbol_worker *w, uint32_t id, struct reply *reply, size_t *got)
{
	struct request req = { .op = OP_DEBUG, .id = id };

	return call(w, &req, sizeof(req), w->mods[id].debug_fd, reply, got);
}

/* A live worker: a new one if it died since the last request. */
static int running(struct symbol_worker *w)
{
	if (w->given_up)
		return -ECHILD;
	/* not the fault of the module asked for next */
	if (w->pid > 0 && died_idle(w))
		count_failure(w, false);
	if (w->given_up)
		return -ECHILD;
	return w->pid < 0 ? spawn(w) : 0;
}

/* A worker that has module id open, started and brought up to date as
 * needed. */
static int ready(struct symbol_worker *w, uint32_t id, struct reply *reply)
{
	struct wmod *m = &w->mods[id];
	size_t got;
	int err;

	if (m->failed)
		return -ECHILD;
	if ((err = running(w)))
		return err;
	if (m->gen == w->gen)
		return 0;
	err = send_open(w, id, reply, &got);
	if (!err && m->debug_set)
		err = send_debug(w, id, reply, &got);
	if (!err)
		m->gen = w->gen;
	return err;
}

int symbol_worker__open(struct symbol_worker *w, uint32_t id, int fd, const char *path,
			char build_id[41], char *debuglink, size_t debuglink_len)
{
	struct reply *reply;
	struct wmod *m;
	size_t got;
	int err;

	build_id[0] = 0;
	if (debuglink_len)
		debuglink[0] = 0;
	if (id >= w->nr_mods) {
		struct wmod *grown = realloc(w->mods, (id + 1) * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		for (size_t i = w->nr_mods; i <= id; i++)
			grown[i] = (struct wmod){ .fd = -1, .debug_fd = -1 };
		w->mods = grown;
		w->nr_mods = id + 1;
	}
	m = &w->mods[id];
	if (m->path)
		return -EEXIST;
	m->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	m->path = strdup(path);
	if (m->fd < 0 || !m->path) {
		m->failed = true;
		return -ENOMEM;
	}
	reply = malloc(MSG_MAX);
	if (!reply)
		return -ENOMEM;
	err = running(w);
	if (!err)
		err = send_open(w, id, reply, &got);
	if (!err) {
		m->gen = w->gen;
		/* build-id[41], then the debuglink name */
		if (got >= sizeof(*reply) + 41) {
			memcpy(build_id, reply->data, 41);
			build_id[40] = 0;
			if (debuglink_len && got > sizeof(*reply) + 41)
				snprintf(debuglink, debuglink_len, "%.*s",
					 (int)(got - sizeof(*reply) - 41), reply->data + 41);
		}
	} else if (err != -ETIMEDOUT && err != -EPIPE && !m->failed) {
		/* not an object libdw can read: nothing to ask again */
		m->failed = true;
	}
	free(reply);
	return err;
}

int symbol_worker__set_debug(struct symbol_worker *w, uint32_t id, int fd, bool *stripped)
{
	struct reply *reply;
	struct wmod *m;
	size_t got;
	int err;

	*stripped = false;
	if (id >= w->nr_mods || !w->mods[id].path)
		return -ENOENT;
	m = &w->mods[id];
	if (fd >= 0 && m->debug_fd < 0)
		m->debug_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	m->debug_set = true;
	reply = malloc(MSG_MAX);
	if (!reply)
		return -ENOMEM;
	err = ready(w, id, reply);
	/* ready() sent it already when it (re)opened the module */
	if (!err)
		err = send_debug(w, id, reply, &got);
	if (!err)
		*stripped = got > sizeof(*reply) && reply->data[0];
	free(reply);
	return err;
}

/* A chain from a reply; NULL when empty or malformed. */
static struct lw_sym *decode(const struct reply *reply, size_t got)
{
	const char *p = reply->data, *end = (const char *)reply + got;
	struct lw_sym *head = NULL, **tail = &head;

	for (uint32_t i = 0; i < reply->n; i++) {
		struct wire_sym ws;
		struct lw_sym *sym;
		const char *fn, *file;

		if (end - p < (ptrdiff_t)sizeof(ws))
			break;
		memcpy(&ws, p, sizeof(ws));
		fn = p + sizeof(ws);
		file = memchr(fn, 0, end - fn);
		if (!file++ || !memchr(file, 0, end - file))
			break;
		p = file + strlen(file) + 1;
		sym = calloc(1, sizeof(*sym));
		if (!sym)
			break;
		sym->offset = ws.offset;
		sym->line = ws.line;
		sym->stripped = ws.flags & WS_STRIPPED;
		sym->function = ws.flags & WS_FUNCTION ? strdup(fn) : NULL;
		sym->file = ws.flags & WS_FILE ? strdup(file) : NULL;
		*tail = sym;
		tail = (struct lw_sym **)&sym->caller;
	}
	return head;
}

int symbol_worker__lookup(struct symbol_worker *w, uint32_t id, uint64_t off, struct lw_sym **out)
{
	struct request req = { .op = OP_LOOKUP, .id = id, .off = off };
	struct reply *reply;
	size_t got;
	int err;

	*out = NULL;
	if (id >= w->nr_mods || !w->mods[id].path)
		return -ENOENT;
	reply = malloc(MSG_MAX);
	if (!reply)
		return -ENOMEM;
	err = ready(w, id, reply);
	if (!err)
		err = call(w, &req, sizeof(req), -1, reply, &got);
	if (!err)
		*out = decode(reply, got);
	free(reply);
	return err;
}

int symbol_worker__cfi(struct symbol_worker *w, uint32_t id, struct cfi_table *out)
{
	struct request req = { .op = OP_CFI, .id = id };
	struct reply *reply;
	struct wire_cfi head;
	size_t got, n, total = 0;
	int err;

	memset(out, 0, sizeof(*out));
	if (id >= w->nr_mods || !w->mods[id].path)
		return -ENOENT;
	reply = malloc(MSG_MAX);
	if (!reply)
		return -ENOMEM;
	/* as many requests as the table takes messages */
	do {
		err = ready(w, id, reply);
		if (!err)
			err = call(w, &req, sizeof(req), -1, reply, &got);
		if (err)
			break;
		n = reply->n;
		if (got < sizeof(*reply) + sizeof(head) ||
		    got != sizeof(*reply) + sizeof(head) + n * sizeof(struct lw_cfi_row)) {
			err = -EPROTO;
			break;
		}
		memcpy(&head, reply->data, sizeof(head));
		/* the worker parses hostile files: trust no size it sends,
		 * and the table's length is the first message's */
		if (head.nr > (1U << 26) || req.off + n > head.nr || (!n && req.off < head.nr) ||
		    (out->rows && head.nr != total)) {
			err = -EPROTO;
			break;
		}
		if (!out->rows) {
			out->rows = malloc((head.nr ? head.nr : 1) * sizeof(*out->rows));
			if (!out->rows) {
				err = -ENOMEM;
				break;
			}
			total = head.nr;
			out->text_bytes = head.text_bytes;
			out->cfi_bytes = head.cfi_bytes;
			out->has_fp = head.has_fp;
		}
		memcpy(out->rows + req.off, reply->data + sizeof(head), n * sizeof(*out->rows));
		req.off += n;
		out->nr = req.off;
	} while (req.off < head.nr);
	free(reply);
	if (err)
		cfi_table__free(out);
	return err;
}

int symbol_worker__unwind(struct symbol_worker *w, const struct oracle_map *maps, size_t nr_maps,
			  const uint64_t *regs, const uint8_t *stack, size_t len, uint64_t *pcs,
			  int max)
{
	size_t size = sizeof(struct request) + sizeof(struct wire_unwind) + nr_maps * sizeof(*maps) + len;
	struct request *req;
	struct wire_unwind wu = { .nr_maps = nr_maps, .stack_len = len };
	struct reply *reply;
	size_t got;
	int err = 0, n;

	if (size > MSG_MAX - 1)
		return -E2BIG;
	req = malloc(size);
	reply = malloc(MSG_MAX);
	if (!req || !reply) {
		free(req);
		free(reply);
		return -ENOMEM;
	}
	/* every module the maps name open in the worker */
	for (size_t i = 0; i < nr_maps && !err; i++)
		if (maps[i].module < w->nr_mods && w->mods[maps[i].module].path &&
		    !w->mods[maps[i].module].failed)
			ready(w, maps[i].module, reply);
	if ((err = running(w)))
		goto out;
	/* no module's request: a failure here gives none up */
	*req = (struct request){ .op = OP_UNWIND, .id = UINT32_MAX };
	memcpy(wu.regs, regs, sizeof(wu.regs));
	memcpy(req->path, &wu, sizeof(wu));
	memcpy(req->path + sizeof(wu), maps, nr_maps * sizeof(*maps));
	memcpy(req->path + sizeof(wu) + nr_maps * sizeof(*maps), stack, len);
	err = call(w, req, size, -1, reply, &got);
	if (err)
		goto out;
	if (reply->n > (uint32_t)max || got != sizeof(*reply) + reply->n * sizeof(uint64_t)) {
		err = -EPROTO;
		goto out;
	}
	n = reply->n;
	memcpy(pcs, reply->data, n * sizeof(uint64_t));
	err = n;
out:
	free(req);
	free(reply);
	return err;
}

void symbol_worker__stats(const struct symbol_worker *w, struct symbol_worker_stats *out)
{
	*out = w->stats;
}

int symbol_worker__pid(const struct symbol_worker *w)
{
	return w->pid;
}

/* The worker's side. */
