// casewatch console: renders the hub's API into the page and refreshes on live change notices.
// No build step and no third-party script: it must run on an intranet with nothing to download.
"use strict";

// the page's settings come as JSON, not as a script: the hub's Content-Security-Policy runs no
// inline script
window.CW = JSON.parse(document.getElementById("cw-config").textContent);
const T = (key) => (window.CW.texts[key] || key);
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const PAGE = document.body.dataset.page;
const RANK = { green: 0, blue: 1, yellow: 2, orange: 3, red: 4 };
let selected = new URLSearchParams(location.search).get("alert"); // a link from a reminder
const draft = { alert: null, comment: "", assignee: "" };

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json" }, ...options };
  if (init.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.headers["X-CSRF-Token"] = CSRF;
    init.body = JSON.stringify(init.body);
  }
  const reply = await fetch("/api/v1" + path, init);
  if (reply.status === 401) { // back to this very page (a wall screen's own URL) after logging in
    window.location = "/console/login?next=" + encodeURIComponent(location.pathname + location.search);
    throw new Error("logged out");
  }
  const text = await reply.text();
  const doc = text ? JSON.parse(text) : null;
  if (!reply.ok) throw new Error((doc && doc.detail) || reply.statusText);
  return doc;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

// every time in the centre's time zone (the hub's, as in its SMS and reports), not the browser's
const TIME = new Intl.DateTimeFormat(window.CW.lang === "zh" ? "zh-CN" : "en-GB",
  { timeZone: window.CW.timezone, hour12: false, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit" });
const time = (ms) => (ms ? TIME.format(new Date(ms)) : "");
const hours = (ms) => `${Math.floor(ms / 3600000)}h${String(Math.floor((ms % 3600000) / 60000)).padStart(2, "0")}m`;
const badge = (level) => el("span", { class: `badge ${level}` }, T("level_" + level));
// SVG for the report charts (reports.js) and the floor plans (plans.js)
const SVG_NS = "http://www.w3.org/2000/svg";
const LEVEL_COLOUR = { green: "#2e7d32", blue: "#1565c0", yellow: "#f9a825", orange: "#ef6c00", red: "#c62828" };
const LEVEL_ORDER = ["green", "blue", "yellow", "orange", "red"];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined && value !== null) node.setAttribute(key, value);
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

const svgText = (x, y, text, attrs = {}) => { const t = svg("text", { x, y, class: "ct", ...attrs }); t.textContent = text; return t; };

// the remote-reminder button (findings.js, loaded after this file)
const remindButton = (where) => (typeof window.reminderButton === "function" ? window.reminderButton(where) : "");
const dialogOpen = () => Boolean(document.querySelector("dialog[open]"));

// overview -----------------------------------------------------------------------------------
async function renderOverview() {
  const [rooms, persons, cameras, dossiers, bands, denials, cabinets] = await Promise.all([
    api("/rooms"), api("/persons"), api("/cameras"), api("/dossiers"), api("/bands"), api("/cabinets/denials?limit=20"),
    api("/cabinets"),
  ]);
  document.getElementById("cabinets").replaceChildren(...cabinets.map((c) => el("div",
    { class: `tile cabinet ${c.open_doors.length ? "lv-orange" : "lv-green"}`, "data-cabinet": c.id },
    el("div", { class: "name" }, c.id),
    el("div", { class: "meta" }, c.open_doors.length ? `${T("door_open")}: ${c.open_doors.join(", ")}` : T("doors_closed"),
      ` · ${T("dossier_in")} ${c.dossiers_in.length}`))));
  const roomNames = Object.fromEntries(rooms.map((r) => [r.id, r.name]));
  document.getElementById("rooms").replaceChildren(...rooms.map((r) => el("div",
    { class: `tile room lv-${r.worst_level || "none"}`, "data-room": r.id, "data-level": r.worst_level || "" },
    el("div", { class: "name" }, r.name, T("type_" + r.type) !== r.name ? el("span", { class: "meta" }, ` · ${T("type_" + r.type)}`) : ""),
    el("div", { class: "meta" }, `${T("persons")} ${r.persons} · ${T("detainees")} ${r.detainees.length} · ${T("staff")} ${r.staff_bands.length}`),
    r.worst_level ? badge(r.worst_level) : "", remindButton({ room: r.id }),
  )));
  const where = Object.fromEntries(bands.filter((b) => b.person).map((b) => [b.person, b.room]));
  const now = Date.now();
  document.querySelector("#custody tbody").replaceChildren(...persons.map((p) => {
    const timer = (p.timers || []).find((x) => x.limit_ms) || null;
    const share = timer ? Math.min(1, (now - timer.started) / timer.limit_ms) : 0;
    const colour = timer && timer.level ? timer.level : "";
    return el("tr", { "data-person": p.id },
      el("td", {}, el("a", { href: `/console/persons/${encodeURIComponent(p.id)}` }, p.name)), el("td", {}, T("proc_" + p.procedure)), el("td", {}, time(p.arrived)),
      el("td", {}, el("span", { class: `bar ${colour}`, title: timer ? `${timer.rule}` : "" },
        el("span", { style: `width:${(share * 100).toFixed(1)}%` })), " ", hours(now - p.arrived),
        timer ? ` / ${hours(timer.limit_ms)}` : ""),
      el("td", {}, roomNames[where[p.id]] || where[p.id] || ""));
  }));
  document.getElementById("cameras").replaceChildren(...cameras.map((c) => el("div",
    { class: `tile camera ${c.state === "online" ? "lv-green" : c.state === "ended" ? "lv-blue" : "lv-orange"}`, "data-camera": c.id },
    el("div", { class: "name" }, c.id), el("div", { class: "meta" }, T("cam_" + c.state), c.detail ? ` · ${c.detail}` : ""),
    c.has_snapshot ? el("img", { class: "snap", alt: c.id, title: T("zone_editor"), src: `/api/v1/cameras/${encodeURIComponent(c.id)}/snapshot?t=${c.snapshot_ms}`,
      onclick: (event) => openZoneEditor(c.id, event.currentTarget.src) }) : "",
  )));
  document.querySelector("#dossiers tbody").replaceChildren(...dossiers.map((d) => el("tr",
    { class: "clickable", "data-dossier": d.id, onclick: () => showMoves(d.id) },
    el("td", {}, d.id), el("td", {}, d.case || ""), el("td", {}, `${d.cabinet || ""} ${d.slot || ""}`),
    el("td", {}, T("dossier_" + d.state)), el("td", {}, time(d.since)),
    el("td", {}, d.last_access ? `${d.last_access.action} ${d.last_access.officers.join(", ")}` : ""),
    el("td", {}, d.overdue ? [badge(d.overdue), ` ${T("overdue")}`] : ""))));
  document.querySelector("#denials tbody").replaceChildren(...denials.map((x) => el("tr", { "data-denial": x.pos },
    el("td", {}, time(x.ts)), el("td", {}, x.cabinet || ""), el("td", {}, x.reason),
    el("td", {}, x.officers.join(", ")), el("td", {}, x.document || ""))));
}

async function showMoves(id) {
  const d = await api(`/dossiers/${encodeURIComponent(id)}`);
  document.getElementById("dossier-moves").replaceChildren(el("h3", {}, `${T("moves")} · ${d.id}`),
    el("ol", {}, d.moves.map((m) => el("li", { "data-kind": m.kind }, `${time(m.ts)} ${m.cabinet || ""} ${m.kind === "cabinet.slot"
      ? `${m.state} ${m.scanned ? "" : "(unscanned)"}` : `${m.action || ""} ${m.granted ? "" : "✗ " + m.reason} ${(m.officers || []).join(", ")}`}`))));
}

// zone drawing: points clicked on a camera's latest snapshot (the agent draws its zones on it)
// become a zone in fractions of the picture, as the agent file wants them; corners are dragged to
// move them and double-clicked to remove them (an existing zone is edited after "show") --------
const zone = { camera: null, points: [], drag: null, pressed: null };

function openZoneEditor(camera, src) {
  zone.camera = camera;
  zone.points = [];
  document.getElementById("zone-camera").textContent = camera;
  document.getElementById("zone-image").src = src;
  const section = document.getElementById("zone-editor");
  section.hidden = false;
  drawZone();
  section.scrollIntoView();
}

function drawZone(problem) {
  const ns = "http://www.w3.org/2000/svg";
  const shape = document.createElementNS(ns, zone.points.length > 2 ? "polygon" : "polyline");
  shape.setAttribute("points", zone.points.map(([x, y]) => `${x},${y}`).join(" "));
  shape.setAttribute("class", "zone-shape");
  const dots = zone.points.map(([x, y], index) => {
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", x); dot.setAttribute("cy", y); dot.setAttribute("r", 0.012);
    dot.setAttribute("class", "zone-point");
    dot.dataset.index = index;
    return dot;
  });
  document.getElementById("zone-svg").replaceChildren(shape, ...dots);
  const polygon = zone.points.map(([x, y]) => `[${x.toFixed(3)}, ${y.toFixed(3)}]`).join(", ");
  document.getElementById("zone-yaml").value = problem ? `✗ ${problem}`
    : zone.points.length < 3 ? "" : `# ${zone.camera} · zones:\n- id: zone-1\n  role: area\n  polygon: [${polygon}]`;
}

function zonePoint(event) {
  const box = document.getElementById("zone-svg").getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, v));
  return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
}

