"""Plays a scenario on a demo centre and judges the alerts it raised (casewatch/scenario.py).

The centre's staff are played through the hub's API (as the demo admin), the wristbands through
the receiver simulator, the cabinet through its simulator, the camera by the scene the agent
draws from the scenario file. Alerts are watched two ways: the retained alert documents on MQTT
as they change (the progress display), and the hub's API at the end; the scenario passes only if
both say every expected alert came at its level, in its window and in order, nothing unexpected
came, and the hub recorded no gap in the agent's sequence (no event lost, even across kills).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import paho.mqtt.client as mqtt

from casewatch.demo_centre import AGENT, CENTER, DEMO_PASSWORD, DEMO_USER, DemoCentre, DemoError
from casewatch.scenario import Scenario, Step, judge, observations, resolve_times
from casewatch.simulation.wristbands import BandPlayer

Echo = Callable[[str], None]
LEVEL_ZH = {"green": "绿", "blue": "蓝", "yellow": "黄", "orange": "橙", "red": "红"}
API_RETRY_S = 45.0
PACKAGE_WAIT_S = 120.0
"""A release's package: the agent answers once the last segment closed, then the files come."""


class AlertWatch:
    """The retained alert documents of the centre, latest per alert (paho, its own thread)."""

    def __init__(self, host: str, port: int, on_change: Callable[[dict[str, Any]], None]) -> None:
        self.alerts: dict[str, dict[str, Any]] = {}
        self.on_change = on_change
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"demo-watch-{time.time_ns()}")
        self.client.on_connect = lambda c, *_a: c.subscribe(f"casewatch/{CENTER}/alerts/+", qos=1)
        self.client.on_message = self._message
        self.client.reconnect_delay_set(1, 5)
        self.client.connect_async(host, port, keepalive=10)
        self.client.loop_start()

    def _message(self, _c: Any, _u: Any, message: Any) -> None:
        try:
            doc = json.loads(message.payload)
        except ValueError:
            return
        if not isinstance(doc, dict) or "id" not in doc:
            return
        with self._lock:
            self.alerts[str(doc["id"])] = doc
        self.on_change(doc)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.alerts.values())

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class ScenarioRun:
    def __init__(
        self,
        centre: DemoCentre,
        scenario: Scenario,
        *,
        echo: Echo = print,
        controls: dict[str, tuple[Callable[[], None], Callable[[], None]]] | None = None,
    ) -> None:
        self.centre = centre
        self.scenario = scenario
        self.echo = echo
        self.controls = {
            "hub": (lambda: centre.kill("hub"), lambda: centre.start("hub")),
            "agent": (lambda: centre.kill("agent"), lambda: centre.start("agent")),
            **(controls or {}),
        }
        self.http = httpx.Client(base_url=centre.base_url + "/api/v1", timeout=15)
        self.band_player = BandPlayer(centre.sims["wristbands"])
        self.errors: list[str] = []
        self._seen: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._sms_shown = 0
        self._sms_parts: dict[tuple[str, int], dict[int, str]] = {}

    # -- the pieces ---------------------------------------------------------------------------------
    def t(self) -> float:
        return (time.time() * 1000 - self.centre.epoch_ms) / 1000

    def _say(self, text: str) -> None:
        self.echo(f"t={self.t():6.1f}s  {text}")

    def _login(self) -> None:
        reply = self.http.post("/login", json={"username": DEMO_USER, "password": DEMO_PASSWORD})
        reply.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {reply.json()['token']}"

    def _api(self, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        """Call the hub as an operator would: while it is down (no connection), try again for up
        to 45 s. Not after a timeout or a 503: the write may have committed (no idempotency key)."""
        deadline = time.monotonic() + API_RETRY_S
        while True:
            try:
                reply = self.http.request(method, path, json=body if method != "GET" else None)
                if reply.status_code == 401:
                    self._login()
                    reply = self.http.request(method, path, json=body if method != "GET" else None)
                if reply.status_code != 503 or method != "GET":
                    return reply
            except httpx.ConnectError:
                pass  # nothing reached the hub: safe to send again
            except httpx.TransportError:
                if method != "GET":
                    raise

            if time.monotonic() > deadline:
                raise DemoError(f"{method} {path}: the hub did not answer within {API_RETRY_S:.0f} s")
            time.sleep(0.5)

    def _on_alert(self, doc: dict[str, Any]) -> None:
        for level in doc.get("reached") or {}:
            if (doc["id"], level) not in self._seen:
                self._seen.add((doc["id"], level))
                self._say(f"⚠ 告警 {doc.get('rule')} {LEVEL_ZH.get(level, level)} {doc.get('title', '')}")
        if doc.get("cleared_ms") is not None and (doc["id"], "cleared") not in self._seen:
            self._seen.add((doc["id"], "cleared"))
            self._say(f"✓ 解除 {doc.get('rule')} {doc.get('title', '')}")

    def _devices(self) -> None:
        """The wristbands are heard five times a second; the modem's messages are shown."""
        while not self._stop.wait(0.2):
            self.band_player.tick(time.monotonic())
            sent = self.centre.modem.sent if self.centre.modem is not None else []
            for pdu in sent[self._sms_shown :]:
                from devices.sms_pdu import decode_submit_text

                number, text, part = decode_submit_text(pdu)
                if part is None:
                    self._say(f"✉ 短信 → {number}: {text}")
                    continue
                reference, total, index = part  # a long message comes in parts: shown whole
                pieces = self._sms_parts.setdefault((number, reference), {})
                pieces[index] = text
                if len(pieces) == total:
                    whole = "".join(pieces[i] for i in sorted(pieces))
                    del self._sms_parts[(number, reference)]
                    self._say(f"✉ 短信 → {number}: {whole}")
            self._sms_shown = len(sent)

    def _tune_rules(self) -> None:
        """The scenario's demo thresholds, as an admin's logged rule changes."""
        current = {r["id"]: r for r in self._api("GET", "/rules", {}).json()}
        for rule_id, tuning in self.scenario.rules.items():
            if rule_id not in current:
                raise DemoError(f"rules.{rule_id}: the hub has no such rule")
            wanted = tuning.stage_ms()
            stages = [
                {"level": s["level"], "after_ms": wanted[s["level"]]}
                if s["level"] in wanted
                else {"level": s["level"]}
                for s in current[rule_id]["stages"]
            ]
            body: dict[str, Any] = {
                "enabled": tuning.enabled,
                "stages": stages,
                "comment": "演示场景阈值 (demo)",
            }
            if tuning.limit_ms() is not None:
                body["limit_ms"] = tuning.limit_ms()
            reply = self._api("PUT", f"/rules/{rule_id}", body)
            if reply.status_code != 200:
                raise DemoError(f"rules.{rule_id}: {reply.status_code} {reply.text}")

    def _do(self, step: Step) -> None:
        if step.post or step.put:
            method, path = ("POST", step.post) if step.post else ("PUT", step.put)
            assert path is not None
            body = resolve_times(step.body, int(time.time() * 1000))
            reply = self._api(method, path, body)
            if reply.status_code >= 300:
                self.errors.append(f"t={step.at}: {method} {path} → {reply.status_code} {reply.text[:200]}")
            self._say(step.say or f"{method} {path} → {reply.status_code}")
        elif step.band is not None:
            self.band_player.apply(step.band)
            self._say(step.say or _describe_band(step.band))
        elif step.cabinet is not None:
            verb, _, value = step.cabinet.partition(" ")
            self.centre.sims["cabinet"].do(verb, value or None)
            self._say(step.say or f"卷宗柜 {step.cabinet}")
        elif step.kill is not None:
            kill: Callable[[], None] = self.controls[step.kill][0]
            kill()
            self._say(step.say or f"✗ 强制终止 {step.kill} (SIGKILL)")
        elif step.start is not None:
            start: Callable[[], None] = self.controls[step.start][1]
            start()
            self._say(step.say or f"↻ 重新启动 {step.start}")
        else:
            self._say(step.say or "")

    # -- the run ------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        watch: AlertWatch | None = None
        devices = threading.Thread(target=self._devices, name="demo-devices", daemon=True)
        try:
            self._login()
            host, port = self.centre.mqtt
            watch = AlertWatch(host, port, self._on_alert)
            self._tune_rules()
            self.centre.begin(int(time.time() * 1000))
            devices.start()
            self._say(f"场景开始 (scenario): {self.scenario.name} {self.scenario.title}")
            for step in sorted(self.scenario.steps, key=lambda s: s.at):
                delay = step.at - self.t()
                if delay > 0:
                    time.sleep(delay)
                self._do(step)
            rest = self.scenario.duration_s - self.t()
            if rest > 0:
                time.sleep(rest)
            time.sleep(2.0)  # what was due at the end reaches MQTT and the API
            return self._verdict(watch, time.monotonic() - started)
        finally:
            self._stop.set()
            if watch is not None:
                watch.close()

    def _verdict(self, watch: AlertWatch, seconds: float) -> dict[str, Any]:
        since = self.centre.epoch_ms - 60_000
        via_api = self._api("GET", f"/alerts?since_ms={since}&limit=5000", {}).json()
        judged_mqtt = judge(self.scenario.expect, observations(watch.snapshot(), self.centre.epoch_ms))
        judged_api = judge(self.scenario.expect, observations(via_api, self.centre.epoch_ms))
        gaps = self._api("GET", "/events?kind=ingest.gap&limit=100", {}).json()
        problems = [f"MQTT: {p}" for p in judged_mqtt.problems()] + [
            f"API: {p}" for p in judged_api.problems()
        ]
        problems += [f"events lost: {g['event']['data']}" for g in gaps] + self.errors
        packages = [self._package(person) for person in self.scenario.packages]
        problems += [p["problem"] for p in packages if p.get("problem")]
        matched = min(len(judged_mqtt.matched), len(judged_api.matched))
        return {
            "scenario": self.scenario.name,
            "expected": len(self.scenario.expect),
            "matched": matched,
            "unexpected": max(len(judged_mqtt.unexpected), len(judged_api.unexpected)),
            "seconds": round(seconds, 1),
            "passed": not problems and matched == len(self.scenario.expect),
            "problems": problems,
            "gaps": len(gaps),
            "agent": AGENT,
            "packages": packages,
        }

    def _package(self, person: str) -> dict[str, Any]:
        """Wait for the person's package (built at release), download it and verify it offline."""
        from hub.package_manifest import verify
        from protocol.signing import key_from_text

        deadline = time.monotonic() + PACKAGE_WAIT_S
        ready: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not ready:
            found = self._api("GET", f"/persons/{person}/packages", {}).json()
            ready = [p for p in found if p.get("status") == "ready"]
            if not ready:
                time.sleep(2.0)
        if not ready:
            return {"person": person, "problem": f"no package of {person} within {PACKAGE_WAIT_S} s"}
        pkg = ready[0]
        archive = self.centre.folder / "packages" / f"{person}-{pkg['id']}.zip"
        archive.parent.mkdir(exist_ok=True)
        archive.write_bytes(self._api("GET", f"/packages/{pkg['id']}/archive", {}).content)
        key = key_from_text((self.centre.folder / "keys" / "hub.key").read_text(encoding="utf-8"))
        verdict = verify(archive, [key])
        checked = "通过 (verified)" if verdict.ok else "失败 (does NOT verify)"
        self._say(f"打包 (package) {person}: {pkg['parts']} 段录像 (parts), 录像覆盖 (on camera) "
                  f"{pkg['percent']}%, 校验 {checked} → {archive}")  # fmt: skip
        done = {"person": person, "parts": pkg["parts"], "percent": pkg["percent"], "verified": verdict.ok,
                "archive": str(archive)}  # fmt: skip
        if not verdict.ok or not pkg["parts"]:
            done["problem"] = f"package of {person}: {verdict.problems or 'no recording in it'}"
        return done


def _describe_band(step: dict[str, Any]) -> str:
    from casewatch.demo_centre import ANCHORS, ROOMS

    names = {r["id"]: r["name"] for r in ROOMS}
    parts = []
    if "anchor" in step:
        anchor = step["anchor"]
        where = names.get(ANCHORS.get(str(anchor), ""), "?") if anchor is not None else "离开覆盖范围"
        parts.append(f"→ 基站 {anchor} {where}" if anchor is not None else where)
    parts += [f"{k}={v}" for k, v in step.items() if k not in ("band", "anchor")]
    return f"手环 {step['band']} " + " ".join(parts)
