// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdlib.h>
#include "common/exitcodes.h"
#include "outputs/exports.h"
#include "outputs/folded.h"
#include "outputs/html.h"
#include "common/messages.h"
#include "outputs/pprof.h"
#include "outputs/prometheus.h"
#include "outputs/summary_files.h"

/* Each exporter's file defines its struct exporter; list it here. */
static const struct exporter *const exporters[] = {
	&html_exporter,
	&prometheus_exporter,
	&pprof_exporter,
	&folded_exporter,
	&summary_files_exporter,
	NULL,
};

#define NR_EXPORTERS (sizeof(exporters) / sizeof(exporters[0]))

struct exports {
	const struct exporter *on[NR_EXPORTERS];
	void *state[NR_EXPORTERS];
	int nr;
};

int exports__open(struct exports **out, const struct output_opts *opts)
{
	struct exports *x = calloc(1, sizeof(*x));

	*out = x;
	if (!x) {
		lw_say("out of memory");
		return LW_EXIT_FAILURE;
	}
	for (size_t i = 0; i < NR_EXPORTERS; i++) {
		const struct exporter *e = exporters[i];
		int err;

		if (!e || !e->wanted(opts))
			continue;
		err = e->open(&x->state[x->nr], opts);
		if (err)
			return err;
		x->on[x->nr++] = e;
	}
	return 0;
}

void exports__report(struct exports *x, const struct report *r)
{
	for (int i = 0; x && i < x->nr; i++)
		x->on[i]->report(x->state[i], r);
}

void exports__close(struct exports *x)
{
	for (int i = 0; x && i < x->nr; i++)
		x->on[i]->close(x->state[i]);
	free(x);
}