function zoneClick(event) {
  if (zone.drag !== null) { zone.drag = null; return; }  // a press on a corner never adds one
  zone.points.push(zonePoint(event));
  drawZone();
}

function zonePress(event) {
  zone.pressed = null;
  if (!event.target.classList.contains("zone-point")) return;
  zone.drag = zone.pressed = Number(event.target.dataset.index);
  event.currentTarget.setPointerCapture(event.pointerId);
  event.preventDefault();
}

function zoneMove(event) {
  if (zone.drag === null || !(event.buttons & 1)) return;
  zone.points[zone.drag] = zonePoint(event);
  drawZone();
}

function zoneRemove() {
  // the svg captured the pointer on the press, so the double click's target is the svg: use the press
  if (zone.pressed === null) return;
  zone.points.splice(zone.pressed, 1);
  zone.drag = zone.pressed = null;
  drawZone();
}

function zonePaste() {
  try {
    const points = JSON.parse(document.getElementById("zone-paste").value);
    const fine = Array.isArray(points) && points.every((p) => Array.isArray(p) && p.length === 2
      && p.every((v) => typeof v === "number" && v >= 0 && v <= 1));
    if (!fine) throw new Error(T("zone_fractions"));
    zone.points = points;
    drawZone();
  } catch (error) {
    drawZone(error.message);
  }
}

