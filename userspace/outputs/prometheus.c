// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * --prometheus: libmicrohttpd serves /metrics from its own thread. The
 * report thread renders the whole text after each report and swaps it in
 * under a mutex; a scrape copies what is there, so a scrape never waits
 * for a report and never sees half of one.
 */
#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common/exitcodes.h"
#include "outputs/exporter.h"
#include "common/messages.h"
#include "outputs/prometheus.h"

#define CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"
/* Scrapers are few; a stuck client must not hold a slot for long. */
#define MAX_CONNECTIONS 32
#define CONNECTION_TIMEOUT_S 10

struct page {
	char *text;
	size_t len;
};

struct prom {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;      /* guards the pages */
	struct page text;          /* 0.0.4 */
	struct page openmetrics;
	/* the report thread's own */
	struct prom_labels *labels;
	uint64_t reports;
	bool said_render;
};

static const char *version(void)
{
	/* argp_program_version is "leakwatch X.Y" */
	const char *v = argp_program_version ? strchr(argp_program_version, ' ') : NULL;

	return v ? v + 1 : "unknown";
}

/* Renders r into a new page: 0 or -errno. */
static int render(struct prom *p, const struct report *r, bool openmetrics, struct page *out)
{
	struct prom_render_opts opts = {
		.openmetrics = openmetrics,
		.version = version(),
		.reports = p->reports,
	};
	FILE *f = open_memstream(&out->text, &out->len);
	int err;

	if (!f)
		return -errno;
	err = prom_render(f, r, p->labels, &opts);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (err) {
		free(out->text);
		out->text = NULL;
	}
	return err;
}

/* Renders both formats and swaps them in; the old pages stay on failure. */
static void publish(struct prom *p, const struct report *r)
{
	struct page text = {}, om = {}, old_text, old_om;
	int err;

	err = render(p, r, false, &text);
	if (!err)
		err = render(p, r, true, &om);
	if (err) {
		if (!p->said_render)
			lw_say("--prometheus: cannot render the metrics (%s); serving the previous ones",
			       strerror(-err));
		p->said_render = true;
		free(text.text);
		return;
	}
	pthread_mutex_lock(&p->lock);
	old_text = p->text;
	old_om = p->openmetrics;
	p->text = text;
	p->openmetrics = om;
	pthread_mutex_unlock(&p->lock);
	free(old_text.text);
	free(old_om.text);
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *body,
			     size_t len, const char *type)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Whether the scraper lists OpenMetrics among the formats it accepts
 * (Prometheus does, first; curl and browsers do not). */
static bool wants_openmetrics(struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_ACCEPT);

	return accept && strstr(accept, "application/openmetrics-text");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *http_version,
				  const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	static const char not_found[] = "not found: the metrics are at /metrics\n";
	static const char not_allowed[] = "only GET and HEAD\n";
	struct prom *p = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	bool om;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, sizeof(not_allowed) - 1,
			     "text/plain; charset=utf-8");
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1,
			     "text/plain; charset=utf-8");
	om = wants_openmetrics(c);
	pthread_mutex_lock(&p->lock);
	resp = om ? MHD_create_response_from_buffer(p->openmetrics.len, p->openmetrics.text,
						      MHD_RESPMEM_MUST_COPY) :
		    MHD_create_response_from_buffer(p->text.len, p->text.text, MHD_RESPMEM_MUST_COPY);
	pthread_mutex_unlock(&p->lock);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				om ? CONTENT_TYPE_OPENMETRICS : CONTENT_TYPE_TEXT);
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static bool prom_wanted(const struct output_opts *opts)
{
	return opts->prometheus;
}

/* A listening socket on opts->prometheus: the fd, or -(exit code) after one line. */
static int listen_on(const char *where, int *family)
{
	struct sockaddr_storage addr;
	socklen_t len;
	int fd, one = 1, err;

	if (prom_parse_listen(where, &addr, &len)) {
		/* cli.c checked it already */
		lw_say("bad --prometheus address '%s'", where);
		return -LW_EXIT_USAGE;
	}
	*family = addr.ss_family;
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		lw_say("--prometheus %s: cannot create a socket: %s", where, strerror(errno));
		return -LW_EXIT_FAILURE;
	}
	/* a restart must not wait for the last run's connections in TIME_WAIT */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, len) || listen(fd, MAX_CONNECTIONS)) {
		err = errno;
		close(fd);
		if (err == EADDRNOTAVAIL) {
			lw_say("--prometheus %s: no such address on this host (%s); give one of its "
			       "addresses, or 0.0.0.0 for all", where, strerror(err));
			return -LW_EXIT_USAGE;
		}
		lw_say("--prometheus %s: cannot listen there: %s%s", where, strerror(err),
		       err == EADDRINUSE ? "; choose another port" : "");
		return -LW_EXIT_FAILURE;
	}
	return fd;
}

static void prom_close(void *state)
{
	struct prom *p = state;

	if (!p)
		return;
	if (p->daemon)
		MHD_stop_daemon(p->daemon); /* joins its thread, closes the socket */
	pthread_mutex_destroy(&p->lock);
	prom_labels__free(p->labels);
	free(p->text.text);
	free(p->openmetrics.text);
	free(p);
}

static int prom_open(void **state, const struct output_opts *opts)
{
	struct prom *p = calloc(1, sizeof(*p));
	sigset_t all, old;
	int fd, family;

	*state = NULL;
	if (!p || !(p->labels = prom_labels__new())) {
		free(p);
		lw_say("out of memory");
		return LW_EXIT_FAILURE;
	}
	pthread_mutex_init(&p->lock, NULL);
	publish(p, NULL);
	fd = listen_on(opts->prometheus, &family);
	if (fd < 0) {
		prom_close(p);
		return -fd;
	}
	/* signals are for the report loop: the server's thread blocks them all */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
				     (family == AF_INET6 ? MHD_USE_IPv6 : 0),
				     0, NULL, NULL, on_request, p,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
				     MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!p->daemon) {
		close(fd);
		prom_close(p);
		lw_say("--prometheus %s: cannot start the HTTP server (libmicrohttpd)", opts->prometheus);
		return LW_EXIT_FAILURE;
	}
	*state = p;
	return 0;
}

static void prom_report(void *state, const struct report *r)
{
	struct prom *p = state;

	p->reports++;
	publish(p, r);
}

const struct exporter prometheus_exporter = {
	.name = "prometheus",
	.wanted = prom_wanted,
	.open = prom_open,
	.report = prom_report,
	.close = prom_close,
};
