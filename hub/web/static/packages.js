// A person's recording coverage and packages (录像覆盖 · 一人一档): how much of the custody was on
// camera and each piece that was not, the packages built (at release or on demand) with their
// parts playing in the page on the person's timeline, and the signed archive for supervisors.
// Loaded after console.js on the person page.
"use strict";

const MAY_PACKAGE = ["operator", "supervisor", "admin"].includes(window.CW.role);
const MAY_ARCHIVE = ["supervisor", "admin"].includes(window.CW.role);

function spanText(start, end) {
  return `${time(start)} – ${time(end)} (${Math.round((end - start) / 1000)} s)`;
}

function coverageBlock(cov) {
  const why = (u) => T("cov_" + u.reason) + (u.cause ? ` · ${T("gap_" + u.cause)}` : "");
  return el("div", { id: "coverage" },
    el("p", {}, `${T("coverage")}: `, el("strong", { id: "coverage-percent" }, `${cov.percent}%`),
      ` · ${T("uncovered")} ${cov.uncovered.length}`),
    cov.uncovered.length ? el("table", { id: "uncovered" },
      el("thead", {}, el("tr", {}, el("th", {}, T("time")), el("th", {}, T("room")), el("th", {}, T("reason")))),
      el("tbody", {}, ...cov.uncovered.map((u) => el("tr", { "data-reason": u.reason },
        el("td", {}, spanText(u.start, u.end)), el("td", {}, u.room_name || u.room || T("cov_position_unknown")), el("td", {}, why(u)))))) : "");
}

function partFigure(pkg, part) {
  const src = `/api/v1/packages/${encodeURIComponent(pkg.id)}/files/${part.file}`;
  return el("figure", { class: "part", "data-file": part.file },
    el("video", { controls: "", preload: "metadata", src, width: 480 }),
    el("figcaption", {}, `${part.room_name} · ${part.camera} · ${spanText(part.start, part.end)}`));
}

function packageBlock(pkg) {
  const head = [`${T("package")} ${time(pkg.created)} · ${T("pkg_" + pkg.status)}`,
    pkg.status === "waiting" ? ` · ${pkg.answered}/${pkg.ranges}` : "",
    pkg.status === "ready" ? ` · ${pkg.parts} ${T("parts")} · ${T("coverage")} ${pkg.percent}%` : "",
    pkg.error ? ` · ${pkg.error}` : ""];
  const archive = pkg.status === "ready" && MAY_ARCHIVE
    ? el("a", { class: "archive", href: `/api/v1/packages/${encodeURIComponent(pkg.id)}/archive` }, T("download")) : "";
  const parts = (pkg.index && pkg.index.parts) || [];
  return el("section", { class: "package", "data-package": pkg.id, "data-status": pkg.status },
    el("h3", {}, ...head, " ", archive),
    pkg.missing || pkg.unanswered ? el("p", { class: "warn" },
      `${T("missing_segments")}: ${(pkg.missing || 0) + (pkg.unanswered || 0)}`) : "",
    ...parts.map((part) => partFigure(pkg, part)));
}

async function renderPackages(person) {
  const box = document.getElementById("packages");
  if (!box) return;
  const id = encodeURIComponent(person);
  const [cov, list] = await Promise.all([api(`/persons/${id}/coverage`), api(`/persons/${id}/packages`)]);
  const full = await Promise.all(list.map((p) => (p.status === "ready" ? api(`/packages/${p.id}`) : p)));
  const build = MAY_PACKAGE ? el("button", { type: "button", id: "build-package", onclick: async (event) => {
    event.target.disabled = true;  // one package per click
    await api(`/persons/${id}/packages`, { method: "POST", body: {} });
    setTimeout(() => renderPackages(person), 1000);
  } }, T("build_package")) : "";
  box.replaceChildren(el("h2", {}, T("recordings"), " ", build), coverageBlock(cov), ...full.map(packageBlock));
  clearTimeout(box.dataset.poll);  // one refresh chain, however often the page is rendered
  if (full.some((p) => ["queued", "waiting"].includes(p.status))) {
    box.dataset.poll = setTimeout(() => renderPackages(person), 5000);
  }
}