if (document.getElementById("zone-editor")) {
  const svg = document.getElementById("zone-svg");
  svg.addEventListener("click", zoneClick);
  svg.addEventListener("pointerdown", zonePress);
  svg.addEventListener("pointermove", zoneMove);
  svg.addEventListener("dblclick", zoneRemove);
  document.getElementById("zone-undo").addEventListener("click", () => { zone.points.pop(); drawZone(); });
  document.getElementById("zone-clear").addEventListener("click", () => { zone.points = []; drawZone(); });
  document.getElementById("zone-show").addEventListener("click", zonePaste);
}

// alerts -------------------------------------------------------------------------------------
// a report chart's drill-down arrives as URL parameters: the selects take theirs, the rest (the
// period, the highest level reached, a manual finding's item) stay as a removable note
const DRILL_KEYS = ["since_ms", "until_ms", "reached", "item"];
const drill = {};
function takeDrill() {
  const given = new URLSearchParams(location.search);
  for (const name of ["level", "state", "rule", "room", "unit"]) {
    const field = document.getElementById("f-" + name);
    if (given.get(name) && field) {
      if (field.tagName === "SELECT" && ![...field.options].some((o) => o.value === given.get(name))) {
        field.append(el("option", { value: given.get(name) }, given.get(name)));
      }
      field.value = given.get(name);
    }
  }
  for (const key of DRILL_KEYS) if (given.get(key)) drill[key] = given.get(key);
  const note = document.getElementById("drill");
  if (!note) return;
  const parts = [];
  if (drill.since_ms) parts.push(`${time(Number(drill.since_ms))} – ${time(Number(drill.until_ms))}`);
  if (drill.reached) parts.push(`${T("reached")} ${T("level_" + drill.reached)}`);
  if (drill.item) parts.push(drill.item);
  note.hidden = !parts.length;
  note.replaceChildren(`${T("drill")}: ${parts.join(" · ")} `, el("button", { type: "button", id: "drill-clear",
    onclick: () => { for (const key of DRILL_KEYS) delete drill[key]; note.hidden = true; refresh(); } }, "✕"));
}

function filters() {
  const params = new URLSearchParams();
  for (const name of ["level", "state", "rule", "room", "unit"]) {
    const value = document.getElementById("f-" + name).value;
    if (value && value !== "all") params.set(name, value);
  }
  for (const [key, value] of Object.entries(drill)) params.set(key, value);
  if (!params.has("state") && document.getElementById("f-state").value !== "all") params.set("open", "true");
  params.set("limit", String(ALERT_ROWS));
  return params.toString();
}

const roomName = (id) => {
  const option = id && document.querySelector(`#f-room option[value="${CSS.escape(id)}"]`);
  return option ? option.textContent : id || "";
};

const ALERT_ROWS = 1000;
async function renderAlerts() {
  const alerts = await api("/alerts?" + filters());
  const more = document.getElementById("more-alerts");
  if (more) more.hidden = alerts.length < ALERT_ROWS; // a long drill-down is cut: say so
  alerts.sort((a, b) => RANK[b.level] - RANK[a.level] || b.opened_ms - a.opened_ms);
  document.querySelector("#alerts tbody").replaceChildren(...alerts.map((a) => el("tr",
    { class: `clickable ${a.id === selected ? "selected" : ""}`, "data-alert": a.id, "data-level": a.level, "data-state": a.state,
      onclick: () => { selected = a.id; renderAlerts(); } },
    el("td", {}, badge(a.level)), el("td", {}, `${a.rule} ${a.title}`), el("td", {}, roomName(a.context.room)),
    el("td", {}, time(a.opened_ms)), el("td", { class: "state" }, T("state_" + a.state)))));
  if (selected) renderDetail();
}

