/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The HTML report (--html FILE): one page holding its styles, its script
 * and the report's data, readable without network. The styles and the
 * script are tools/html/report.css and report.js, built into leakwatch as
 * byte arrays by tools/html/embed.py (generated into the build directory).
 */
#ifndef LW_HTML_H
#define LW_HTML_H

#include <stddef.h>

extern const unsigned char lw_html_report_css[];
extern const size_t lw_html_report_css_len;
extern const unsigned char lw_html_report_js[];
extern const size_t lw_html_report_js_len;

struct exporter;
extern const struct exporter html_exporter;

#endif
