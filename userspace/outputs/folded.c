// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include "outputs/atomic_file.h"
#include "outputs/folded.h"

/* ';' separates frames and a newline ends the line: neither may be in one. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if (*s == ';' || (unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '_';
}

void folded__frame(char *buf, size_t len, const struct lw_frame *f)
{
	if (f->sym && f->sym->function) {
		snprintf(buf, len, "%s", f->sym->function);
	} else if (f->module) {
		const char *base = strrchr(f->module->path, '/');

		snprintf(buf, len, "%s+0x%" PRIx64, base ? base + 1 : f->module->path,
			 f->module_offset);
	} else {
		snprintf(buf, len, "%s", f->mapped_exec ? "[jit]" : "[unknown]");
	}
	sanitize(buf);
}

void folded__line(FILE *f, const struct lw_site *s, const char *comm)
{
	char text[512];

	if (comm) {
		snprintf(text, sizeof(text), "%s-%d", comm, (int)s->pid);
		sanitize(text);
	} else {
		snprintf(text, sizeof(text), "%d", (int)s->pid);
	}
	fputs(text, f);
	/* frames are kept innermost first; the format wants the root first */
	for (int i = s->nr_frames - 1; i >= 0; i--) {
		folded__frame(text, sizeof(text), &s->frames[i]);
		fputc(';', f);
		fputs(text, f);
	}
	fprintf(f, " %" PRId64 "\n", s->bytes);
}

int folded__write(FILE *f, const struct report *r)
{
	errno = 0;
	for (int i = 0; i < r->nr_all_stacks; i++) {
		const struct lw_site *s = r->all_stacks[i];
		const char *comm = NULL;

		for (int p = 0; p < r->nr_procs; p++)
			if (r->procs[p].pid == s->pid)
				comm = r->procs[p].comm;
		folded__line(f, s, comm);
	}
	/* a failed write (ENOSPC) left its errno */
	return ferror(f) ? (errno ? -errno : -EIO) : 0;
}

static bool wanted(const struct output_opts *opts)
{
	return opts->folded_path;
}

static int open_folded(void **state, const struct output_opts *opts)
{
	return export_file__open(state, sizeof(struct export_file), opts->folded_path, "--folded");
}

static void report(void *state, const struct report *r)
{
	export_file__write(state, r, folded__write, true);
}

const struct exporter folded_exporter = {
	.name = "folded",
	.wanted = wanted,
	.open = open_folded,
	.report = report,
	.close = export_file__close,
};