const ACTIONS = {
  open: ["acknowledge", "assign"], acknowledged: ["assign", "rectify"], assigned: ["assign", "rectify"],
  rectified: ["verify", "reject"], verified: ["close"], closed: [],
};
const SUPERVISOR = ["verify", "reject", "close"];

let detailRound = 0;

async function renderDetail() {
  const round = ++detailRound;
  const a = await api("/alerts/" + encodeURIComponent(selected));
  if (round !== detailRound) return; // a newer redraw is on its way: never draw older data over it
  const box = document.getElementById("detail");
  box.hidden = false;
  if (!document.getElementById("detail-head")) {
    box.replaceChildren(el("div", { id: "detail-head" }), el("div", { id: "detail-form" }), el("div", { id: "detail-rest" }));
  }
  document.getElementById("detail-head").replaceChildren(
    el("h3", {}, badge(a.level), " ", a.title), el("p", {}, `${T("state")}: `, el("span", { id: "detail-state" }, T("state_" + a.state))),
    el("p", {}, `${T("basis")}: ${a.basis}`), el("p", {}, `${T("room")}: ${roomName(a.context.room)} · ${time(a.opened_ms)}`));
  renderActions(a);
  document.getElementById("detail-rest").replaceChildren(
    el("h4", {}, T("history")),
    el("ol", { id: "history" }, a.history.map((h) => el("li", { "data-action": h.action },
      `${time(h.at_ms)} ${h.by} ${T(h.action)} ${h.comment || ""}`))),
    el("h4", {}, T("evidence")),
    el("ul", { id: "evidence" }, (a.evidence || []).map((e) => el("li", { "data-pos": e.pos },
      `#${e.pos} ${time(e.ts)} ${e.kind} · ${e.source || ""}`,
      ...(e.files || []).map(evidenceFile)))),
    el("div", { id: "pictures" }, (a.pictures || []).map((p) => el("figure", {},
      el("img", { class: "snap", alt: p.camera, src: `/api/v1/alerts/${encodeURIComponent(a.id)}/pictures/${encodeURIComponent(p.name)}` }),
      el("figcaption", {}, `${p.camera} · ${time(p.received_ms)}`)))),
    el("h4", {}, T("notifications")),
    el("ul", {}, a.notifications.map((n) => el("li", {}, `${n.channel} → ${n.recipient}: ${n.state}`))),
  );
}

// The comment box and the buttons are drawn anew only when the alert or its state changed: live
// updates redraw the panel while the operator types, and a replaced box would lose the keystrokes.
function renderActions(a) {
  const form = document.getElementById("detail-form");
  if (form.dataset.alert === a.id && form.dataset.state === a.state) return;
  if (draft.alert !== a.id) Object.assign(draft, { alert: a.id, comment: "", assignee: "" });
  form.dataset.alert = a.id;
  form.dataset.state = a.state;
  const mayAct = window.CW.role !== "viewer";
  const comment = el("textarea", { id: "comment", placeholder: T("comment"), oninput: (e) => { draft.comment = e.target.value; } });
  comment.value = draft.comment;
  const assignee = el("input", { id: "assignee", placeholder: T("assignee"), oninput: (e) => { draft.assignee = e.target.value; } });
  assignee.value = draft.assignee;
  const buttons = (ACTIONS[a.state] || [])
    .filter((action) => mayAct && (!SUPERVISOR.includes(action) || ["supervisor", "admin"].includes(window.CW.role)))
    .map((action) => el("button", { id: "act-" + action, type: "button", onclick: () => act(a.id, action, draft.comment, draft.assignee) }, T(action)));
  form.replaceChildren(...(mayAct ? [comment, assignee, el("div", {}, buttons)] : []), el("p", { id: "action-error", class: "error" }));
}

// An agent's own evidence (protocol/files.py): the snapshot at the condition's start is shown; the
// clip plays in the page when it was cut from the recording (H.264, docs/recording.md) and is
// offered as a download too (the vision pipeline's own clips are MPEG-4 Part 2: players only).
function evidenceFile(f) {
  const label = `${T(f.kind)} ${f.named}`;
  if (!f.url) return el("div", { class: "evidence-file pending", "data-kind": f.kind }, `${label} · ${T("file_pending")}`);
  if (f.kind === "snapshot") {
    return el("figure", { class: "evidence-file", "data-kind": f.kind },
      el("img", { class: "snap", alt: label, src: f.url }), el("figcaption", {}, label));
  }
  return el("div", { class: "evidence-file", "data-kind": f.kind },
    el("video", { controls: "", preload: "metadata", src: f.url, width: 360 }), el("br"),
    el("a", { href: f.url, download: f.path.split("/").pop() }, T("download_clip")), ` · ${f.named}`);
}

