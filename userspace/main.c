// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* leakwatch: attach, then poll the kernel's aggregates every interval and
 * report, until stopped, COUNT reports, or the last target exits. The
 * stages are wired together in session.c; this is the loop. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "common/messages.h"
#include "diff/diff.h"
#include "kernel/preflight.h"
#include "kernel/tracer.h"
#include "session.h"
#include "symbols/symbol_worker.h"
#include "targets/targets.h"

/* How often the loop looks at signals and targets between reports. */
#define TICK_S 0.1

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int run(struct session *s)
{
	long reports = 0;
	int err;

	s->start_s = session__now();
	session__banner(s);
	for (;;) {
		double due = s->start_s + (reports + 1) * s->env.interval_s;
		bool alive = true;

		while (!stop_signal && (alive = watchlist__poll(&s->watch))) {
			double left = due - session__now();

			if (left <= 0)
				break;
			if (left > TICK_S)
				left = TICK_S;
			/* a fork wakes it at once: the child waits, stopped */
			tracer__wait_events(s->tracer, (int)(left * 1000) + 1, watchlist__on_event,
					    &s->watch);
		}
		if (stop_signal || !alive)
			break;
		err = session__report(s, false);
		if (err)
			return err;
		if (++reports == s->env.count)
			break;
	}
	return session__report(s, true);
}

int main(int argc, char **argv)
{
	struct session s = { .guardian = { .fd = -1 } };
	/* SA_RESTART: a signal during a blocked write must not fail the write */
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	double t0;
	int err;

	/* leakwatch's own symbolizer process, started by symbol_worker.c */
	if (argc == 2 && !strcmp(argv[1], SYMBOL_WORKER_ARG))
		return symbol_worker__serve(3);
	/* reads files only: no privilege, no BPF */
	if (argc >= 2 && !strcmp(argv[1], DIFF_COMMAND))
		return diff__main(argc - 1, argv + 1);
	env__parse(&s.env, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	err = preflight__privilege();
	if (!err)
		err = targets__preflight(s.env.pids, s.env.nr_pids, s.env.command);
	if (err)
		return err;
	kernel__probe(&s.kernel);
	for (int f = 0; f < KF_NR; f++)
		if (s.env.kernel_without & (1u << f))
			s.kernel.has[f] = false;
	if (s.env.check)
		return preflight__check(&s.kernel, s.env.max_allocs, s.env.max_stacks,
					s.env.verify_every, s.env.refuse_part);
	err = session__open_outputs(&s);
	if (err)
		return err;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	t0 = session__now();
	err = session__attach(&s);
	if (s.env.verbose && !err)
		lw_say("attached in %.1f ms (BPF load included)", (session__now() - t0) * 1e3);
	if (!err)
		err = run(&s);
	session__close(&s);
	return err;
}
