// Live floor plans (平面图): each room drawn on the centre's plan in the colour of its worst open
// alert, with its occupancy, a dot per band last heard in it (detainees, staff, others), and the
// cameras as markers that open their picture. A click on a room lists its people, cameras and
// open alerts. Admins upload plans and draw rooms and cameras here. Loaded before console.js,
// which calls renderPlans on every live change.
"use strict";

const PLAN_FILL = { green: "rgba(46,125,50,.30)", blue: "rgba(21,101,192,.35)", yellow: "rgba(249,168,37,.40)",
  orange: "rgba(239,108,0,.45)", red: "rgba(198,40,40,.55)" };
const plans = { list: [], current: null, rooms: {}, bands: [], persons: {}, officers: {}, cameras: {}, alerts: [],
  picked: null, camera: null, edit: null };

async function renderPlans() {
  const [list, rooms, bands, persons, officers, cameras, alerts] = await Promise.all([api("/plans"), api("/rooms"),
    api("/bands"), api("/persons"), api("/officers"), api("/cameras"), api("/alerts?open=true&limit=1000")]);
  Object.assign(plans, { list, rooms: Object.fromEntries(rooms.map((r) => [r.id, r])), bands, alerts,
    persons: Object.fromEntries(persons.map((p) => [p.id, p])), officers: Object.fromEntries(officers.map((o) => [o.id, o])),
    cameras: Object.fromEntries(cameras.map((c) => [c.id, c])) });
  const select = document.getElementById("plan-select");
  const wanted = plans.current || new URLSearchParams(location.search).get("plan") || (list[0] && list[0].id);
  select.replaceChildren(...list.map((p) => el("option", { value: p.id, ...(p.id === wanted ? { selected: "" } : {}) }, p.name || p.id)));
  plans.current = list.some((p) => p.id === wanted) ? wanted : null;
  const cameraChoice = document.getElementById("pe-camera");
  if (cameraChoice && !cameraChoice.options.length) {
    cameraChoice.replaceChildren(...Object.keys(plans.cameras).sort().map((id) => el("option", { value: id }, id)));
  }
  drawPlan();
  if (plans.picked) showRoom(plans.picked);
}

const currentPlan = () => plans.list.find((p) => p.id === plans.current) || null;

function drawPlan() {
  const plan = currentPlan();
  const canvas = document.getElementById("plan-canvas");
  if (!plan || !plan.sha256) { canvas.replaceChildren(el("p", { class: "meta", id: "plan-empty" }, T("plan_none"))); return; }
  const layout = plans.edit && plans.edit.plan === plan.id ? plans.edit : plan;
  const W = plan.width, H = plan.height;
  let img = canvas.querySelector("img");
  if (!img || img.dataset.sha !== plan.sha256) {
    img = el("img", { alt: plan.name || plan.id, "data-sha": plan.sha256, src: `/api/v1/plans/${encodeURIComponent(plan.id)}/image?v=${plan.sha256.slice(0, 12)}` });
  }
  const layer = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plan-layer", "data-plan": plan.id, onclick: null });
  layer.addEventListener("click", planClick);
  const scale = Math.max(W, H) / 1000; // text and dots the same size on any picture
  for (const [roomId, polygon] of Object.entries(layout.rooms || {})) layer.append(roomShape(roomId, polygon, W, H, scale));
  for (const [cameraId, point] of Object.entries(layout.cameras || {})) layer.append(cameraMarker(cameraId, point, W, H, scale));
  if (plans.edit && plans.edit.points.length) {
    layer.append(svg("polyline", { points: plans.edit.points.map(([x, y]) => `${x * W},${y * H}`).join(" "), class: "plan-drawing" }));
  }
  canvas.replaceChildren(img, layer);
  document.getElementById("plan-status").textContent = `${plan.name || plan.id} · ${Object.keys(layout.rooms || {}).length} ${T("rooms")}`;
}