async function act(id, action, comment, assignee) {
  const body = { action, comment };
  if (action === "assign") body.assignee = assignee;
  try {
    await api(`/alerts/${encodeURIComponent(id)}/actions`, { method: "POST", body });
    draft.comment = "";
    const box = document.getElementById("comment");
    if (box) box.value = "";
  } catch (error) {
    document.getElementById("action-error").textContent = `${T("action_failed")}: ${error.message}`;
  }
}

// a person's timeline -------------------------------------------------------------------------
async function renderPerson() {
  const id = document.querySelector(".timeline").dataset.person;
  const doc = await api(`/persons/${encodeURIComponent(id)}/timeline`);
  const p = doc.person;
  document.getElementById("person-head").replaceChildren(el("p", {},
    `${p.name} · ${T("proc_" + p.procedure)} · ${T("arrived")} ${time(p.arrived)}`,
    p.released ? ` · ${T("release")} ${time(p.released)}` : "", " ", p.released ? "" : remindButton({ person: id })));
  const detail = (s) => {
    if (s.type === "room") return `${s.room_name} ${T("until")} ${time(s.left)} · ${T("present")}: ${s.staff.join("、") || T("none")}`;
    if (s.type === "alert") return [badge(s.level), ` ${s.rule} ${s.title} · ${T("state_" + s.state)}`];
    if (s.type === "approval") return `${s.approval} ${s.hours ?? ""} · ${s.approved_by}`;
    if (s.type === "arrival") return T("proc_" + s.procedure);
    return [s.band, s.note, s.reason, s.by].filter(Boolean).join(" · ");
  };
  const label = (s) => T(s.type === "room" ? "room_step" : s.type === "alert" ? "alert_step" : s.type);
  document.querySelector("#steps tbody").replaceChildren(...doc.steps.map((s) => el("tr", { "data-step": s.type },
    el("td", {}, time(s.ts)), el("td", {}, label(s)), el("td", {}, detail(s)))));
  if (typeof renderPackages === "function") await renderPackages(id);  // packages.js
}

// reports: hub/web/static/reports.js (renderReportCharts)

// administration (admins only): accounts and rules -------------------------------------------
const ROLES = ["viewer", "operator", "supervisor", "admin"];
async function adminCall(errorId, path, options) {
  const error = document.getElementById(errorId);
  error.textContent = "";
  try {
    const done = await api(path, options);
    await renderAdmin();
    return done;
  } catch (e) { error.textContent = e.message; return null; }
}

function userRow(u) {
  const fileUser = u.source === "file";
  const role = el("select", { class: "u-role", disabled: fileUser ? "" : null },
    ...ROLES.map((r) => el("option", { value: r, ...(r === u.role ? { selected: "" } : {}) }, T("role_" + r))));
  const name = el("input", { class: "u-name", value: u.display_name || "", disabled: fileUser ? "" : null });
  const patch = (body) => adminCall("users-error", `/users/${encodeURIComponent(u.username)}`, { method: "PATCH", body });
  const actions = fileUser ? [] : [
    el("button", { type: "button", class: "u-save", onclick: () => patch({ role: role.value, display_name: name.value }) }, T("save")),
    el("button", { type: "button", class: "u-toggle", onclick: () => patch({ disabled: !u.disabled }) }, T(u.disabled ? "enable" : "disable")),
    el("button", { type: "button", class: "u-password", onclick: () => {
      const password = window.prompt(T("new_password"));
      if (password) patch({ password });
    } }, T("reset_password")),
  ];
  return el("tr", { "data-user": u.username, "data-role": u.role, "data-disabled": String(u.disabled) },
    el("td", {}, u.username), el("td", {}, name), el("td", {}, role),
    el("td", {}, T(u.disabled ? "account_disabled" : "account_active")), el("td", {}, T("source_" + u.source)),
    el("td", {}, ...actions));
}

