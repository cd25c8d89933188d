"""How fast an alert reaches the operator's screen: event published → row on the alert desk.

A real Mosquitto (Debian) on loopback, the hub in this process with the shipped rule pack and its
HTTP server, Debian's chromium driven by Playwright, logged in on ``/console/alerts``. N
detainees are registered; then, one at a time, a band tamper is published (WB-TAMPER: red at
once) and two clocks run: until the alert's retained message arrives on MQTT (the baseline: the
hub's own latency) and until its row is in the browser's DOM (SSE notice, fetch, render). Target
(issue 7): the screen within a second of the event.
Usage: python bench/console_live.py [--alerts 30]
Last line: {"alerts": n, "mqtt_p50_ms": …, "mqtt_p99_ms": …, "screen_p50_ms": …, "screen_p99_ms": …}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from hub.rules.state import alert_id  # noqa: E402
from tests.api_helpers import PASSWORD, api_hub, person  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_binary  # noqa: E402
from tests.mqtt_helpers import Collector  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=30)
    args = parser.parse_args()
    binary = mosquitto_binary()
    if binary is None:
        sys.exit("needs Debian's mosquitto")
    with tempfile.TemporaryDirectory(prefix="cw-console-bench-") as tmp:
        work = Path(tmp)
        (work / "broker").mkdir()
        broker = Mosquitto(work / "broker", binary).start()
        try:
            (work / "hub").mkdir()
            with api_hub(work / "hub", broker) as hub:
                op = hub.client("operator")
                for i in range(args.alerts):
                    assert op.post("/api/v1/persons", json=person(f"p{i}")).status_code == 201
                    bind = {"role": "detainee", "person": f"p{i}"}
                    assert op.post(f"/api/v1/bands/B{i:04d}/bind", json=bind).status_code == 201
                seen: dict[str, float] = {}
                lock = threading.Lock()

                def on_alert(_c: Any, _u: Any, msg: Any) -> None:
                    doc = json.loads(msg.payload or b"{}")
                    with lock:
                        seen.setdefault(str(doc.get("id")), time.perf_counter())

                watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
                watcher.on_message = on_alert
                watcher.connect(broker.host, broker.port)
                watcher.subscribe("casewatch/c1/alerts/#", qos=1)
                watcher.loop_start()
                publisher = Collector(broker.host, broker.port)
                mqtt_ms: list[float] = []
                screen_ms: list[float] = []
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                    page = browser.new_page()
                    page.goto(f"{hub.base}/console/login")
                    page.fill("#username", "viewer")
                    page.fill("#password", PASSWORD)
                    page.click("#login-submit")
                    page.goto(f"{hub.base}/console/alerts")
                    page.wait_for_selector("#live.on")
                    for i in range(args.alerts):
                        ts = int(time.time() * 1000)
                        band = f"B{i:04d}"
                        expected = alert_id("WB-TAMPER", (band,), ts)
                        event = hub.feed.event(
                            "band.tamper", ts, {"band": band}, {"strap_open": True, "magnet": False}, "rx-1"
                        )
                        started = time.perf_counter()
                        publisher.publish(*hub.feed.message(event))
                        page.wait_for_selector(f"#alerts tr[data-alert='{expected}']", timeout=10_000)
                        screen_ms.append((time.perf_counter() - started) * 1000)
                        deadline = time.monotonic() + 5
                        while expected not in seen and time.monotonic() < deadline:
                            time.sleep(0.005)
                        with lock:
                            if expected in seen:
                                mqtt_ms.append((seen[expected] - started) * 1000)
                        time.sleep(0.3)
                    browser.close()
                watcher.loop_stop()
        finally:
            broker.stop()
    figures = {
        "alerts": len(screen_ms),
        "mqtt_p50_ms": round(quantile(mqtt_ms, 0.5), 1),
        "mqtt_p99_ms": round(quantile(mqtt_ms, 0.99), 1),
        "screen_p50_ms": round(quantile(screen_ms, 0.5), 1),
        "screen_p99_ms": round(quantile(screen_ms, 0.99), 1),
    }
    print(f"publish → MQTT alert and → browser row: {figures}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
