// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "symbols/cfi.h"
#include "symbols/dwarf_lookup.h"
#include "leakwatch.h"
#include "symbols/oracle.h"
#include "symbols/symbol_worker.h"
#include "symbols/worker_wire.h"
#include "symbols/sym.h"

/* The worker's side: it serves one request at a time on its socket
 * (symbol_worker__serve, run when leakwatch is started as the worker). */

struct served {
	struct dwarf_module **mods;
	struct cfi_table *cfi;  /* per module, built at its first OP_CFI */
	int *cfi_err;           /* 0: not built yet; 1: built; else -errno */
	size_t nr;
};

static size_t put_name(char *to, size_t room, const char *s)
{
	size_t n = s ? strnlen(s, NAME_MAX_LEN) : 0;

	if (n + 1 > room)
		n = room ? room - 1 : 0;
	if (room) {
		memcpy(to, s ? s : "", n);
		to[n] = 0;
	}
	return n + 1;
}

static size_t encode(struct reply *reply, const struct lw_sym *sym)
{
	char *p = reply->data, *end = (char *)reply + MSG_MAX;

	for (; sym; sym = sym->caller) {
		struct wire_sym ws = { .offset = sym->offset, .line = sym->line };

		/* room for the header and two names of any length, cut */
		if (end - p < (ptrdiff_t)(sizeof(ws) + 2 * (NAME_MAX_LEN + 1)))
			break;
		ws.flags = (sym->function ? WS_FUNCTION : 0) | (sym->file ? WS_FILE : 0) |
			   (sym->stripped ? WS_STRIPPED : 0);
		memcpy(p, &ws, sizeof(ws));
		p += sizeof(ws);
		p += put_name(p, end - p, sym->function);
		p += put_name(p, end - p, sym->file);
		reply->n++;
	}
	return p - (char *)reply;
}

static int grow_cfi(struct served *sv, size_t nr)
{
	struct cfi_table *t = realloc(sv->cfi, nr * sizeof(*t));
	int *e;

	if (!t)
		return -ENOMEM;
	sv->cfi = t;
	e = realloc(sv->cfi_err, nr * sizeof(*e));
	if (!e)
		return -ENOMEM;
	sv->cfi_err = e;
	memset(t + sv->nr, 0, (nr - sv->nr) * sizeof(*t));
	memset(e + sv->nr, 0, (nr - sv->nr) * sizeof(*e));
	return 0;
}

static size_t serve_one(struct served *sv, const struct request *req, size_t len, int fd,
			struct reply *reply)
{
	struct dwarf_module *m = req->id < sv->nr ? sv->mods[req->id] : NULL;
	size_t out = sizeof(*reply);