function ruleRow(r) {
  const enabled = el("input", { type: "checkbox", class: "r-enabled", ...(r.enabled ? { checked: "" } : {}) });
  const inputs = r.stages.map((s, i) => {
    const field = s.after_ms !== null ? "after_ms" : s.at !== null ? "at" : s.count !== null ? "count" : null;
    if (!field) return null;
    const value = field === "after_ms" ? s.after_ms / 1000 : s[field];
    return { level: s.level, field, input: el("input", { type: "number", min: "0", step: "any", class: "r-stage", "data-level": s.level, "data-stage": i, value }) };
  });
  const limit = r.limit_ms !== null ? el("input", { type: "number", min: "1", class: "r-limit", value: r.limit_ms / 1000 }) : null;
  const comment = el("input", { class: "r-comment", placeholder: T("comment") });
  const save = () => {
    const stages = r.stages.map((s, i) => {
      const given = inputs[i];
      const out = { level: s.level };
      if (given) out[given.field] = given.field === "after_ms" ? Math.round(Number(given.input.value) * 1000) : Number(given.input.value);
      return out;
    });
    const body = { enabled: enabled.checked, stages, comment: comment.value };
    if (limit) body.limit_ms = Math.round(Number(limit.value) * 1000);
    return adminCall("rules-error", `/rules/${encodeURIComponent(r.id)}`, { method: "PUT", body });
  };
  return el("tr", { "data-rule": r.id, "data-enabled": String(r.enabled), "data-overridden": String(r.overridden) },
    el("td", {}, `${r.id} ${r.title}`, r.overridden ? el("div", { class: "meta" }, T("changed_from_file")) : ""),
    el("td", {}, enabled),
    el("td", {}, ...(limit ? [el("label", {}, `${T("limit")} `, limit, " s"), " "] : []),
      ...inputs.filter(Boolean).map((x) => el("label", {}, badge(x.level), " ", x.input, x.field === "after_ms" ? " s " : " "))),
    el("td", {}, comment),
    el("td", {}, el("button", { type: "button", class: "r-save", onclick: save }, T("save"))));
}

async function renderAdmin() {
  const [users, rules] = await Promise.all([api("/users"), api("/rules")]);
  document.querySelector("#users tbody").replaceChildren(...users.map(userRow));
  document.querySelector("#rules tbody").replaceChildren(...rules.map(ruleRow));
}

if (PAGE === "admin") {
  document.getElementById("new-user").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (id) => document.getElementById(id).value;
    const body = { username: value("nu-username"), role: value("nu-role"), password: value("nu-password") };
    if (value("nu-display")) body.display_name = value("nu-display");
    if (await adminCall("users-error", "/users", { method: "POST", body })) document.getElementById("new-user").reset();
  });
  renderAdmin().catch((e) => console.error(e)); // not redrawn by live notices: forms are being typed in
}

// patrol wall: every camera, the riskiest rooms first, a page of N×N tiles at a time -----------
const patrol = { page: 0, paused: false, order: [], rooms: {}, cameras: {}, next: 0, enlarged: null, watched: 0,
  round: { started: Date.now(), seen: new Set() } };

function countRound(shown) {
  // a round ends once every camera on the wall has been shown: logged as a patrol record
  shown.forEach((id) => patrol.round.seen.add(id));
  if (!patrol.order.length || !patrol.order.every((id) => patrol.round.seen.has(id))) return;
  const done = patrol.round;
  patrol.round = { started: Date.now(), seen: new Set() };
  const body = { started: done.started, seconds: Math.round((Date.now() - done.started) / 1000), cameras: [...done.seen],
    screen: WALL.screen || "" };
  api("/patrol/rounds", { method: "POST", body }).then(() => { document.getElementById("wall").dataset.rounds =
    String(Number(document.getElementById("wall").dataset.rounds || 0) + 1); }).catch((e) => console.error(e));
}

function cameraRisk(room) {
  // an open alert first (the worse, the earlier), then an interrogation going on, then detainees
  if (!room) return 0;
  let score = room.worst_level ? 100 + 10 * RANK[room.worst_level] : 0;
  if (room.type === "interrogation" && room.persons > 0) score += 50;
  if (room.detainees.length) score += 20;
  if (room.persons > 0) score += 5;
  return score;
}

const WALL = document.getElementById("wall-config") ? JSON.parse(document.getElementById("wall-config").textContent) : {};

async function renderPatrol() {
  let rooms, cameras;
  try {
    [rooms, cameras] = await Promise.all([api("/rooms"), api("/cameras")]);
  } catch (error) { // the hub restarting, the network down: keep patrolling what is known, say so
    patrol.offline = true;
    drawWall();
    throw error;
  }
  patrol.offline = false;
  if (WALL.agents && WALL.agents.length) cameras = cameras.filter((c) => WALL.agents.includes(c.agent));
  patrol.rooms = Object.fromEntries(rooms.map((r) => [r.id, r]));
  patrol.cameras = Object.fromEntries(cameras.map((c) => [c.id, c]));
  const name = (c) => (patrol.rooms[c.room] ? patrol.rooms[c.room].name : c.room || "");
  patrol.order = cameras
    .map((c) => ({ c, risk: cameraRisk(patrol.rooms[c.room]) }))
    .sort((a, b) => b.risk - a.risk || (a.c.agent || "").localeCompare(b.c.agent || "")
      || name(a.c).localeCompare(name(b.c)) || a.c.id.localeCompare(b.c.id))
    .map((x) => x.c.id);
  drawWall();
}

