// The bureau console: every centre the user sees, and their open alerts. Values go in as text only.
"use strict";
(function () {
  const LEVEL = { red: "红", orange: "橙", yellow: "黄", blue: "蓝", green: "绿" };
  const STATE = { open: "待处理", acknowledged: "已签收", assigned: "已派单", rectified: "已整改", verified: "已核查", closed: "已关闭" };
  const key = "casewatch-bureau-token";

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  async function get(path) {
    const token = sessionStorage.getItem(key);
    const reply = await fetch(path, { headers: { Authorization: "Bearer " + token } });
    if (reply.status === 401) { sessionStorage.removeItem(key); showLogin(); throw new Error("logged out"); }
    if (!reply.ok) throw new Error(path + ": " + reply.status);
    return reply.json();
  }

  function fill(tableId, rows, render) {
    const body = document.querySelector("#" + tableId + " tbody");
    body.replaceChildren();
    for (const item of rows) {
      const tr = document.createElement("tr");
      render(tr, item);
      body.appendChild(tr);
    }
  }

  async function refresh() {
    const [centres, alerts, report] = await Promise.all([
      get("/api/v1/bureau/centres"), get("/api/v1/bureau/alerts?open=true&limit=500"), get("/api/v1/bureau/report?period=monthly"),
    ]);
    fill("units", report.by_unit || [], function (tr, u) {
      tr.dataset.unit = u.unit;
      cell(tr, u.rank === null ? "—" : u.rank);
      cell(tr, u.unit);
      cell(tr, u.score);
      cell(tr, u.count);
      cell(tr, u.late);
    });
    document.getElementById("centre-count").textContent = String(centres.length);
    document.getElementById("alert-count").textContent = String(alerts.length);
    fill("centres", centres, function (tr, c) {
      tr.dataset.centre = c.id;
      const name = cell(tr, "");
      if (c.console && /^https?:\/\//.test(c.console)) {
        const link = document.createElement("a");
        link.href = c.console;
        link.textContent = c.name;
        name.appendChild(link);
      } else {
        name.textContent = c.name;
      }
      cell(tr, c.owner || "（接管中）");
      for (const level of ["red", "orange", "yellow", "blue", "green"]) cell(tr, c.open_alerts[level] || 0);
    });
    fill("alerts", alerts, function (tr, a) {
      tr.dataset.centre = a.center;
      tr.dataset.alert = a.id;
      cell(tr, a.center_name);
      cell(tr, LEVEL[a.level] || a.level).dataset.level = a.level;
      cell(tr, a.title || a.rule).title = a.basis || "";
      cell(tr, STATE[a.state] || a.state);
      cell(tr, new Date(a.opened_ms).toLocaleString("zh-CN", { hour12: false, timeZone: document.body.dataset.tz }));
    });
  }

  function showLogin() {
    document.getElementById("login").hidden = false;
    document.getElementById("board").hidden = true;
  }

  function showBoard(name) {
    document.getElementById("login").hidden = true;
    document.getElementById("board").hidden = false;
    document.getElementById("who").textContent = name || "";
    refresh().catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("login").addEventListener("submit", async function (event) {
      event.preventDefault();
      const form = new FormData(event.target);
      const reply = await fetch("/api/v1/login", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: form.get("username"), password: form.get("password") }),
      });
      const body = await reply.json();
      if (!reply.ok) { document.getElementById("login-error").textContent = body.detail || "登录失败"; return; }
      sessionStorage.setItem(key, body.token);
      sessionStorage.setItem(key + "-name", body.display_name);
      showBoard(body.display_name);
    });
    if (sessionStorage.getItem(key)) showBoard(sessionStorage.getItem(key + "-name")); else showLogin();
    setInterval(function () { if (sessionStorage.getItem(key)) refresh().catch(function () {}); }, 5000);
  });
})();
