// Reports on screen: the charts of the HTML/PDF reports (trend, by level, by rule, units ranked by
// score, time to acknowledge, 48-hour rectification), 月考评 / 季排名 and a year set against the one
// before. Every bar links to the alerts it counts (/console/alerts with the same period and
// filters). Loaded before console.js, which calls renderReportCharts; SVG drawn here, no library.
"use strict";

function drillUrl(period, params) {
  // the alerts a bar counts: opened in its period, any state, with the bar's filters
  const query = new URLSearchParams({ state: "all", since_ms: period.start_ms, until_ms: period.end_ms });
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") query.set(key, value);
  return "/console/alerts?" + query.toString();
}

function linked(url, title, ...shapes) {
  const link = svg("a", { href: url, class: "drill", "data-drill": url }, ...shapes);
  link.append(svg("title", {}, document.createTextNode(title)));
  return link;
}

function figure(name, title, chart) {
  return el("figure", { class: "chart", "data-chart": name }, el("figcaption", {}, title), chart);
}

function stackedBars(name, buckets, label, period) {
  // one bar per day or month, coloured by the highest level each alert reached
  const width = 600, height = 220, left = 30, bottom = 22;
  const every = Math.ceil(buckets.length / 12); // a label every few bars: readable on a month
  const top = Math.max(1, ...buckets.map((b) => LEVEL_ORDER.reduce((n, lv) => n + b[lv], 0)));
  const step = (width - left) / Math.max(1, buckets.length);
  const box = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "bars" });
  box.append(svgText(2, 14, String(top)), svgText(2, height - bottom, "0"));
  buckets.forEach((b, i) => {
    let y = height - bottom;
    for (const lv of LEVEL_ORDER) {
      if (!b[lv]) continue;
      const h = (height - bottom - 10) * b[lv] / top;
      y -= h;
      const url = drillUrl({ start_ms: b.start_ms, end_ms: b.end_ms }, { reached: lv });
      box.append(linked(url, `${label(b)} ${T("level_" + lv)} ${b[lv]}`,
        svg("rect", { x: (left + i * step + step * 0.1).toFixed(1), y: y.toFixed(1), width: (step * 0.8).toFixed(1), height: h.toFixed(1), fill: LEVEL_COLOUR[lv], "data-level": lv, "data-bucket": label(b) })));
    }
    if (i % every === 0) box.append(svgText(left + i * step + step / 2, height - 6, label(b), { "text-anchor": "middle" }));
  });
  return figure(name, T("chart_" + name), box);
}

function horizontalBars(name, rows, period, title) {
  // rows: {label, value, text, colour, params}; each bar drills down with its params
  const width = 600, line = 26, labelWidth = 190;
  const top = Math.max(1, ...rows.map((r) => r.value));
  const box = svg("svg", { viewBox: `0 0 ${width} ${Math.max(1, rows.length) * line + 6}`, class: "bars" });
  rows.forEach((r, i) => {
    const w = (width - labelWidth - 130) * r.value / top;
    const url = drillUrl(period, r.params);
    box.append(linked(url, `${r.label}: ${r.text ?? r.value}`,
      svgText(0, i * line + 17, r.label.length > 14 ? r.label.slice(0, 13) + "…" : r.label),
      svg("rect", { x: labelWidth, y: i * line + 4, width: Math.max(1, w).toFixed(1), height: line - 8, fill: r.colour || "#1565c0", "data-row": r.key })));
    box.append(svgText(labelWidth + w + 6, i * line + 17, r.text ?? String(r.value)));
  });
  return figure(name, title || T("chart_" + name), box);
}

const pct = (rate) => (rate === null || rate === undefined ? "—" : `${Math.round(rate * 100)}%`);

function unitCharts(r, kind) {
  const period = r.period;
  const ranking = horizontalBars("units", r.by_unit.map((u) => ({ key: u.unit, label: `${u.rank}. ${u.unit}`, value: u.score,
    text: `${u.score}（${u.count} / ${T("late_tickets")} ${u.late}）`, colour: "#5c6bc0", params: { unit: u.unit } })),
  period, `${T(kind === "quarterly" ? "chart_quarter_rank" : kind === "monthly" ? "chart_month_eval" : "chart_units")}`);
  const rates = horizontalBars("rectified", [
    { key: "all", label: T("all"), value: r.rectified_rate ?? 0, text: `${pct(r.rectified_rate)} (${r.rectified_in_48h}/${r.tickets_due})`, colour: "#2e7d32", params: {} },
    ...r.by_unit.filter((u) => u.due).map((u) => ({ key: u.unit, label: u.unit, value: u.rectified_rate ?? 0,
      text: `${pct(u.rectified_rate)} (${u.due - u.late}/${u.due})`, colour: "#2e7d32", params: { unit: u.unit } })),
  ], period);
  return [ranking, rates];
}