const gridSize = () => Number(document.getElementById("patrol-grid").value);
const snapshotUrl = (id, stamp) => `/api/v1/cameras/${encodeURIComponent(id)}/snapshot?t=${stamp}`;

function drawWall() {
  const n = gridSize();
  const per = n * n;
  const pages = Math.max(1, Math.ceil(patrol.order.length / per));
  patrol.page = ((patrol.page % pages) + pages) % pages;
  const shown = patrol.order.slice(patrol.page * per, patrol.page * per + per);
  const wall = document.getElementById("wall");
  wall.style.gridTemplateColumns = `repeat(${n}, 1fr)`;
  wall.style.gridTemplateRows = `repeat(${n}, 1fr)`; // the whole page on one screen
  wall.dataset.page = String(patrol.page);
  // a tile redrawn keeps its picture element: an unchanged picture is not fetched again
  const pictures = Object.fromEntries([...wall.querySelectorAll(".cam")].map((t) => [t.dataset.camera, t.querySelector("img")]));
  wall.replaceChildren(...shown.map((id, i) => cameraTile(patrol.cameras[id], i + 1, pictures[id])));
  if (!patrol.enlarged && !document.hidden) countRound(shown); // only what is really on the screen
  document.getElementById("patrol-status").textContent = patrol.order.length
    ? `${T("patrol_page")} ${patrol.page + 1}/${pages} · ${patrol.order.length} ${T("cameras")}`
      + (patrol.paused ? ` · ${T("patrol_pause")}` : "")
    : T("patrol_none");
  if (patrol.enlarged) showEnlarged();
}

function tilePicture(c, kept) {
  // the browser paints the old picture until the new one has loaded: no blank, no extra element
  if (!c.has_snapshot) return "";
  const src = snapshotUrl(c.id, c.snapshot_ms);
  if (!kept) return el("img", { alt: c.id, src });
  if (kept.getAttribute("src") !== src) kept.src = src;
  return kept;
}

function cameraTile(c, index, kept) {
  const room = patrol.rooms[c.room] || null;
  const age = c.snapshot_ms ? Math.max(0, Math.round((Date.now() - c.snapshot_ms) / 1000)) : null;
  const stale = age === null || age > 30 || patrol.offline;
  const level = room && room.worst_level ? `lv-${room.worst_level}` : "";
  return el("div", { class: `cam ${level}${stale ? " stale" : ""}${c.state === "online" ? "" : " down"}`,
    "data-camera": c.id, "data-room": c.room || "", onclick: () => enlarge(c.id) },
  tilePicture(c, kept),
  el("span", { class: "num" }, String(index)), remindButton({ camera: c.id }),
  patrol.offline ? el("span", { class: "offline-note" }, T("offline")) : "",
  el("div", { class: "label" }, room || c.room ? `${c.id} · ${room ? room.name : c.room}` : c.id,
    room ? el("span", { class: "meta" }, ` · ${T("persons")} ${room.persons} · ${T("detainees")} ${room.detainees.length}`
      + ` · ${T("staff")} ${room.staff_bands.length}`) : "",
    room && room.worst_level ? [" ", badge(room.worst_level)] : "",
    el("span", { class: "meta" }, ` · ${T("cam_" + c.state)}`),
    el("span", { class: stale ? "stale-note" : "meta" },
      age === null ? ` · ${T("no_picture")}` : ` · ${T("picture_age")} ${age}${T("seconds_ago")}`)));
}

function enlarge(id) {
  patrol.enlarged = id;
  patrol.watched = 0;
  showEnlarged();
}

function closeEnlarged() {
  patrol.enlarged = null; // the watch is no longer renewed: the agent slows down within 10 s
  document.getElementById("enlarged").hidden = true;
}

function renewWatch() {
  // while a camera is enlarged its agent sends pictures twice a second (protocol/watch.py)
  if (!patrol.enlarged || Date.now() - patrol.watched < 3000) return;
  patrol.watched = Date.now();
  api(`/cameras/${encodeURIComponent(patrol.enlarged)}/watch`, { method: "POST", body: {} }).catch((e) => console.error(e));
}