function roomShape(roomId, polygon, W, H, scale) {
  const room = plans.rooms[roomId] || { id: roomId, name: roomId, persons: 0, detainees: [], staff_bands: [] };
  const points = polygon.map(([x, y]) => [x * W, y * H]);
  const cx = points.reduce((n, p) => n + p[0], 0) / points.length;
  const cy = points.reduce((n, p) => n + p[1], 0) / points.length;
  const group = svg("g", { class: "plan-room", "data-room": roomId, "data-level": room.worst_level || "" });
  group.append(svg("polygon", { points: points.map((p) => p.join(",")).join(" "), fill: PLAN_FILL[room.worst_level] || "rgba(120,144,156,.18)",
    stroke: room.worst_level ? LEVEL_COLOUR[room.worst_level] : "#78909c", "stroke-width": 3 * scale }));
  group.append(svgText(cx, cy - 8 * scale, room.name, { "text-anchor": "middle", "font-size": 22 * scale, class: "plan-label" }));
  group.append(svgText(cx, cy + 18 * scale, `${T("persons")} ${room.persons} · ${T("detainees")} ${room.detainees.length} · ${T("staff")} ${room.staff_bands.length}`,
    { "text-anchor": "middle", "font-size": 15 * scale, class: "plan-label" }));
  // a dot per band last heard in the room (zone-level position: bands are placed by the room their
  // receivers put them in, side by side under the label)
  const here = plans.bands.filter((b) => b.room === roomId);
  here.forEach((b, i) => {
    const kind = b.role === "detainee" ? "detainee" : ["officer", "auxiliary"].includes(b.role) ? "staff" : "other";
    const who = b.person ? ((plans.persons[b.person] || {}).name || b.person) : b.officer ? ((plans.officers[b.officer] || {}).name || b.officer) : b.band;
    const dot = svg("circle", { cx: cx + (i % 8 - 3.5) * 16 * scale, cy: cy + (36 + Math.floor(i / 8) * 16) * scale, r: 6 * scale,
      class: `plan-person ${kind}`, "data-band": b.band });
    dot.append(svg("title", {}, document.createTextNode(`${who} (${T("role_" + b.role) || b.role})`)));
    group.append(dot);
  });
  group.addEventListener("click", (event) => { if (!plans.edit || !plans.edit.mode) { event.stopPropagation(); showRoom(roomId); } });
  return group;
}

function cameraMarker(cameraId, [x, y], W, H, scale) {
  const camera = plans.cameras[cameraId] || { state: "unknown" };
  const size = 16 * scale;
  const marker = svg("g", { class: `plan-camera ${camera.state === "online" ? "up" : "down"}`, "data-camera": cameraId });
  marker.append(svg("rect", { x: x * W - size / 2, y: y * H - size / 2, width: size, height: size, rx: 3 * scale }),
    svgText(x * W + size, y * H + 5 * scale, cameraId, { "font-size": 13 * scale, class: "plan-label" }));
  marker.append(svg("title", {}, document.createTextNode(`${cameraId} · ${T("cam_" + camera.state)}`)));
  marker.addEventListener("click", (event) => { if (!plans.edit || !plans.edit.mode) { event.stopPropagation(); openPlanCamera(cameraId); } });
  return marker;
}

function showRoom(roomId) {
  plans.picked = roomId;
  const room = plans.rooms[roomId] || { name: roomId, persons: 0, detainees: [], staff_bands: [] };
  const here = plans.bands.filter((b) => b.room === roomId);
  const cameras = Object.values(plans.cameras).filter((c) => c.room === roomId);
  const alerts = plans.alerts.filter((a) => a.context.room === roomId);
  const box = document.getElementById("plan-room");
  box.hidden = false;
  box.dataset.room = roomId;
  box.replaceChildren(el("h3", {}, room.name, " ", room.worst_level ? badge(room.worst_level) : "", " ", remindButton({ room: roomId })),
    el("p", { class: "meta" }, `${T("persons")} ${room.persons} · ${T("detainees")} ${room.detainees.length} · ${T("staff")} ${room.staff_bands.length}`),
    el("h4", {}, T("people_here")),
    el("ul", { id: "plan-room-people" }, here.map((b) => el("li", { "data-band": b.band }, b.person
      ? el("a", { href: `/console/persons/${encodeURIComponent(b.person)}` }, (plans.persons[b.person] || {}).name || b.person)
      : (plans.officers[b.officer] || {}).name || b.officer || b.band, ` · ${T("role_" + b.role) || b.role}`))),
    el("h4", {}, T("cameras")),
    el("div", { id: "plan-room-cameras", class: "tiles small" }, cameras.map((c) => el("div", { class: "tile", "data-camera": c.id, onclick: () => openPlanCamera(c.id) },
      el("div", { class: "name" }, c.id), c.has_snapshot ? el("img", { class: "snap", alt: c.id, src: `/api/v1/cameras/${encodeURIComponent(c.id)}/snapshot?t=${c.snapshot_ms}` }) : ""))),
    el("h4", {}, T("plan_open_alerts")),
    el("ul", { id: "plan-room-alerts" }, alerts.map((a) => el("li", { "data-alert": a.id }, badge(a.level), " ",
      el("a", { href: `/console/alerts?alert=${encodeURIComponent(a.id)}` }, a.title), ` · ${time(a.opened_ms)}`))));
}

function openPlanCamera(cameraId) {
  // the camera's picture, renewed every second, with the hub asking its agent for more while open
  plans.camera = cameraId;
  const box = document.getElementById("plan-camera");
  box.hidden = false;
  box.dataset.camera = cameraId;
  box.replaceChildren(el("img", { alt: cameraId, src: `/api/v1/cameras/${encodeURIComponent(cameraId)}/snapshot?t=${Date.now()}` }),
    el("div", { class: "label" }, cameraId), el("div", { class: "enlarged-tools" }, remindButton({ camera: cameraId })));
  api(`/cameras/${encodeURIComponent(cameraId)}/watch`, { method: "POST", body: {} }).catch((e) => console.error(e));
}

