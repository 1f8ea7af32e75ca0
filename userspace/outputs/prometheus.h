/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * --prometheus [ADDR:]PORT: the last report as Prometheus text exposition
 * (version 0.0.4), or OpenMetrics 1.0 when the scraper asks for it, on
 * /metrics. prometheus.c is the HTTP side (libmicrohttpd, its own thread);
 * prometheus_text.h is the pure part.
 */
#ifndef LW_PROMETHEUS_H
#define LW_PROMETHEUS_H

#include "outputs/exporter.h"
#include "outputs/prometheus_text.h"

extern const struct exporter prometheus_exporter;

#endif