function showEnlarged() {
  // the enlarged tile asks the hub for the camera's newest picture twice a second
  const box = document.getElementById("enlarged");
  const c = patrol.cameras[patrol.enlarged];
  if (!c) { box.hidden = true; return; }
  box.hidden = false;
  box.dataset.camera = c.id;
  const room = patrol.rooms[c.room];
  const label = `${c.id}${room || c.room ? ` · ${room ? room.name : c.room}` : ""} · ${T("cam_" + c.state)}`;
  const img = box.querySelector("img");
  if (img && img.alt === c.id) { // the same camera: a new picture into the same element, no blank
    const next = new Image();
    next.onload = () => { img.src = next.src; };
    next.src = snapshotUrl(c.id, Date.now());
    box.querySelector(".label").textContent = label;
    return;
  }
  box.replaceChildren(el("img", { alt: c.id, src: snapshotUrl(c.id, Date.now()) }), el("div", { class: "label" }, label),
    el("div", { class: "enlarged-tools" }, remindButton({ camera: c.id })));
}

function patrolKey(event) {
  if (["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName) || dialogOpen()) return;
  const grid = document.getElementById("patrol-grid");
  if (event.key === " ") { event.preventDefault(); togglePause(); }
  else if (event.key === "ArrowRight" || event.key === "PageDown") { patrol.page += 1; turned(); }
  else if (event.key === "ArrowLeft" || event.key === "PageUp") { patrol.page -= 1; turned(); }
  else if (event.key === "Escape") closeEnlarged();
  else if (/^[1-9]$/.test(event.key)) {
    const tile = document.querySelectorAll("#wall .cam")[Number(event.key) - 1];
    if (tile) enlarge(tile.dataset.camera);
  } else if (event.key === "+" || event.key === "-") {
    grid.value = String(Math.min(6, Math.max(1, gridSize() + (event.key === "+" ? 1 : -1)))); turned();
  }
}

function turned() {
  const dwell = Math.min(600, Math.max(2, Number(document.getElementById("patrol-dwell").value) || 10));
  patrol.next = Date.now() + 1000 * dwell;
  drawWall();
}

function togglePause() {
  patrol.paused = !patrol.paused;
  document.getElementById("patrol-pause").textContent = T(patrol.paused ? "patrol_resume" : "patrol_pause");
  turned();
}

if (PAGE === "patrol") {
  document.addEventListener("keydown", patrolKey);
  document.getElementById("patrol-pause").addEventListener("click", togglePause);
  document.getElementById("patrol-grid").addEventListener("change", turned);
  document.getElementById("enlarged").addEventListener("click", closeEnlarged);
  turned();
  setInterval(() => {
    if (patrol.enlarged) { renewWatch(); showEnlarged(); }
  }, 500);
  setInterval(() => { // a page behind the enlarged picture, or on a hidden tab, is not patrolled
    if (!patrol.paused && !patrol.enlarged && !dialogOpen() && !document.hidden && Date.now() >= patrol.next) {
      patrol.page += 1; turned();
    }
  }, 1000);
}

// live ---------------------------------------------------------------------------------------
const render = { overview: renderOverview, alerts: renderAlerts, person: renderPerson, reports: () => renderReportCharts(), patrol: renderPatrol,
  plans: () => renderPlans() }[PAGE];
let pending = null;
function refresh() {
  // the wall gets a notice per camera picture: redrawn at most once a second
  if (pending) return;
  pending = setTimeout(() => { pending = null; render().catch((e) => console.error(e)); }, PAGE === "patrol" ? 1000 : 100);
}

function connect() {
  const stream = new EventSource("/api/v1/stream");
  const light = document.getElementById("live");
  // the browser reconnects by itself (a hub restart, a network drop); each open fetches again, each
  // error too, so the page says it is offline instead of freezing silently
  stream.onopen = () => { light.className = "live on"; light.title = T("live"); refresh(); };
  stream.addEventListener("change", (event) => {
    // a camera's new picture matters to the pages that show pictures; the reports only to alerts
    let doc = {};
    try { doc = JSON.parse(event.data || "{}"); } catch (e) { doc = {}; }
    if (doc.snapshot && !["patrol", "overview"].includes(PAGE)) return;
    if (PAGE === "reports" && !(doc.alerts && doc.alerts.length)) return;
    refresh();
  });
  stream.onerror = () => { light.className = "live off"; light.title = T("offline"); refresh(); };
}

if (render) {
  if (PAGE === "alerts") { takeDrill(); document.getElementById("filters").addEventListener("change", refresh); }
  if (PAGE === "reports") document.getElementById("report-form").addEventListener("change", refresh);
  render().catch((e) => console.error(e));
  connect();
  setInterval(refresh, 30000); // the time-in-centre bars move even when nothing happens
}

// a print button (the person's timeline) without an inline handler
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}
