// evoforge run viewer. Plain script, no dependencies, no markup built from data:
// every value reaches the page as a text node or an attribute value, never parsed as HTML.
// Live mode fetches /api/... and polls the run's version; report mode (a single HTML
// file written by `evoforge report`) reads the same answers from an embedded JSON block.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const POLL_MS = 1500;
  const PALETTE = ["#2f6f4f", "#c2571a", "#3b5bdb", "#a61e4d", "#5f3dc4", "#087f5b", "#e67700", "#495057"];
  const embedded = document.getElementById("evoforge-data");
  const EMBED = embedded ? JSON.parse(embedded.textContent) : null;
  const state = { route: null, versions: {}, runs: [], timer: null, rendering: false };

  // ---------------------------------------------------------------- data
  async function api(path) {
    if (EMBED) {
      if (Object.prototype.hasOwnProperty.call(EMBED, path)) return rebuildLineage(rebuildCode(EMBED[path]));
      throw new Error("not included in this report: " + path);
    }
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = describeDetail((await response.json()).detail) || detail; } catch (e) { /* not JSON */ }
      const refused = new Error(detail);
      refused.status = response.status; // the server answered: it is reachable
      throw refused;
    }
    return response.json();
  }

  // A report gives the code of a program whose parent it holds as a patch of the parent's
  // lines (report/html.py, _share_code): the lines kept at the start and at the end, and
  // the child's own lines between them. Rebuilt once, in place.
  function rebuildCode(answer) {
    const patch = answer && answer.code_patch;
    if (!patch) return answer;
    const parent = rebuildCode(EMBED[patch.parent]).code.split("\n");
    const kept = parent.slice(parent.length - patch.tail); // none when tail is 0
    answer.code = parent.slice(0, patch.head).concat(patch.lines, kept).join("\n");
    delete answer.code_patch;
    return answer;
  }

  // A report gives each lineage as the program it ends at, its nodes in one table shared
  // by all lineages (report/html.py, _share_lineages): follow parent_id through the table
  // while a node is found, then put the seed first.
  function rebuildLineage(answer) {
    if (!answer || answer.lineage_from === undefined) return answer;
    const table = EMBED.lineage_nodes || {};
    const nodes = [];
    const seen = new Set();
    let id = answer.lineage_from;
    while (id !== null && !seen.has(id) && Object.prototype.hasOwnProperty.call(table, id)) {
      seen.add(id);
      nodes.push(table[id]);
      id = table[id].parent_id;
    }
    return { program_id: answer.program_id, nodes: nodes.reverse() };
  }

  // A refusal's detail as text: the server's own message, or a validation error's list
  // of problems (one "msg" each).
  function describeDetail(detail) {
    if (Array.isArray(detail)) return detail.map((d) => (d && d.msg) || String(d)).join("; ");
    return detail ? String(detail) : "";
  }

  // ---------------------------------------------------------------- DOM helpers
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) throw new Error("event handlers are attached, not set");
      node.setAttribute(key, String(value));
    }
  }
  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(visible(String(child))));
    }
  }
  // Bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE, the isolates U+2066-U+2069, LRM,
  // RLM, ALM) in a candidate's code or text would show it in another order than it runs:
  // each is shown as its escape, as the terminal commands do.
  const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
  function visible(text) {
    return text.replace(BIDI_CONTROLS, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  }
  function fmt(value, digits) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    if (Number.isInteger(value)) return String(value);
    return Number(value.toPrecision(digits || 6)).toString();
  }
  function signed(value) {
    if (value === null || value === undefined) return "";
    return (value >= 0 ? "+" : "") + fmt(value, 4);
  }
  function table(headers, rows, attrs) {
    return el("table", attrs,
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) =>
        c instanceof Node && c.tagName === "TD" ? c : el("td", typeof c === "number" ? { class: "num" } : {}, typeof c === "number" ? fmt(c) : c))))));
  }
  // A card's value; ``title`` (shown on hover) can carry what the value rounds.
  function card(label, value, testid, title) {
    return el("div", { class: "card" }, el("div", { class: "label" }, label),
      el("div", { class: "value", "data-testid": testid || null, title: title }, value));
  }
  function link(href, text) { return el("a", { href: href }, text); }
  function programLink(run, id) { return link("#/run/" + run + "/program/" + encodeURIComponent(id), id); }
  function statusSpan(status) { return el("span", { class: "status-" + status }, status); }

  // ---------------------------------------------------------------- charts
  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) { hi = lo + 1; }
    const step0 = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(t);
    return ticks;
  }
  // Significant digits that tell neighbouring ticks apart (2.12154 and 2.12155, not 2.122 twice).
  function tickDigits(ticks) {
    if (ticks.length < 2) return 4;
    const step = ticks[1] - ticks[0], big = Math.max(...ticks.map(Math.abs));
    if (!(step > 0) || !(big > 0)) return 4;
    return Math.min(15, Math.max(4, Math.ceil(Math.log10(big / step)) + 1));
  }

  // series: [{name, points: [[x, y], ...], color}]; y may be null (skipped).
  function lineChart(series, opts) {
    const W = opts.width || 640, H = opts.height || 280, R = 12, T = 12, B = 36;
    const pts = series.flatMap((s) => s.points.filter((p) => p[1] !== null && p[1] !== undefined));
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, class: "chart", "data-testid": opts.testid || null });
    if (!pts.length) {
      root.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no data yet"));
      return el("div", {}, root);
    }
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    let y0 = Math.min(...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
    if (opts.yZero) y0 = Math.min(0, y0);
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { const spread = Math.abs(y0) * 0.05 || 0.5; y0 -= spread; y1 += spread; }
    const pad = (y1 - y0) * 0.05; y0 -= opts.yZero && y0 === 0 ? 0 : pad; y1 += pad;
    const yTicks = niceTicks(y0, y1, 5), xTicks = niceTicks(x0, x1, 6);
    const yLabels = yTicks.map((t) => fmt(t, tickDigits(yTicks)));
    // room for the longest tick label beside the rotated axis label
    const L = Math.max(64, 30 + 7 * Math.max(...yLabels.map((label) => label.length)));
    const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
    const sy = (y) => H - B - (y - y0) / (y1 - y0) * (H - T - B);
    yTicks.forEach((t, i) => {
      root.appendChild(svg("line", { x1: L, x2: W - R, y1: sy(t), y2: sy(t), class: "gridline" }));
      root.appendChild(svg("text", { x: L - 6, y: sy(t) + 4, "text-anchor": "end", class: "tick-y" }, yLabels[i]));
    });
    for (const t of xTicks) {
      root.appendChild(svg("text", { x: sx(t), y: H - B + 16, "text-anchor": "middle", class: "tick-x" }, fmt(t, tickDigits(xTicks))));
    }
    root.appendChild(svg("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }));
    root.appendChild(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
    root.appendChild(svg("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, opts.xLabel || ""));
    root.appendChild(svg("text", { x: 12, y: (T + H - B) / 2, transform: "rotate(-90 12 " + (T + H - B) / 2 + ")", "text-anchor": "middle", class: "axis-label-y" }, opts.yLabel || ""));
    series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      const coords = [];
      let prev = null;
      for (const p of s.points) {
        if (p[1] === null || p[1] === undefined) continue;
        if (opts.step && prev !== null) coords.push(sx(p[0]).toFixed(1) + "," + sy(prev).toFixed(1));
        coords.push(sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1));
        prev = p[1];
      }
      root.appendChild(svg("polyline", { points: coords.join(" "), class: "series", stroke: color, "data-series": s.name },
        svg("title", {}, s.name)));
      if (coords.length === 1) { // one point draws no line: mark it
        const [cx, cy] = coords[0].split(",");
        root.appendChild(svg("circle", { cx: cx, cy: cy, r: 3, fill: color, "data-series": s.name }));
      }
    });
    const legend = el("div", { class: "legend" }, series.map((s, i) =>
      el("span", {}, el("i", { style: null, "data-color": s.color || PALETTE[i % PALETTE.length] }), s.name)));
    for (const swatch of legend.querySelectorAll("i")) swatch.style.background = swatch.dataset.color;
    return el("div", {}, root, series.length > 1 ? legend : null);
  }

  function heatColor(t) {
    // t in [0, 1]: light yellow -> green -> deep blue
    const stops = [[255, 247, 188], [120, 198, 121], [35, 132, 67], [8, 64, 129]];
    const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
    const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
    return "rgb(" + c.join(",") + ")";
  }

  // ---------------------------------------------------------------- views
  const VIEWS = {
    overview: renderOverview,
    archive: renderArchive,
    lineage: renderLineage,
    program: renderProgram,
    programs: renderPrograms,
    operators: renderOperators,
    models: renderModels,
  };

  // What a final choice's holdout estimate is, by where Thresholdout's answer came from.
  const HOLDOUT_SOURCES = {
    search: "the search score: the holdout agreed with it",
    holdout: "a noisy holdout score: the holdout disagreed with the search",
    exhausted: "the search score, unchecked: the holdout budget was spent",
    none: "the search score: no candidate could be scored on the holdout",
  };

  // The last non-blank line of a reason (where the error is), at most 200 characters.
  function lastLine(text) {
    const lines = String(text || "").split("\n").filter((line) => line.trim());
    return lines.length ? lines[lines.length - 1].slice(0, 200) : "";
  }

  // A problem with instance splits: the program chosen on the holdout and what each split
  // says of it, or why there is none yet.
  function finalChoice(run, d) {
    if (!d.splits_enabled) return null;
    const heading = el("h2", {}, "Final choice");
    const f = d.final_choice;
    if (!f) {
      if (d.final_choice_pending) {
        return [heading, el("p", { class: "pending", "data-testid": "final-choice-pending" },
          "Pending: the run stopped before making its final choice. ",
          el("code", {}, d.resume_command), " makes it (the holdout chooses, the test split scores the choice).")];
      }
      return [heading, el("p", { class: "muted", "data-testid": "final-choice-later" },
        "Made when the search ends: the holdout chooses among the best programs, the test split scores the choice.")];
    }
    const why = lastLine(f.test_reason);
    const test = f.test_score !== null ? fmt(f.test_score) : "not scored (" + f.test_status + (why ? ": " + why : "") + ")";
    const budget = f.budget_left + " of " + f.budget + " holdout answers left" +
      (f.holdout_spent ? "; spent: later answers fell back to search scores" : "");
    const failed = f.holdout_failed ? f.holdout_failed + " of " + f.candidates + " candidates (" + (lastLine(f.holdout_failure) || "no reason given") + ")" : "none";
    const chosen = [programLink(run, f.program_id), f.program_id === f.best_search_program_id ? " (also the best by search score)" : [" (best by search score: ", programLink(run, f.best_search_program_id), ")"]];
    const outdated = f.outdated ? el("p", { class: "pending", "data-testid": "final-choice-outdated" },
      "Outdated: the search went on after this choice, and chooses again when it ends (",
      el("code", {}, d.resume_command), " if it was stopped).") : null;
    return [heading, outdated, table(["name", "value"], [
      ["chosen program", el("td", {}, chosen)],
      ["search score", el("td", {}, fmt(f.search_score))],
      ["holdout estimate", el("td", {}, fmt(f.holdout_estimate), " (Thresholdout: " + f.holdout_source + ", " + (HOLDOUT_SOURCES[f.holdout_source] || "unknown source") + ")")],
      ["test score", el("td", { "data-testid": "final-test" }, test)],
      ["gap search − test", f.gap === null ? "–" : (f.gap >= 0 ? "+" : "") + fmt(f.gap)],
      ["candidates and queries", f.candidates + " candidates by search score, " + f.queries + " holdout queries"],
      ["holdout budget", budget],
      ["holdout failures", failed],
      ["test split used", f.test_evaluations + (f.test_evaluations === 1 ? " time" : " times")],
    ], { "data-testid": "final-choice" })];
  }

  // The wall-time limit holds for each run or resume, so its "used" is the latest one's.
  const BUDGET_NAMES = { wall_time_s: "wall time (s), latest run or resume" };

  async function renderOverview(run) {
    const d = await api("/api/runs/" + run + "/overview");
    const recent = await api("/api/runs/" + run + "/programs?limit=20").catch(() => []);
    const islands = Object.entries(d.island_curves).map(([island, points]) => ({ name: "island " + island, points: points.map((p) => [p[0], p[2]]) }));
    const best = { name: "best", points: d.best_curve.map((p) => [p[0], p[2]]), color: "#111" };
    const islandsOverTime = Object.entries(d.island_curves).map(([island, points]) => ({ name: "island " + island, points: points.map((p) => [p[1], p[2]]) }));
    const budgets = Object.entries(d.budgets).map(([name, b]) => [BUDGET_NAMES[name] || name, fmt(b.used), b.limit === null || b.limit === undefined ? "no limit" : fmt(b.limit)]);
    // The kind blanks numbers out ("shape (N, N), got (N, N)"); its first program's own words follow.
    const reasonCell = (r) => r.example_reason && r.example_reason !== r.reason
      ? el("span", {}, r.reason, el("br"), el("span", { class: "muted", "data-testid": "reason-example" }, "e.g. " + r.example_reason))
      : r.reason;
    const reasonRows = (list) => list.map((r) => [reasonCell(r), r.count, Object.entries(r.statuses).map(([s, c]) => s + " " + c).join(", "), programLink(run, r.example_id)]);
    return [
      el("h1", {}, d.problem || d.run, " ", el("span", { class: "muted" }, d.run)),
      el("div", { class: "cards" },
        card("best score", fmt(d.best_score), "best-score", d.best_score === null ? null : String(d.best_score)),
        card("seed score", fmt(d.initial_score)),
        card("best program", d.best_id ? programLink(run, d.best_id) : "–"),
        card("iterations", fmt(d.iterations), "iterations"),
        card("evaluations", fmt(d.evaluations), "evaluations"),
        card("evaluations / s", fmt(d.evaluations_per_s, 3)),
        card("time running", fmt(d.duration_s, 4) + " s", "elapsed"),
        card("stop reason", d.running_in ? "running (" + d.running_in + ")" : d.stop_reason || "stopped without a clean stop (killed or crashed)", "stop-reason")),
      finalChoice(run, d),
      el("div", { class: "grid2" },
        el("section", {}, el("h2", {}, "Best score by evaluations"),
          lineChart([...islands, best], { xLabel: "evaluations", yLabel: "score", step: true, testid: "score-by-evaluations" })),
        el("section", {}, el("h2", {}, "Best score over time"),
          lineChart([...islandsOverTime, { name: "best", points: d.best_curve.map((p) => [p[1], p[2]]), color: "#111" }], { xLabel: "seconds", yLabel: "score", step: true, testid: "score-over-time" })),
        el("section", {}, el("h2", {}, "Evaluations per second"),
          lineChart([{ name: "rate", points: d.rate_curve }], { xLabel: "seconds", yLabel: "evaluations / s", yZero: true }))),
      el("h2", {}, "Failures by status"),
      Object.keys(d.failures).length ? table(["status", "children"], Object.entries(d.failures).map(([s, c]) => [statusSpan(s), c]), { "data-testid": "failures" }) : el("p", { class: "muted" }, "no failures"),
      el("h2", {}, "Top failure reasons"),
      d.reasons.failures.length ? table(["reason", "count", "statuses", "example"], reasonRows(d.reasons.failures), { "data-testid": "failure-reasons" }) : el("p", { class: "muted" }, "none"),
      el("h2", {}, "Top rejection reasons"),
      d.reasons.rejections.length ? table(["reason", "count", "statuses", "example"], reasonRows(d.reasons.rejections), { "data-testid": "rejection-reasons" }) : el("p", { class: "muted" }, "none"),
      el("h2", {}, "Budgets"),
      table(["budget", "used", "limit"], budgets),
      el("h2", {}, "Latest programs"),
      table(["program", "iteration", "operator", "island", "status", "score", "reason"],
        recent.map((p) => [programLink(run, p.id), p.iteration, p.operator, p.island, statusSpan(p.status), p.score === null ? "–" : p.score, p.reason]), { "data-testid": "recent" }),
      el("p", {}, link("#/run/" + run + "/programs", "browse every program (filter by status and operator, newest or best first)")),
    ];
  }

  async function renderArchive(run) {
    const islands = await api("/api/runs/" + run + "/archive");
    const total = islands.reduce((n, i) => n + i.occupied, 0);
    const scores = islands.flatMap((i) => i.cells.map((c) => c.score)).filter((s) => s !== null);
    const lo = Math.min(...scores), hi = Math.max(...scores);
    const parts = [el("h1", {}, "Archive"),
      el("p", { class: "muted" }, "Each island's MAP-Elites grid: one square per occupied cell, coloured by its elite's score (darker is better). Click a cell for its elite."),
      el("p", {}, "occupied cells: ", el("b", { "data-testid": "occupied" }, String(total)), " · score range ", fmt(lo), " – ", fmt(hi))];
    for (const island of islands) {
      const nx = island.shape[0] || 1, ny = island.shape.length > 1 ? island.shape[1] : 1;
      const size = Math.max(14, Math.min(40, Math.floor(420 / Math.max(nx, ny))));
      const L = 70, T = 10, W = L + nx * size + 10, H = T + ny * size + 44;
      const root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, "data-testid": "heatmap", "data-island": island.island });
      for (let i = 0; i < nx; i++) for (let j = 0; j < ny; j++) {
        root.appendChild(svg("rect", { x: L + i * size, y: T + (ny - 1 - j) * size, width: size, height: size, class: "empty" }));
      }
      for (const c of island.cells) {
        const i = c.cell[0], j = c.cell.length > 1 ? c.cell[1] : 0;
        const t = hi > lo ? (c.score - lo) / (hi - lo) : 1;
        const rect = svg("rect", { x: L + i * size, y: T + (ny - 1 - j) * size, width: size, height: size, class: "cell", "data-program": c.program_id },
          svg("title", {}, c.program_id + ": score " + fmt(c.score) + " · cell (" + c.cell.join(", ") + ")"));
        rect.style.fill = heatColor(t);
        root.appendChild(svg("a", { href: "#/run/" + run + "/program/" + encodeURIComponent(c.program_id) }, rect));
      }
      const axis = (name) => {
        if (!name) return "";
        const range = island.ranges[name];
        return name + (range ? " (" + fmt(range[0], 3) + " – " + fmt(range[1], 3) + ")" : "") + " →";
      };
      root.appendChild(svg("text", { x: L + nx * size / 2, y: T + ny * size + 18, "text-anchor": "middle" }, axis(island.features[0])));
      root.appendChild(svg("text", { x: 14, y: T + ny * size / 2, transform: "rotate(-90 14 " + (T + ny * size / 2) + ")", "text-anchor": "middle" }, axis(island.features[1])));
      parts.push(el("section", {}, el("h2", {}, "Island " + island.island + " · " + island.occupied + " of " + island.capacity + " cells · best " + fmt(island.best_score)), root));
    }
    return parts;
  }

  // A long lineage is drawn folded. Drawn: the seed, the program and its last
  // LINEAGE_LAST ancestors, and the steps that raised the best score along the line (the
  // API's "improved"; the LINEAGE_STEPS largest rises where there are more). Each run of
  // other ancestors is one row, a button that says how many it holds and their scores and
  // opens in place (LINEAGE_REVEAL at a time: those nearest its two ends). A lineage of at
  // most LINEAGE_WHOLE programs is drawn whole, and a fold of one program is that program.
  // What was opened stays open while the page updates itself (state.lineage).
  const LINEAGE_WHOLE = 24, LINEAGE_LAST = 5, LINEAGE_STEPS = 20, LINEAGE_REVEAL = 40;

  function lineageKept(nodes, revealed) {
    const n = nodes.length;
    const keep = nodes.map((node) => n <= LINEAGE_WHOLE || revealed.has(node.id));
    if (n <= LINEAGE_WHOLE) return { keep: keep, capped: false, steps: 0 };
    keep[0] = true;
    for (let i = Math.max(0, n - 1 - LINEAGE_LAST); i < n; i++) keep[i] = true;
    const steps = [];
    let best = null;
    nodes.forEach((node, i) => {
      if (node.improved) steps.push({ i: i, rise: best === null ? Infinity : node.score - best });
      if (node.score !== null && node.score !== undefined && (best === null || node.score > best)) best = node.score;
    });
    steps.sort((a, b) => (b.rise - a.rise) || (a.i - b.i));
    for (const step of steps.slice(0, LINEAGE_STEPS)) keep[step.i] = true;
    for (let i = 1; i < n - 1; i++) if (!keep[i] && keep[i - 1] && keep[i + 1]) keep[i] = true;
    return { keep: keep, capped: steps.length > LINEAGE_STEPS, steps: steps.length };
  }

  // The rows drawn: {node, index} for a program, {fold: [first, last]} for a folded run.
  function lineageRows(nodes, keep) {
    const rows = [];
    for (let i = 0; i < nodes.length; i++) {
      if (keep[i]) { rows.push({ node: nodes[i], index: i }); continue; }
      const first = i;
      while (i + 1 < nodes.length && !keep[i + 1]) i++;
      rows.push({ fold: [first, i] });
    }
    return rows;
  }

  function foldText(members) {
    const scores = members.map((n) => n.score).filter((v) => v !== null && v !== undefined);
    const iterations = members.map((n) => n.iteration);
    const raised = members.filter((n) => n.improved).length;
    const low = (values) => values.reduce((a, b) => (b < a ? b : a)), high = (values) => values.reduce((a, b) => (b > a ? b : a));
    const parts = [scores.length ? "scores " + fmt(low(scores)) + " – " + fmt(high(scores)) : "no scores",
      "iterations " + low(iterations) + " – " + high(iterations)]; // no spread: a fold may hold thousands
    if (raised) parts.push(raised + " raised the best");
    return "▸ " + members.length + " programs folded (" + parts.join(" · ") + ")";
  }

  async function renderLineage(run, programId) {
    const path = "/api/runs/" + run + "/lineage" + (programId ? "?program=" + encodeURIComponent(programId) : "");
    const d = await api(path);
    const nodes = d.nodes;
    const key = run + "/" + (programId || "");
    if (!state.lineage || state.lineage.key !== key) state.lineage = { key: key, revealed: new Set() };
    const revealed = state.lineage.revealed;
    const body = el("div", { "data-testid": "lineage-view" });
    const draw = (focus) => {
      const kept = lineageKept(nodes, revealed);
      const keep = kept.keep;
      const rows = lineageRows(nodes, keep);
      const drawn = keep.filter(Boolean).length;
      const controls = [];
      const control = (text, testid, onClick) => {
        const b = el("button", { type: "button", "data-testid": testid }, text);
        b.addEventListener("click", onClick);
        return b;
      };
      if (drawn < nodes.length) {
        controls.push(control("Show all " + nodes.length, "lineage-show-all", () => {
          nodes.forEach((n) => revealed.add(n.id));
          draw("[data-testid=lineage-fold-all]");
        }));
      }
      if (revealed.size && nodes.length > LINEAGE_WHOLE) {
        controls.push(control("Fold again", "lineage-fold-all", () => {
          revealed.clear();
          draw("[data-testid=lineage-show-all]");
        }));
      }
      const folded = drawn < nodes.length
        ? " Drawn: " + drawn + " of them, the seed, the steps that raised the best score along the line" +
          (kept.capped ? " (the " + LINEAGE_STEPS + " largest of " + kept.steps + ")" : "") +
          ", this program and the " + LINEAGE_LAST + " before it; a folded row opens in place."
        : "";
      body.replaceChildren(
        el("p", { class: "muted", "data-testid": "lineage-summary" }, nodes.length + " programs from the seed; each edge names the operator that made the child and its gain over the parent." + folded),
        controls.length ? el("div", { class: "pager" }, controls) : null,
        lineageChart(run, nodes, rows, (first, last) => {
          const count = last - first + 1;
          const open = count <= LINEAGE_REVEAL ? nodes.slice(first, last + 1)
            : [...nodes.slice(first, first + LINEAGE_REVEAL / 2), ...nodes.slice(last + 1 - LINEAGE_REVEAL / 2, last + 1)];
          open.forEach((n) => revealed.add(n.id));
          draw("a[data-program='" + CSS.escape(nodes[first].id) + "']");
        }));
      if (focus) { const target = body.querySelector(focus); if (target) target.focus(); }
    };
    draw(null);
    return [el("h1", {}, "Lineage of ", programLink(run, d.program_id)), body];
  }

  function lineageChart(run, nodes, rows, onOpen) {
    const BW = 300, BH = 40, FH = 36, GAP = 34, X = 20, W = BW + 320;
    const H = rows.reduce((h, row) => h + (row.fold ? FH : BH) + GAP, 10) - GAP + 10;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, "data-testid": "lineage" });
    let y = 10;
    rows.forEach((row, k) => {
      if (k > 0) {
        root.appendChild(svg("line", { x1: X + BW / 2, x2: X + BW / 2, y1: y - GAP, y2: y, class: row.fold || rows[k - 1].fold ? "edge folded" : "edge" }));
      }
      if (row.fold) {
        const [first, last] = row.fold;
        const button = el("button", { type: "button", class: "fold", "data-testid": "lineage-fold", "data-count": last - first + 1, "data-first": nodes[first].id, "data-last": nodes[last].id },
          foldText(nodes.slice(first, last + 1)));
        button.addEventListener("click", () => onOpen(first, last));
        root.appendChild(svg("foreignObject", { x: X, y: y, width: W - X - 20, height: FH }, button));
        y += FH + GAP;
        return;
      }
      const n = row.node;
      if (k > 0) root.appendChild(svg("text", { x: X + BW / 2 + 8, y: y - GAP / 2 + 4, class: "edge-label" }, n.operator + (n.gain === null ? "" : "  " + signed(n.gain))));
      const g = svg("g", { class: "node" + (row.index === nodes.length - 1 ? " best" : "") + (n.improved ? " improved" : ""), "data-program": n.id },
        svg("rect", { x: X, y: y, width: BW, height: BH }),
        svg("text", { x: X + 10, y: y + 17 }, n.id + " · " + n.status),
        svg("text", { x: X + 10, y: y + 33 }, "score " + fmt(n.score) + " · iteration " + n.iteration + " · island " + n.island));
      root.appendChild(svg("a", { href: "#/run/" + run + "/program/" + encodeURIComponent(n.id), "data-program": n.id }, g));
      y += BH + GAP;
    });
    return root;
  }

  function diffBlock(text) {
    const pre = el("pre", { "data-testid": "diff" });
    for (const line of text.split("\n")) {
      const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : null;
      pre.appendChild(cls ? el("span", { class: cls }, line) : document.createTextNode(line + "\n"));
    }
    return pre;
  }

  async function renderProgram(run, programId) {
    const p = await api("/api/runs/" + run + "/programs/" + encodeURIComponent(programId));
    const kv = (obj) => table(["name", "value"], Object.entries(obj).map(([k, v]) => [k, v === null ? "–" : v]));
    return [
      el("h1", {}, "Program ", el("span", { "data-testid": "program-id" }, p.id), " ", statusSpan(p.status)),
      el("div", { class: "cards" },
        card("score", p.score === null ? "–" : String(p.score), "program-score"),
        card("gain over parent", p.gain === null ? "–" : signed(p.gain)),
        card("operator", p.operator),
        card("parent", p.parent_id ? programLink(run, p.parent_id) : "none (seed)"),
        card("iteration · island · generation", p.iteration + " · " + p.island + " · " + p.generation),
        card("archive outcome", (p.outcome || "not inserted") + (p.reward === null ? "" : " · reward " + fmt(p.reward, 3))),
        card("evaluation time", fmt(p.eval_time_s, 3) + " s")),
      el("p", {}, link("#/run/" + run + "/lineage/" + encodeURIComponent(p.id), "lineage of this program")),
      p.reason ? [el("h2", {}, "Reason"), el("pre", { class: "wrap", "data-testid": "reason" }, p.reason)] : null,
      el("h2", {}, "Metrics"), Object.keys(p.metrics).length ? kv(p.metrics) : el("p", { class: "muted" }, "none"),
      el("h2", {}, "Features"), Object.keys(p.features).length ? kv(p.features) : el("p", { class: "muted" }, "none"),
      el("h2", {}, "Diff against its parent"), p.diff ? diffBlock(p.diff) : el("p", { class: "muted" }, p.parent_id ? "identical code" : "the seed has no parent"),
      el("h2", {}, "Code"), el("pre", { "data-testid": "code" }, p.code),
      el("h2", {}, "Artifacts"),
      Object.keys(p.artifacts).length ? Object.entries(p.artifacts).map(([name, text]) =>
        el("details", { open: "" }, el("summary", {}, name), el("pre", { class: "wrap", "data-testid": "artifact-" + name }, text))) : el("p", { class: "muted" }, "none"),
      p.llm_calls.length ? [el("h2", {}, "Language-model requests"), p.llm_calls.map((c, i) => el("section", { "data-testid": "llm-calls" },
        el("p", {}, "request " + (i + 1) + ": " + c.model + " · " + c.outcome + " · " + c.tokens_in + " tokens in, " + c.tokens_out + " out · " + fmt(c.latency_s, 3) + " s" + (c.error ? " · " + c.error : "")),
        el("details", {}, el("summary", {}, "prompt"), el("pre", { class: "wrap", "data-testid": "prompt" }, c.prompt)),
        el("details", { open: "" }, el("summary", {}, "answer"), el("pre", { class: "wrap", "data-testid": "answer" }, c.response))))] : null,
    ];
  }

  // ---------------------------------------------------------------- program browser
  // Pages through a run's programs with the API's cursor: a page is keyed by the seq of a
  // program it follows (before=) or precedes (after=), so programs that arrive meanwhile
  // never move it; only the first page (no cursor) follows the run. The route carries the
  // filters and the cursor: #/run/R/programs?order=best&status=failed&operator=X&before=SEQ.
  const PAGE_SIZE = 50;
  const STATUSES = ["ok", "failed", "timeout", "invalid", "rejected"];
  const ORDERS = { newest: "newest first (the order programs were written)", best: "best score first (ties newest first; only programs with a score)" };

  function browserQuery(params) {
    const q = new URLSearchParams();
    for (const key of ["order", "status", "operator", "before", "after"]) {
      if (params[key] !== null && params[key] !== undefined && params[key] !== "" && !(key === "order" && params[key] === "newest")) q.set(key, params[key]);
    }
    return q.toString();
  }
  function browserHref(run, params) {
    const q = browserQuery(params);
    return "#/run/" + run + "/programs" + (q ? "?" + q : "");
  }

  // One page of the listing, as the API answers it (limit rows, in order). A report has
  // no listing API: the same answer is computed over the programs it embeds.
  async function programPage(run, params, limit) {
    if (!EMBED) {
      const q = browserQuery(params);
      return api("/api/runs/" + run + "/programs?limit=" + limit + (q ? "&" + q : ""));
    }
    let rows = embeddedPrograms(run).filter((p) =>
      (!params.status || p.status === params.status) && (!params.operator || p.operator === params.operator) &&
      (params.order !== "best" || p.score !== null));
    const key = params.order === "best" ? (p) => [p.score, p.seq] : (p) => [p.seq];
    const below = (a, b) => a[0] < b[0] || (a[0] === b[0] && a.length > 1 && a[1] < b[1]);
    rows.sort((a, b) => below(key(a), key(b)) ? 1 : below(key(b), key(a)) ? -1 : 0); // in order: head first
    const cursor = params.before !== null ? params.before : params.after;
    if (cursor !== null) {
      const at = embeddedPrograms(run).find((p) => p.seq === cursor);
      if (!at || (params.order === "best" && at.score === null)) throw new Error("no program with seq " + cursor + " in this report's listing");
      rows = params.before !== null ? rows.filter((p) => below(key(p), key(at))) : rows.filter((p) => below(key(at), key(p))).slice(-limit);
    }
    return rows.slice(0, limit);
  }

  // How many programs there are by status and operator (the API's program-counts; in a
  // report, over the programs it embeds), or null when that cannot be read.
  async function programCounts(run) {
    if (!EMBED) return api("/api/runs/" + run + "/program-counts").catch(() => null);
    const by = new Map();
    for (const p of embeddedPrograms(run)) {
      const key = p.status + "\u0000" + p.operator;
      const entry = by.get(key) || { status: p.status, operator: p.operator, programs: 0, scored: 0 };
      entry.programs += 1;
      if (p.score !== null) entry.scored += 1;
      by.set(key, entry);
    }
    const counts = [...by.values()];
    return { total: counts.reduce((sum, c) => sum + c.programs, 0), counts };
  }

  // The programs a report embeds, as listing rows (read once).
  function embeddedPrograms(run) {
    const prefix = "/api/runs/" + run + "/programs/";
    if (!state.embedded) {
      state.embedded = Object.keys(EMBED).filter((k) => k.startsWith(prefix)).map((k) => {
        const p = EMBED[k];
        return { id: p.id, seq: p.seq, iteration: p.iteration, operator: p.operator, island: p.island, status: p.status, score: p.score, reason: lastLine(p.reason) };
      });
    }
    return state.embedded;
  }

  async function renderPrograms(run, _arg, query) {
    const num = (name) => { const v = query.get(name); return v !== null && /^\d+$/.test(v) ? Number(v) : null; };
    const params = {
      order: query.get("order") === "best" ? "best" : "newest",
      status: STATUSES.includes(query.get("status")) ? query.get("status") : null,
      operator: query.get("operator") || null,
      before: num("before"),
      after: num("before") === null ? num("after") : null,
    };
    const [answer, ops, tally] = await Promise.all([
      programPage(run, params, PAGE_SIZE + 1),
      api("/api/runs/" + run + "/operators").catch(() => ({ operators: {} })),
      programCounts(run),
    ]);
    // programs of a status and an operator (null: any) that this order lists
    const matching = (status, operator) => tally === null ? null : tally.counts
      .filter((c) => (!status || c.status === status) && (!operator || c.operator === operator))
      .reduce((sum, c) => sum + (params.order === "best" ? c.scored : c.programs), 0);
    const counted = (text, status, operator) => {
      const n = matching(status, operator);
      return n === null ? text : text + " (" + fmt(n) + ")";
    };
    let rows = answer, hasNewer, hasOlder;
    if (params.after !== null) { // the rows just above the cursor: the last PAGE_SIZE of them
      hasNewer = rows.length > PAGE_SIZE;
      rows = rows.slice(-PAGE_SIZE);
      hasOlder = true;
      if (!hasNewer) { location.replace(browserHref(run, { ...params, after: null })); return [el("p", { class: "muted" }, "loading…")]; }
    } else {
      hasOlder = rows.length > PAGE_SIZE;
      rows = rows.slice(0, PAGE_SIZE);
      hasNewer = params.before !== null;
    }
    const go = (changes) => { location.hash = browserHref(run, { ...params, before: null, after: null, ...changes }); };
    const names = [...new Set(["seed", ...Object.keys(ops.operators || {}), ...(tally ? tally.counts.map((c) => c.operator) : []), ...(EMBED ? embeddedPrograms(run).map((p) => p.operator) : []), ...(params.operator ? [params.operator] : [])])].sort();
    const choice = (label, testid, options, value, onChange) => {
      const select = el("select", { "data-testid": testid, id: testid },
        options.map(([v, text]) => el("option", { value: v, selected: v === value ? "" : null }, text)));
      select.addEventListener("change", () => onChange(select.value));
      return el("label", { for: testid }, label + " ", select);
    };
    const button = (text, testid, enabled, onClick) => {
      const b = el("button", { type: "button", "data-testid": testid, disabled: enabled ? null : "" }, text);
      b.addEventListener("click", onClick);
      return b;
    };
    const pager = el("div", { class: "pager", role: "group", "aria-label": "pages" },
      button("⇤ Newest", "page-first", hasNewer, () => go({})),
      button("← Newer", "page-newer", hasNewer, () => go({ after: rows.length ? rows[0].seq : null })),
      button("Older →", "page-older", hasOlder, () => go({ before: rows[rows.length - 1].seq })));
    const total = (state.runs.find((r) => r.index === run) || {}).programs;
    const filtered = [params.status ? "status " + params.status : null, params.operator ? "operator " + params.operator : null].filter(Boolean);
    const all = matching(params.status, params.operator);
    const shown = rows.length ? "Showing " + rows.length + (all === null ? "" : " of " + fmt(all)) + " programs" + (filtered.length ? " with " + filtered.join(" and ") : "") +
      ", " + ORDERS[params.order] + ", seq " + rows[0].seq + " to " + rows[rows.length - 1].seq + "." : "No programs match.";
    const where = EMBED
      ? "This report embeds " + embeddedPrograms(run).length + " of the run's " + fmt(total) + " programs (the final choice, the best program's lineage, the archive's elites, the latest programs and the examples of the top failure reasons): the browser lists those only; `evoforge serve` browses them all."
      : hasNewer
        ? "This page is held: programs the run writes meanwhile do not move it. ⇤ Newest returns to the top."
        : "The first page follows the run: new programs appear at the top.";
    const tableRows = rows.map((p) => {
      const href = "#/run/" + run + "/program/" + encodeURIComponent(p.id);
      const tr = el("tr", { class: "clickable", "data-program": p.id },
        el("td", {}, link(href, p.id)), el("td", { class: "num" }, fmt(p.seq)), el("td", { class: "num" }, fmt(p.iteration)),
        el("td", {}, statusSpan(p.status)), el("td", { class: "num", title: p.score === null ? null : String(p.score) }, fmt(p.score)),
        el("td", {}, p.operator), el("td", { class: "num" }, fmt(p.island)), el("td", { class: "reason" }, p.reason));
      tr.addEventListener("click", (event) => { if (!event.target.closest("a") && !String(window.getSelection() || "")) location.hash = href; });
      return tr;
    });
    return [el("h1", {}, "Programs"),
      el("div", { class: "filters" },
        choice("Order", "order", Object.entries(ORDERS).map(([v, text]) => [v, v === "best" ? "best score first" : "newest first"]), params.order, (v) => go({ order: v })),
        choice("Status", "status", [["", counted("any", null, params.operator)], ...STATUSES.map((s) => [s, counted(s, s, params.operator)])], params.status || "", (v) => go({ status: v || null })),
        choice("Operator", "operator", [["", counted("any", params.status, null)], ...names.map((n) => [n, counted(n, params.status, n)])], params.operator || "", (v) => go({ operator: v || null }))),
      el("p", { "data-testid": "programs-shown", "aria-live": "polite" }, shown),
      el("p", { class: "muted", "data-testid": "programs-where" }, where),
      pager,
      el("table", { "data-testid": "programs" },
        el("thead", {}, el("tr", {}, ["program", "seq", "iteration", "status", "score", "operator", "island", "reason"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, tableRows)),
    ];
  }

  async function renderOperators(run) {
    const d = await api("/api/runs/" + run + "/operators");
    const names = Object.keys(d.operators);
    const rows = names.map((name) => {
      const o = d.operators[name];
      const prob = d.probabilities[name];
      const bar = el("span", { class: "bar" }); bar.style.width = Math.round((prob || 0) * 120) + "px";
      return [name, o.uses, o.successes, (o.success_rate * 100).toFixed(1) + "%", fmt(o.mean_reward, 3), el("td", {}, bar, " ", prob === undefined ? "–" : (prob * 100).toFixed(1) + "%")];
    });
    return [el("h1", {}, "Operators"),
      el("p", { class: "muted" }, "Bandit policy: " + (d.policy || "–") + ". Choice probability: how often the policy would pick each operator now."),
      table(["operator", "uses", "successes", "success rate", "mean reward", "choice probability"], rows, { "data-testid": "operators" }),
      el("h2", {}, "Mean reward over iterations"),
      lineChart(names.map((name) => ({ name: name, points: d.operators[name].reward_curve })), { xLabel: "iteration", yLabel: "mean reward", yZero: true })];
  }

  async function renderModels(run) {
    const d = await api("/api/runs/" + run + "/models");
    const names = Object.keys(d.models);
    if (!names.length) return [el("h1", {}, "Model calls"), el("p", { class: "muted", "data-testid": "no-models" }, "This run made no language-model requests.")];
    return [el("h1", {}, "Model calls"),
      table(["model", "calls", "tokens in", "tokens out", "cost", "mean latency (s)", "worst latency (s)", "failures", "outcomes"],
        names.map((n) => { const m = d.models[n]; return [n, m.calls, m.tokens_in, m.tokens_out, m.cost, m.mean_latency_s, m.max_latency_s, m.failures, Object.entries(m.outcomes).map(([k, v]) => k + " " + v).join(", ")]; }),
        { "data-testid": "models" })];
  }

  async function renderCompare() {
    const runs = await api("/api/compare");
    return [el("h1", {}, "Compare runs"),
      lineChart(runs.map((r) => ({ name: r.run, points: r.curve.map((p) => [p[0], p[2]]) })), { xLabel: "evaluations", yLabel: "best score", step: true, testid: "compare", width: 900, height: 360 }),
      table(["run", "problem", "best score"], runs.map((r) => [link("#/run/" + r.index + "/overview", r.run), r.problem || "–", r.best_score === null ? "–" : r.best_score]), { "data-testid": "compare-table" })];
  }

  async function renderIndex() {
    return [el("h1", {}, "Runs"),
      table(["run", "problem", "programs", "best score", "stopped"], state.runs.map((r) => [link("#/run/" + r.index + "/overview", r.run), r.problem || "–", r.programs, r.best_score === null ? "–" : r.best_score, r.running_in ? "running" : r.stop_reason || "stopped without a clean stop"]), { "data-testid": "runs" })];
  }

  // ---------------------------------------------------------------- routing
  // "#/run/R/VIEW/ARG?QUERY": the query (the program browser's filters and cursor) after
  // the first "?" (a program id in the path has its "?" escaped).
  function parseRoute() {
    const hash = location.hash.replace(/^#\/?/, "");
    const mark = hash.indexOf("?");
    const query = new URLSearchParams(mark < 0 ? "" : hash.slice(mark + 1));
    const parts = (mark < 0 ? hash : hash.slice(0, mark)).split("/").filter(Boolean).map(decodeSegment);
    if (parts[0] === "compare") return { view: "compare", run: null, query: query };
    if (parts[0] === "run" && parts.length >= 2) {
      return { view: parts[2] || "overview", run: Number(parts[1]), arg: parts[3] || null, query: query };
    }
    return { view: "index", run: null, query: query };
  }

  // A route segment decoded; one with a broken escape ("%", "%E0%A4") is kept as written.
  function decodeSegment(segment) {
    try { return decodeURIComponent(segment); } catch (e) { return segment; }
  }

  function renderNav(route) {
    const nav = document.getElementById("nav");
    nav.replaceChildren();
    const run = route.run === null ? 0 : route.run;
    if (state.runs.length > 1) {
      const select = el("select", { "aria-label": "run" }, state.runs.map((r) => el("option", { value: r.index, selected: r.index === run ? "" : null }, r.run)));
      select.addEventListener("change", () => { location.hash = "#/run/" + select.value + "/" + (route.run === null ? "overview" : route.view); });
      nav.appendChild(select);
    }
    for (const view of ["overview", "programs", "archive", "lineage", "operators", "models"]) {
      nav.appendChild(el("a", { href: "#/run/" + run + "/" + view, class: route.view === view ? "active" : null }, view === "models" ? "model calls" : view));
    }
    nav.appendChild(el("a", { href: "#/compare", class: route.view === "compare" ? "active" : null }, "compare"));
  }

  async function render(keepScroll) {
    if (state.rendering) { state.again = true; return; } // the address moved on: render it next
    state.rendering = true;
    state.again = false;
    const main = document.getElementById("view");
    try {
      const route = parseRoute(), hash = location.hash;
      if (!state.runs.length || !keepScroll) state.runs = await api("/api/runs");
      if (route.view === "index" && state.runs.length === 1) { location.replace("#/run/0/overview"); return; }
      renderNav(route);
      let content;
      if (route.view === "index") content = await renderIndex();
      else if (route.view === "compare") content = await renderCompare();
      else if (VIEWS[route.view]) content = await VIEWS[route.view](route.run, route.arg, route.query);
      else content = [el("p", { class: "error" }, "unknown page: " + route.view)];
      const y = window.scrollY;
      const focused = keepScroll ? focusKey(document.activeElement) : null;
      main.replaceChildren(...[content].flat(3).filter(Boolean));
      if (focused) { const again = main.querySelector(focused); if (again) again.focus(); }
      main.dataset.view = route.view;
      main.dataset.route = hash; // what this content shows (the address may have moved on)
      main.dataset.rendered = String(Date.now());
      if (!performance.getEntriesByName("evoforge-first-view").length) performance.mark("evoforge-first-view");
      if (keepScroll) window.scrollTo(0, y);
      setLive(EMBED ? "report written " + (EMBED.written_at || "") : "live · updated " + new Date().toLocaleTimeString(), false);
    } catch (error) {
      main.replaceChildren(el("p", { class: "error", "data-testid": "error" }, String(error.message || error)));
      setLive(failureText(error), true);
    } finally {
      state.rendering = false;
      if (state.again) render(false);
    }
  }

  // A selector for the control that has the keyboard focus, to give it back after a live
  // re-render replaced it (its test id, or a link's address).
  function focusKey(node) {
    if (!node || node === document.body || !document.getElementById("view").contains(node)) return null;
    if (node.dataset.first) return "[data-first='" + CSS.escape(node.dataset.first) + "']"; // a lineage's fold
    if (node.dataset.testid) return "[data-testid='" + CSS.escape(node.dataset.testid) + "']";
    const href = node.getAttribute("href");
    return href ? "a[href='" + CSS.escape(href) + "']" : null;
  }

  // What the header says when an answer failed: a report lacks it, the server refused it
  // (it answered, so it is reachable: an unknown run or program), or no answer came.
  function failureText(error) {
    const why = String(error.message || error);
    if (EMBED) return "report · " + why;
    return error.status ? "live · " + why : "server unreachable: " + why;
  }

  function setLive(text, stale) {
    const live = document.getElementById("live");
    live.textContent = text;
    live.classList.toggle("stale", stale);
  }

  async function poll() {
    const route = parseRoute();
    const runs = route.run === null ? state.runs.map((r) => r.index) : [route.run];
    try {
      let changed = false;
      for (const run of runs) {
        const version = JSON.stringify(await api("/api/runs/" + run + "/version"));
        if (state.versions[run] !== undefined && state.versions[run] !== version) changed = true;
        state.versions[run] = version;
      }
      const held = route.view === "programs" && (route.query.has("before") || route.query.has("after"));
      if (changed && route.view !== "program" && !held) { state.runs = await api("/api/runs"); await render(true); }
      else if (changed) setLive("live · updated " + new Date().toLocaleTimeString() + (held ? " · this page is held" : ""), false);
    } catch (error) {
      setLive(failureText(error), true);
    }
  }

  window.addEventListener("hashchange", () => { state.lineage = null; render(false); });
  document.addEventListener("DOMContentLoaded", () => {
    render(false);
    if (!EMBED) state.timer = setInterval(poll, POLL_MS);
  });
})();