async function yearComparison(r, kind, day) {
  // this year's months against last year's, each bar to its month's alerts
  if (kind !== "yearly") return null;
  const before = await api(`/reports/yearly?day=${Number(day.slice(0, 4)) - 1}-06-01`);
  const width = 600, height = 220, left = 30, bottom = 22;
  const months = r.by_month.map((m, i) => [m, before.by_month[i]]);
  const top = Math.max(1, ...months.flat().map((m) => m.total));
  const step = (width - left) / 12;
  const box = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "bars" });
  months.forEach(([now, then], i) => {
    [[then, "#78909c", 0.1], [now, "#42a5f5", 0.45]].forEach(([m, colour, offset]) => {
      const h = (height - bottom - 10) * m.total / top;
      box.append(linked(drillUrl(m, {}), `${m.month}: ${m.total}`, svg("rect", { x: (left + i * step + step * offset).toFixed(1),
        y: (height - bottom - h).toFixed(1), width: (step * 0.35).toFixed(1), height: Math.max(0.5, h).toFixed(1), fill: colour, "data-month": m.month })));
    });
    box.append(svgText(left + i * step + step / 2, height - 6, now.month.slice(5), { "text-anchor": "middle" }));
  });
  box.append(svgText(left, 14, `■ ${before.period.label}`, { fill: "#78909c" }), svgText(left + 90, 14, `■ ${r.period.label}`, { fill: "#42a5f5" }));
  return figure("year", `${T("chart_year")} · ${before.period.label} → ${r.period.label} (${before.total} → ${r.total})`, box);
}

async function renderReportCharts() {
  const kind = document.getElementById("r-kind").value;
  const day = document.getElementById("r-day").value;
  const base = `/api/v1/reports/${kind}?day=${day}&format=`;
  for (const fmt of ["html", "csv", "pdf"]) document.getElementById("r-" + fmt).href = base + fmt;
  const r = await api(`/reports/${kind}?day=${day}`);
  const period = r.period;
  const rate = r.rectified_rate === null ? "—" : `${Math.round(r.rectified_rate * 100)}% (${r.rectified_in_48h}/${r.tickets_due})`;
  // a count that can be listed links its label to the alerts (the cell keeps the bare number)
  const row = (label, value, id, url) => el("tr", {}, el("th", {}, url ? el("a", { href: url, id: id && `${id}-link` }, label) : label),
    el("td", id ? { id } : {}, value));
  const headline = el("table", { id: "report-headline" },
    row(T("total"), r.total, "report-total", drillUrl(period, {})),
    row(T("manual_findings"), r.manual, "report-manual", drillUrl(period, { rule: "MANUAL" })),
    row(T("automatic_alerts"), r.automatic, "report-automatic"),
    row(T("rectified_rate"), rate), row(T("ack_median"), r.ack_median_min ?? "—"), row(T("ack_p90"), r.ack_p90_min ?? "—"),
    row(T("patrol_rounds"), r.patrol.rounds), row(T("patrol_coverage"), r.patrol.cameras ? `${Math.round(100 * r.patrol.covered / r.patrol.cameras)}% (${r.patrol.covered}/${r.patrol.cameras})` : "—"));
  const long = kind === "quarterly" || kind === "yearly";
  const trend = long ? stackedBars("trend", r.by_month, (m) => m.month.slice(2), period)
    : stackedBars("trend", r.trend, (d) => d.day.slice(5), period);
  const levels = horizontalBars("levels", [...LEVEL_ORDER].reverse().map((lv) => ({ key: lv, label: T("level_" + lv), value: r.by_level[lv], colour: LEVEL_COLOUR[lv], params: { reached: lv } })), period);
  const rules = horizontalBars("rules", r.by_rule.slice(0, 15).map((x) => ({ key: x.item ? `${x.rule}/${x.item}` : x.rule,
    label: x.manual ? x.title : `${x.rule} ${x.title}`, value: x.count, colour: x.manual ? "#ef6c00" : "#1565c0",
    params: { rule: x.rule, item: x.item } })), period);
  const ack = horizontalBars("ack", [
    { key: "median", label: T("ack_median"), value: r.ack_median_min ?? 0, text: String(r.ack_median_min ?? "—"), params: { state: "all" } },
    { key: "p90", label: T("ack_p90"), value: r.ack_p90_min ?? 0, text: String(r.ack_p90_min ?? "—"), params: { state: "all" } },
  ], period);
  const year = await yearComparison(r, kind, day);
  document.getElementById("report-summary").replaceChildren(el("h2", {}, `${T("report_" + kind)} · ${period.label}`), headline,
    el("div", { id: "report-charts", class: "charts" }, trend, levels, rules, ...unitCharts(r, kind), ack, year || ""),
    coverageTables(r.coverage));
  const files = await api("/reports/files");
  document.getElementById("report-files").replaceChildren(...files.map((f) =>
    el("li", {}, el("a", { href: `/api/v1/reports/files/${encodeURIComponent(f.name)}` }, f.name))));
}

// Recording coverage of the period's custodies (docs/recording.md): per person (a link to their
// page, where the packages are) and per room; absent while the centre does not record.
function coverageTables(cov) {
  if (!cov || !cov.persons.length) return "";
  const person = (p) => el("tr", {}, el("td", {}, el("a", { href: `/console/persons/${encodeURIComponent(p.person)}` }, p.person)),
    el("td", {}, `${p.percent}%`), el("td", {}, p.custody_min), el("td", {}, p.off_camera_s), el("td", {}, p.pieces));
  const room = (x) => el("tr", {}, el("td", {}, x.room), el("td", {}, x.minutes), el("td", {}, `${x.percent}%`));
  return el("section", { id: "report-coverage" }, el("h3", {}, T("coverage")),
    el("table", { id: "coverage-persons" }, el("tr", {}, ...["person_id", "coverage", "custody_min", "off_camera_s", "uncovered"]
      .map((k) => el("th", {}, T(k)))), ...cov.persons.map(person)),
    el("table", { id: "coverage-rooms" }, el("tr", {}, ...["room", "minutes", "coverage"].map((k) => el("th", {}, T(k)))),
      ...cov.rooms.map(room)));
}
