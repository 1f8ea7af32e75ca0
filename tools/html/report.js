/*
 * leakwatch's HTML report: draws the page from the JSON object in
 * <script id="leakwatch-data"> (written by userspace/outputs/html.c). No library,
 * no network: SVG built by hand.
 *
 * When done, <html> carries what was drawn, for people debugging the page
 * and for the tests: data-chart-stacks and data-chart-totals (lines in
 * each chart), data-flame-boxes, data-table-rows, then data-rendered="ok".
 */
(function () {
	"use strict";

	var SVG = "http://www.w3.org/2000/svg";
	var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
		"#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
	var root = document.documentElement;

	function el(tag, attrs, text) {
		var e = document.createElement(tag);
		for (var k in attrs || {})
			e.setAttribute(k, attrs[k]);
		if (text !== undefined && text !== null)
			e.textContent = text;
		return e;
	}

	function svg(tag, attrs, text) {
		var e = document.createElementNS(SVG, tag);
		for (var k in attrs || {})
			e.setAttribute(k, attrs[k]);
		if (text !== undefined && text !== null)
			e.textContent = text;
		return e;
	}

	/* As the text report writes them: 512 B, 3.4 KiB, 120 MiB. */
	function human(v) {
		var units = ["B", "KiB", "MiB", "GiB", "TiB"];
		var d = Math.abs(v), u = 0;

		while (d >= 1024 && u < 4) {
			d /= 1024;
			u++;
		}
		var sign = v < 0 ? "-" : "";
		if (u === 0)
			return sign + Math.round(d) + " B";
		return sign + (d >= 100 ? d.toFixed(0) : d.toFixed(1)) + " " + units[u];
	}

	/* 42s, 12m05, 3h07, 2d04; "-" unknown (as the text report). */
	function duration(s) {
		if (s === null || s === undefined || s < 0)
			return "-";
		var t = Math.floor(s);
		function two(n) { return (n < 10 ? "0" : "") + n; }
		if (t < 60)
			return Math.round(s) + "s";
		if (t < 3600)
			return Math.floor(t / 60) + "m" + two(t % 60);
		if (t < 86400)
			return Math.floor(t / 3600) + "h" + two(Math.floor(t % 3600 / 60));
		return Math.floor(t / 86400) + "d" + two(Math.floor(t % 86400 / 3600));
	}

	function basename(p) {
		if (!p)
			return p;
		var i = p.lastIndexOf("/");
		return i < 0 ? p : p.slice(i + 1);
	}

	/* function, else module+offset, else the address */
	function frameName(f) {
		if (f.function)
			return f.function;
		if (f.module)
			return basename(f.module) + "+0x" + f.module_offset.toString(16);
		return f.jit ? "[jit] " + f.addr : f.addr;
	}

	function frameWhere(f) {
		return f.file ? basename(f.file) + ":" + f.line : "";
	}

	function stackLabel(s) {
		return s.frames.length ? frameName(s.frames[0]) : "[stack not recorded]";
	}

	/* ---------------------------------------------------------------- header */

	function header(d, body) {
		var what = d.type === "summary" ? "Summary after " + d.elapsed_s.toFixed(1) + " s"
			: "Report at " + d.elapsed_s.toFixed(1) + " s";
		body.appendChild(el("h1", null, "leakwatch: " + what));
		var sub = el("div", { "class": "sub" },
			d.time + " \u2014 " + human(d.totals.outstanding_bytes) + " outstanding in " +
			d.totals.outstanding_allocs + " allocations; " + d.totals.alloc_calls +
			" allocs, " + d.totals.free_calls + " frees seen" +
			(d.totals.lost_events ? "; " + d.totals.lost_events + " not recorded" : "") +
			(d.sample_rate !== 1 ? "; sampled (estimates)" : ""));
		if (d.type !== "summary")
			follow(d, sub);
		body.appendChild(sub);
		var ul = el("ul", { "class": "procs" });
		d.processes.forEach(function (p) {
			var li = el("li", { "class": "mono" }, "PID " + p.pid + " " + p.comm + ": " +
				human(p.outstanding_bytes) + " outstanding, RSS " +
				(p.rss_bytes === null ? "-" : human(p.rss_bytes)) +
				(p.alive ? "" : " (exited)"));
			if (p.note)
				li.appendChild(el("div", { "class": "note" }, "note: " + p.note));
			ul.appendChild(li);
		});
		body.appendChild(ul);
	}

	/* While leakwatch runs it rewrites the file each interval: reload it. */
	function follow(d, parent) {
		var every = Math.max(d.interval_s, 2);
		var on = true;
		try {
			on = sessionStorage.getItem("leakwatch-follow") !== "0";
		} catch (e) { /* storage may be off for file:// pages */ }
		var box = el("input", { type: "checkbox" });
		box.checked = on;
		var label = el("label");
		label.appendChild(box);
		label.appendChild(document.createTextNode(" reload every " + every + " s"));
		parent.appendChild(label);
		var timer = null;
		function arm() {
			if (timer)
				clearTimeout(timer);
			timer = box.checked ? setTimeout(function () { location.reload(); }, every * 1000) : null;
		}
		box.addEventListener("change", function () {
			try {
				sessionStorage.setItem("leakwatch-follow", box.checked ? "1" : "0");
			} catch (e) { /* as above */ }
			arm();
		});
		arm();
	}

	/* ---------------------------------------------------------------- charts */

	function niceStep(range, n) {
		var raw = range / n, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
		return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
	}

	/* Ticks in the largest unit the top reaches: 0.5 MiB, not 512 KiB. */
	function byteStep(max, n) {
		var unit = 1;
		while (max / unit >= 1024 && unit < Math.pow(1024, 4))
			unit *= 1024;
		return niceStep(max / unit, n) * unit;
	}

	/*
	 * A line chart of series [{name, color, t: [...], v: [... or null]}]
	 * into parent; returns how many series had a point to draw.
	 */
	function lineChart(parent, title, series, scale) {
		scale = scale || { step: byteStep, text: human };
		var W = 640, H = 260, L = 70, R = 12, T = 10, B = 30;
		var box = el("div", { "class": "chart" });
		box.appendChild(el("h3", null, title));
		parent.appendChild(box);
		var tmin = Infinity, tmax = -Infinity, vmax = 0, drawn = 0;
		series.forEach(function (s) {
			s.t.forEach(function (t, i) {
				if (s.v[i] === null)
					return;
				tmin = Math.min(tmin, t);
				tmax = Math.max(tmax, t);
				vmax = Math.max(vmax, s.v[i]);
			});
		});
		if (tmin === Infinity) {
			box.appendChild(el("p", { "class": "empty" }, "nothing to draw yet"));
			return 0;
		}
		if (tmax === tmin)
			tmax = tmin + 1;
		if (vmax === 0)
			vmax = 1;
		var ystep = scale.step(vmax, 4);
		vmax = Math.ceil(vmax / ystep) * ystep;
		function x(t) { return L + (t - tmin) / (tmax - tmin) * (W - L - R); }
		function y(v) { return T + (1 - v / vmax) * (H - T - B); }

		var g = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title });
		for (var v = 0; v <= vmax + ystep / 2; v += ystep) {
			g.appendChild(svg("line", { "class": "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
			g.appendChild(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" },
				scale.text(v)));
		}
		var xstep = niceStep(tmax - tmin, 6);
		for (var t = Math.ceil(tmin / xstep) * xstep; t <= tmax + 1e-9; t += xstep) {
			g.appendChild(svg("line", { "class": "axis", x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4 }));
			g.appendChild(svg("text", { x: x(t), y: H - B + 16, "text-anchor": "middle" },
				+t.toFixed(3) + " s"));
		}
		g.appendChild(svg("line", { "class": "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
		g.appendChild(svg("line", { "class": "axis", x1: L, x2: L, y1: T, y2: H - B }));

		var legend = el("ul", { "class": "legend" });
		series.forEach(function (s) {
			var d = "", pen = "M", pts = 0;
			var dots = svg("g", { fill: s.color });
			s.t.forEach(function (t, i) {
				if (s.v[i] === null) {
					pen = "M";
					return;
				}
				d += pen + x(t).toFixed(1) + "," + y(s.v[i]).toFixed(1) + " ";
				pen = "L";
				pts++;
				var dot = svg("circle", { cx: x(t).toFixed(1), cy: y(s.v[i]).toFixed(1), r: 2.5 });
				dot.appendChild(svg("title", null, s.name + "\n" + scale.text(s.v[i]) + " at " +
					t.toFixed(2) + " s"));
				dots.appendChild(dot);
			});
			if (!pts)
				return;
			var path = svg("path", { "class": "series", d: d, stroke: s.color });
			path.appendChild(svg("title", null, s.name));
			g.appendChild(path);
			g.appendChild(dots);
			var li = el("li");
			li.appendChild(el("span", { "class": "swatch", style: "background:" + s.color }));
			li.appendChild(document.createTextNode(s.name));
			legend.appendChild(li);
			drawn++;
		});
		box.appendChild(g);
		box.appendChild(legend);
		return drawn;
	}

	function charts(d, body) {
		body.appendChild(el("h2", null, "Outstanding bytes over time"));
		var row = el("div", { "class": "charts" });
		body.appendChild(row);
		var top = d.stacks.filter(function (s) { return s.series; }).map(function (s, i) {
			return {
				name: stackLabel(s) + " (" + s.id.slice(0, 8) + ", pid " + s.pid + ")",
				color: PALETTE[i % PALETTE.length], t: s.series.t, v: s.series.bytes,
			};
		});
		root.dataset.chartStacks = lineChart(row, "Top stacks", top);
		var h = d.history;
		var totals = [{ name: "outstanding (all stacks)", color: "#1d232b", t: h.t,
			v: h.outstanding_bytes }];
		h.rss.forEach(function (p, i) {
			totals.push({ name: "RSS of " + p.pid + " " + p.comm,
				color: PALETTE[(i + 1) % PALETTE.length], t: h.t, v: p.bytes });
		});
		root.dataset.chartTotals = lineChart(row, "Total outstanding and RSS", totals);
		gcPauses(d, body);
	}

	/* Under the heap: how long each Python process's garbage collections
	 * paused it between one report and the next. */
	function gcPauses(d, body) {
		var h = d.history, pauses = [];
		h.rss.forEach(function (p, i) {
			if (!p.gc_pause_ns || !p.gc_pause_ns.some(function (v) { return v !== null; }))
				return;
			pauses.push({ name: "gc pauses of " + p.pid + " " + p.comm,
				color: PALETTE[(i + 1) % PALETTE.length], t: h.t,
				v: p.gc_pause_ns.map(function (ns) { return ns === null ? null : ns / 1e6; }) });
		});
		if (!pauses.length)
			return;
		body.appendChild(el("h2", null, "Python garbage collection"));
		var row = el("div", { "class": "charts" });
		body.appendChild(row);
		root.dataset.chartGc = lineChart(row, "Paused per report", pauses, {
			step: function (max, n) { return niceStep(max, n); },
			text: function (ms) { return +ms.toFixed(3) + " ms"; },
		});
	}

	/* ----------------------------------------------------------- flame graph */

	function frameKey(f) {
		return [frameName(f), f.file || "", f.line || 0, f.inlined ? 1 : 0].join("\u0001");
	}

	/* Merges the stacks into one tree, outermost frames at the root. */
	function flameTree(flame) {
		var top = { frame: null, value: 0, children: new Map(), parent: null, depth: 0 };
		var maxDepth = 0;
		flame.stacks.forEach(function (s) {
			var node = top;
			top.value += s.bytes;
			for (var i = s.frames.length - 1; i >= 0; i--) {
				var f = flame.frames[s.frames[i]], key = frameKey(f);
				var child = node.children.get(key);
				if (!child) {
					child = { frame: f, value: 0, children: new Map(), parent: node,
						depth: node.depth + 1 };
					node.children.set(key, child);
				}
				child.value += s.bytes;
				node = child;
			}
			maxDepth = Math.max(maxDepth, node.depth);
		});
		top.maxDepth = maxDepth;
		return top;
	}

	function hue(name) {
		var h = 0;
		for (var i = 0; i < name.length; i++)
			h = (h * 31 + name.charCodeAt(i)) >>> 0;
		return h;
	}

	function boxColor(f) {
		var h = hue(f.function || f.module || "");
		/* warm for code with a name, grey for what has none */
		if (!f.function)
			return "hsl(0, 0%, " + (70 + h % 15) + "%)";
		return "hsl(" + (h % 55) + ", " + (65 + h % 25) + "%, " + (f.inlined ? 78 : 62) + "%)";
	}

	function flameGraph(d, body) {
		body.appendChild(el("h2", null, "Where the memory is (every stack holding memory; " +
			"click a box to zoom, the root to zoom out)"));
		var box = el("div", { "class": "flame" });
		body.appendChild(box);
		var tip = el("div", { "class": "tip" });
		body.appendChild(tip);
		var tree = flameTree(d.flame);
		if (!tree.value) {
			box.appendChild(el("p", { "class": "empty" }, "no outstanding bytes"));
			return 0;
		}
		var ROW = 18;

		function describe(n) {
			var lines;
			if (!n.frame) {
				lines = ["all stacks", human(n.value) + " (" + n.value + " B), 100%"];
			} else {
				var f = n.frame;
				lines = [frameName(f) + (f.inlined ? " (inlined)" : "")];
				if (f.file)
					lines.push(f.file + ":" + f.line);
				if (f.module)
					lines.push(f.module + " +0x" + f.module_offset.toString(16));
				lines.push(human(n.value) + " (" + n.value + " B), " +
					(100 * n.value / tree.value).toFixed(1) + "% of all outstanding");
			}
			return lines.join("\n");
		}

		function draw(zoom) {
			while (box.firstChild)
				box.removeChild(box.firstChild);
			var W = Math.max(box.clientWidth || 0, 600);
			var H = (tree.maxDepth + 1) * ROW;
			var g = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H });
			var count = 0;

			function rect(n, x0, w, cls) {
				var y = n.depth * ROW;
				var grp = svg("g");
				var r = svg("rect", { x: x0.toFixed(2), y: y, width: Math.max(w - 0.5, 0.5).toFixed(2),
					height: ROW - 1, fill: n.frame ? boxColor(n.frame) : "#e0c060" });
				if (cls)
					r.setAttribute("class", cls);
				grp.appendChild(r);
				var label = n.frame ? frameName(n.frame) : "all (" + human(n.value) + ")";
				var chars = Math.floor((w - 6) / 7);
				if (chars >= 3)
					grp.appendChild(svg("text", { x: (x0 + 3).toFixed(2), y: y + ROW - 5 },
						label.length > chars ? label.slice(0, chars - 1) + "\u2026" : label));
				grp.addEventListener("mousemove", function (ev) {
					tip.textContent = describe(n);
					tip.style.display = "block";
					tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 420) + "px";
					tip.style.top = (ev.clientY + 14) + "px";
				});
				grp.addEventListener("mouseleave", function () { tip.style.display = "none"; });
				grp.addEventListener("click", function () {
					tip.style.display = "none";
					draw(n === zoom ? (n.parent || tree) : n);
				});
				g.appendChild(grp);
				count++;
			}

			/* the zoomed box's ancestors span the width, faded */
			for (var a = zoom.parent; a; a = a.parent)
				rect(a, 0, W, "ancestor" + (a.frame && a.frame.inlined ? " inlined" : ""));
			(function walk(n, x0, w) {
				rect(n, x0, w, n.frame && n.frame.inlined ? "inlined" : null);
				var kids = Array.from(n.children.values()).sort(function (p, q) {
					return q.value - p.value;
				});
				var x = x0;
				kids.forEach(function (c) {
					var cw = w * c.value / n.value;
					if (cw >= 0.5)
						walk(c, x, cw);
					x += cw;
				});
			})(zoom, 0, W);
			box.appendChild(g);
			root.dataset.flameBoxes = count;
			return count;
		}
		var drawn = draw(tree);
		var last = box.clientWidth;
		window.addEventListener("resize", function () {
			if (box.clientWidth !== last) {
				last = box.clientWidth;
				draw(tree);
			}
		});
		return drawn;
	}

	/* ----------------------------------------------------------------- table */

	var TABLE_FRAMES = 3;

	function frameDiv(f) {
		var div = el("div", null, frameName(f) + (f.inlined ? " (inlined)" : ""));
		var where = frameWhere(f);
		if (where)
			div.appendChild(el("span", { "class": "where" }, " " + where));
		if (f.stripped)
			div.appendChild(el("span", { "class": "where" }, " [stripped]"));
		return div;
	}

	function verdictTable(d, body) {
		body.appendChild(el("h2", null, d.type === "summary" ? "Verdicts (growing stacks first, fastest first)"
			: "Top stacks (most outstanding bytes first)"));
		if (!d.stacks.length) {
			body.appendChild(el("p", { "class": "empty" }, "no outstanding allocations made since attach"));
			return 0;
		}
		var table = el("table", { "class": "verdicts" });
		var head = el("tr");
		["Stack", "PID", "Outstanding", "Growth", "Verdict", "Age", "Top frames"].forEach(function (c) {
			head.appendChild(el("th", null, c));
		});
		table.appendChild(el("thead")).appendChild(head);
		var tbody = el("tbody");
		table.appendChild(tbody);
		d.stacks.forEach(function (s) {
			var tr = el("tr", { "data-id": s.id, "data-pid": s.pid, "data-bytes": s.outstanding_bytes,
				"data-verdict": s.verdict });
			tr.appendChild(el("td", { "class": "id" }, s.id + (s.category === "mmap" ? " mmap" : "") +
				(s.truncated ? " (truncated)" : "")));
			tr.appendChild(el("td", { "class": "num" }, s.pid));
			tr.appendChild(el("td", { "class": "num", title: s.outstanding_bytes + " B in " +
				s.outstanding_allocs + " allocations" }, human(s.outstanding_bytes)));
			tr.appendChild(el("td", { "class": "num", title: s.growth_bytes_per_s + " B/s" },
				human(Math.trunc(s.growth_bytes_per_s * 60)) + "/min"));
			tr.appendChild(el("td", { "class": "verdict verdict-" + s.verdict }, s.verdict));
			tr.appendChild(el("td", { "class": "num" }, duration(s.oldest_age_s)));
			var td = el("td", { "class": "frames" });
			if (!s.frames.length)
				td.appendChild(el("div", null, "[stack not recorded]"));
			s.frames.slice(0, TABLE_FRAMES).forEach(function (f) { td.appendChild(frameDiv(f)); });
			if (s.frames.length > TABLE_FRAMES) {
				var more = el("details");
				more.appendChild(el("summary", null, (s.frames.length - TABLE_FRAMES) + " more frames"));
				s.frames.slice(TABLE_FRAMES).forEach(function (f) { more.appendChild(frameDiv(f)); });
				td.appendChild(more);
			}
			tr.appendChild(td);
			tbody.appendChild(tr);
		});
		body.appendChild(table);
		return d.stacks.length;
	}

	/* ------------------------------------------------------------------ main */

	var d = JSON.parse(document.getElementById("leakwatch-data").textContent);
	var body = document.body;
	header(d, body);
	charts(d, body);
	root.dataset.flameBoxes = flameGraph(d, body);
	root.dataset.tableRows = verdictTable(d, body);
	root.dataset.rendered = "ok";
})();