function closePlanCamera() {
  plans.camera = null;
  document.getElementById("plan-camera").hidden = true;
}

// editing (admins) ---------------------------------------------------------------------------
function planPoint(event) {
  const box = event.currentTarget.getBoundingClientRect();
  const clamp = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
  return [clamp((event.clientX - box.left) / box.width), clamp((event.clientY - box.top) / box.height)];
}

function startEdit() {
  const plan = currentPlan();
  if (!plan) return null;
  if (!plans.edit || plans.edit.plan !== plan.id) {
    plans.edit = { plan: plan.id, rooms: { ...(plan.rooms || {}) }, cameras: { ...(plan.cameras || {}) }, mode: null, points: [] };
  }
  return plans.edit;
}

function setMode(mode) {
  const edit = startEdit();
  if (!edit) return;
  edit.mode = mode;
  edit.points = [];
  document.getElementById("pe-mode").textContent = mode ? T(mode === "room" ? "plan_mode_room" : "plan_mode_camera") : "";
  drawPlan();
}

function planClick(event) {
  const edit = plans.edit;
  if (!edit || !edit.mode) return;
  const point = planPoint(event);
  if (edit.mode === "room") edit.points.push(point);
  else { edit.cameras[document.getElementById("pe-camera").value] = point; edit.mode = null; document.getElementById("pe-mode").textContent = ""; }
  drawPlan();
}

function finishRoom() {
  const edit = plans.edit;
  if (!edit || edit.points.length < 3) { document.getElementById("pe-error").textContent = T("plan_mode_room"); return; }
  edit.rooms[document.getElementById("pe-room").value] = edit.points;
  setMode(null);
}

async function saveLayout() {
  const edit = startEdit();
  const error = document.getElementById("pe-error");
  error.textContent = "";
  try {
    await api(`/plans/${encodeURIComponent(edit.plan)}/layout`, { method: "PUT", body: { rooms: edit.rooms, cameras: edit.cameras } });
    plans.edit = null;
    document.getElementById("pe-mode").textContent = T("plan_saved");
    await renderPlans();
  } catch (e) { error.textContent = e.message; }
}

async function uploadPlan() {
  const error = document.getElementById("pe-error");
  error.textContent = "";
  const id = document.getElementById("pe-id").value.trim() || plans.current;
  const file = document.getElementById("pe-file").files[0];
  if (!id || !file) { error.textContent = T("plan_id"); return; }
  const name = document.getElementById("pe-name").value.trim() || id;
  const reply = await fetch(`/api/v1/plans/${encodeURIComponent(id)}/image?name=${encodeURIComponent(name)}`, {
    method: "PUT", credentials: "same-origin", body: file, headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRF-Token": CSRF } });
  if (!reply.ok) { const doc = await reply.json().catch(() => ({})); error.textContent = doc.detail || reply.statusText; return; }
  plans.current = id;
  plans.edit = null;
  await renderPlans();
}

function wirePlans() {
  document.getElementById("plan-select").addEventListener("change", (e) => { plans.current = e.target.value; plans.edit = null; plans.picked = null; drawPlan(); });
  document.getElementById("plan-camera").addEventListener("click", closePlanCamera);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closePlanCamera(); });
  setInterval(() => { // the open camera: a new picture every second, the watch renewed every 3 s
    if (!plans.camera) return;
    const img = document.querySelector("#plan-camera img");
    const next = new Image();
    next.onload = () => { if (img) img.src = next.src; };
    next.src = `/api/v1/cameras/${encodeURIComponent(plans.camera)}/snapshot?t=${Date.now()}`;
    if (Date.now() % 3000 < 1000) api(`/cameras/${encodeURIComponent(plans.camera)}/watch`, { method: "POST", body: {} }).catch(() => {});
  }, 1000);
  if (!document.getElementById("plan-editor")) return;
  document.getElementById("pe-upload").addEventListener("click", uploadPlan);
  document.getElementById("pe-draw").addEventListener("click", () => setMode("room"));
  document.getElementById("pe-finish").addEventListener("click", finishRoom);
  document.getElementById("pe-remove-room").addEventListener("click", () => { const edit = startEdit(); if (edit) { delete edit.rooms[document.getElementById("pe-room").value]; drawPlan(); } });
  document.getElementById("pe-place").addEventListener("click", () => setMode("camera"));
  document.getElementById("pe-save").addEventListener("click", saveLayout);
}

if (document.body.dataset.page === "plans") document.addEventListener("DOMContentLoaded", wirePlans);