	reply->status = 0;
	reply->n = 0;
	switch (req->op) {
	case OP_OPEN: {
		const char *debuglink;

		if (req->id >= 1 << 20 || fd < 0 || len <= sizeof(*req) ||
		    ((const char *)req)[len - 1]) {
			reply->status = -EINVAL;
			break;
		}
		if (req->id >= sv->nr) {
			struct dwarf_module **grown = realloc(sv->mods, (req->id + 1) * sizeof(*grown));

			if (!grown) {
				reply->status = -ENOMEM;
				break;
			}
			memset(grown + sv->nr, 0, (req->id + 1 - sv->nr) * sizeof(*grown));
			sv->mods = grown;
			if (grow_cfi(sv, req->id + 1)) {
				reply->status = -ENOMEM;
				break;
			}
			sv->nr = req->id + 1;
		}
		dwarf_module__free(sv->mods[req->id]);
		cfi_table__free(&sv->cfi[req->id]);
		sv->cfi_err[req->id] = 0;
		m = sv->mods[req->id] = dwarf_module__open(fd, req->path);
		fd = -1;
		if (!m) {
			reply->status = -ENOEXEC;
			break;
		}
		dwarf_module__build_id(m, reply->data);
		debuglink = dwarf_module__debuglink(m);
		out += 41 + put_name(reply->data + 41, MSG_MAX - out - 41, debuglink);
		break;
	}
	case OP_DEBUG:
		if (!m) {
			reply->status = -ENOENT;
			break;
		}
		if (fd >= 0)
			dwarf_module__set_debug_fd(m, fd);
		fd = -1;
		reply->data[0] = dwarf_module__stripped(m);
		out++;
		break;
	case OP_LOOKUP: {
		struct lw_sym *sym;

		if (!m) {
			reply->status = -ENOENT;
			break;
		}
		sym = dwarf_module__lookup(m, req->off);
		out = encode(reply, sym);
		lw_sym__free(sym);
		break;
	}
	case OP_CFI: {
		struct cfi_table *t = req->id < sv->nr ? &sv->cfi[req->id] : NULL;
		struct wire_cfi head = {};
		size_t room = (MSG_MAX - sizeof(*reply) - sizeof(head)) / sizeof(struct lw_cfi_row);
		size_t n;

		if (!m) {
			reply->status = -ENOENT;
			break;
		}
		if (!sv->cfi_err[req->id]) {
			int err = dwarf_module__cfi(m, t);

			sv->cfi_err[req->id] = err ? err : 1;
		}
		if (sv->cfi_err[req->id] < 0) {
			reply->status = sv->cfi_err[req->id];
			break;
		}
		head.nr = t->nr;
		head.text_bytes = t->text_bytes;
		head.cfi_bytes = t->cfi_bytes;
		head.has_fp = t->has_fp;
		n = req->off < t->nr ? t->nr - req->off : 0;
		if (n > room)
			n = room;
		memcpy(reply->data, &head, sizeof(head));
		if (n)
			memcpy(reply->data + sizeof(head), t->rows + req->off, n * sizeof(*t->rows));
		reply->n = n;
		out += sizeof(head) + n * sizeof(*t->rows);
		break;
	}
	case OP_UNWIND: {
		const char *p = req->path;
		struct wire_unwind wu;
		size_t body = len - sizeof(*req);
		int n;

		if (body < sizeof(wu)) {
			reply->status = -EINVAL;
			break;
		}
		memcpy(&wu, p, sizeof(wu));
		if (wu.nr_maps > 4096 || wu.stack_len > body ||
		    body - sizeof(wu) != wu.nr_maps * sizeof(struct oracle_map) + wu.stack_len) {
			reply->status = -EINVAL;
			break;
		}
		{
			struct oracle_map *maps = malloc(wu.nr_maps * sizeof(*maps) + 1);
			uint64_t pcs[LW_MAX_STACK_DEPTH];

			if (!maps) {
				reply->status = -ENOMEM;
				break;
			}
			memcpy(maps, p + sizeof(wu), wu.nr_maps * sizeof(*maps));
			n = oracle_unwind(sv->mods, sv->nr, maps, wu.nr_maps, wu.regs,
					  (const uint8_t *)p + sizeof(wu) + wu.nr_maps * sizeof(*maps),
					  wu.stack_len, pcs, LW_MAX_STACK_DEPTH);
			free(maps);
			if (n < 0) {
				reply->status = n;
				break;
			}
			memcpy(reply->data, pcs, n * sizeof(*pcs));
			reply->n = n;
			out += n * sizeof(*pcs);
		}
		break;
	}
	default:
		reply->status = -EINVAL;
	}
	if (fd >= 0)
		close(fd);
	return out;
}

int symbol_worker__serve(int sock)
{
	struct served sv = {};
	struct request *req = malloc(MSG_MAX);
	struct reply *reply = malloc(MSG_MAX);

	if (!req || !reply)
		return 1;
	for (;;) {
		char control[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { req, MSG_MAX - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				      .msg_controllen = sizeof(control) };
		struct cmsghdr *c;
		int fd = -1;
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		size_t out;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* leakwatch is gone */
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
			    c->cmsg_len == CMSG_LEN(sizeof(int)))
				memcpy(&fd, CMSG_DATA(c), sizeof(int));
		if (n < (ssize_t)sizeof(*req)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		out = serve_one(&sv, req, n, fd, reply);
		if (send(sock, reply, out, MSG_NOSIGNAL) < 0)
			break;
	}
	for (size_t i = 0; i < sv.nr; i++) {
		dwarf_module__free(sv.mods[i]);
		cfi_table__free(&sv.cfi[i]);
	}
	free(sv.mods);
	free(sv.cfi);
	free(sv.cfi_err);
	free(req);
	free(reply);
	return 0;
}
