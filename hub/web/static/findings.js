// Remote reminders (远程提醒): raise a finding by hand from a camera tile, a room or a person.
// The form offers the rule pack's items and the manual ones, the level, the officers and unit
// responsible (prefilled from who wears a staff band in the room and from the person's case) and a
// comment; the camera's current picture goes with it as evidence. Loaded after console.js.
"use strict";

const MAY_REMIND = ["operator", "supervisor", "admin"].includes(window.CW.role);
let reminderCatalogue = null;

function reminderButton(where) {
  // a small button that opens the form without also opening what it sits on (a tile enlarges)
  if (!MAY_REMIND) return "";
  return el("button", { type: "button", class: "remind", title: T("remind"), "data-remind": JSON.stringify(where),
    onclick: (event) => { event.stopPropagation(); openReminder(where); } }, T("remind"));
}

function reminderDialog() {
  let box = document.getElementById("reminder");
  if (!box) {
    box = el("dialog", { id: "reminder", class: "reminder" });
    document.body.append(box);
  }
  return box;
}

async function openReminder(where) {
  const box = reminderDialog();
  if (!reminderCatalogue) reminderCatalogue = await api("/findings/catalogue");
  const params = new URLSearchParams(Object.entries(where).filter(([, v]) => v));
  const [who, officers] = await Promise.all([api("/findings/responsible?" + params), api("/officers")]);
  const cat = reminderCatalogue;
  const item = el("select", { id: "rm-item" },
    el("optgroup", { label: T("remind_manual_items") }, cat.items.filter((i) => i.source === "manual")
      .map((i) => el("option", { value: i.id, "data-level": i.level }, i.title))),
    el("optgroup", { label: T("remind_rule_items") }, cat.items.filter((i) => i.source === "rule")
      .map((i) => el("option", { value: i.id, "data-level": i.level }, `${i.id} ${i.title}`))));
  const level = el("select", { id: "rm-level" }, cat.levels.map((lv) => el("option", { value: lv }, T("level_" + lv))));
  const proposeLevel = () => { level.value = item.selectedOptions[0] ? item.selectedOptions[0].dataset.level : "orange"; };
  item.addEventListener("change", proposeLevel);
  proposeLevel();
  const named = new Set(who.officers.map((o) => o.id));
  const officerBoxes = el("div", { id: "rm-officers", class: "rm-officers" }, officers.map((o) => el("label",
    { class: named.has(o.id) ? "suggested" : "" },
    el("input", { type: "checkbox", value: o.id, ...(named.has(o.id) ? { checked: "" } : {}) }),
    ` ${o.name || o.id}${o.police === false ? `（${T("auxiliary")}）` : ""} · ${o.unit || ""}`)));
  const unit = el("select", { id: "rm-unit" }, el("option", { value: "" }, "—"),
    who.units.map((u) => el("option", { value: u, ...(u === who.unit ? { selected: "" } : {}) }, u)));
  const comment = el("textarea", { id: "rm-comment", maxlength: "500", placeholder: T("remind_comment") });
  const error = el("p", { id: "rm-error", class: "error" });
  const place = [where.camera, who.room ? roomLabel(who.room) : "", where.person].filter(Boolean).join(" · ");
  const picture = where.camera ? el("img", { class: "rm-picture", alt: where.camera, src: `/api/v1/cameras/${encodeURIComponent(where.camera)}/snapshot?t=${Date.now()}` }) : "";
  const send = el("button", { type: "button", id: "rm-send", onclick: () => sendReminder(where, box) }, T("remind_send"));
  box.replaceChildren(el("h3", {}, `${T("remind")} · ${place}`), picture,
    el("label", {}, T("remind_item"), " ", item), el("label", {}, T("remind_level"), " ", level),
    el("fieldset", {}, el("legend", {}, T("remind_officers")), officerBoxes), el("label", {}, T("remind_unit"), " ", unit),
    comment, error, el("div", { class: "rm-buttons" }, send,
      el("button", { type: "button", id: "rm-cancel", onclick: () => box.close() }, T("cancel"))),
    el("p", { id: "rm-done", class: "meta" }));
  if (!cat.enabled) { error.textContent = T("remind_disabled"); send.disabled = true; }
  if (!box.open) box.showModal();
}

function roomLabel(id) {
  const rooms = (typeof patrol !== "undefined" && patrol.rooms) || {};
  return rooms[id] ? rooms[id].name : id;
}

async function sendReminder(where, box) {
  const value = (id) => document.getElementById(id).value;
  const body = { item: value("rm-item"), level: value("rm-level"), comment: value("rm-comment"),
    officers: [...document.querySelectorAll("#rm-officers input:checked")].map((x) => x.value) };
  if (value("rm-unit")) body.unit = value("rm-unit");
  for (const key of ["camera", "room", "person"]) if (where[key]) body[key] = where[key];
  try {
    const made = await api("/findings", { method: "POST", body });
    box.dataset.alert = made.alert;
    document.getElementById("rm-done").replaceChildren(`${T("remind_sent")} `,
      el("a", { id: "rm-alert", href: `/console/alerts?alert=${encodeURIComponent(made.alert)}` }, made.alert));
    document.getElementById("rm-send").disabled = true;
  } catch (e) {
    document.getElementById("rm-error").textContent = e.message;
  }
}
