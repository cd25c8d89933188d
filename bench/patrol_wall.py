"""The patrol wall at a county bureau's scale: 230 cameras across 30 sites on a 6×6 wall.

A real Mosquitto (Debian) on loopback; the real ``casewatch hub`` process (shipped rule pack, one
room per camera group, 30 agents' keys); 30 simulated agents that each publish their cameras'
signed snapshots (1280×720 JPEG, quality 70, as agents send them) every 10 s, staggered, with a
``camera.health`` event naming each camera's room; Debian's chromium driven by Playwright on the
kiosk URL ``/console/patrol?kiosk=1&grid=6&dwell=10`` for ``--seconds`` (300).

Figures:
- ``latency_p50_ms`` / ``latency_p95_ms``: from a picture's publication (its signed ``ts``) to the
  moment it is loaded in its tile, over pictures published while their tile was on screen (a
  tile turning into view shows the latest picture, whose age is the agent's 10 s cadence, not
  the wall's delay). Target (issue 20): p95 ≤ 2 s.
- ``heap_start_mb`` / ``heap_end_mb`` / ``heap_growth``: the page's JS heap after a forced GC,
  20 s into the run and at its end (CDP ``Performance.getMetrics``); ``nodes_*`` the DOM nodes.
  Target: growth ≤ 20 %.
- ``hub_cpu_idle_pct``: the hub process's CPU (share of one core) for 30 s of pictures arriving
  and nobody watching — the baseline; ``hub_cpu_wall_pct``: the same while the wall runs;
  ``wall_cpu_pct`` = the difference, what the wall costs the hub. Target: ≤ 25 % of one core.
- ``snapshot_requests_per_s``: picture requests the wall sent the hub (``/snapshot``);
  ``tile_loads_per_s``: pictures loaded into tiles (from the network or the browser's cache).
Usage: python bench/patrol_wall.py [--cameras 230] [--sites 30] [--seconds 300] [--grid 6]
       [--idle 30] [--warm 20]
Last line: {"cameras": …, "latency_p95_ms": …, "heap_growth": …, "wall_cpu_pct": …, …}
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from hub.passwords import hash_password  # noqa: E402
from protocol.signing import new_key  # noqa: E402
from tests.brokers import Mosquitto, mosquitto_binary  # noqa: E402
from tests.hub_helpers import CENTER, AgentFeed  # noqa: E402
from tests.hub_process import HubProcess  # noqa: E402
from tests.mqtt_helpers import Collector  # noqa: E402
from tests.secret_files import write_secret  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
PASSWORD = "bench-password-1"
ROOM_TYPES = ["interrogation", "inquiry", "waiting", "safety_check", "corridor"]
MEASURE = """
window.__wall = { since: {}, seen: new Set(), samples: [], loads: 0 };
document.addEventListener("load", (event) => {
  const img = event.target;
  if (!(img instanceof HTMLImageElement)) return;
  const tile = img.closest("#wall .cam");
  if (!tile) return;
  window.__wall.loads += 1;
  const t = Number(new URL(img.src).searchParams.get("t"));
  const key = tile.dataset.camera + ":" + t;
  if (!t || window.__wall.seen.has(key)) return;
  window.__wall.seen.add(key);
  const since = window.__wall.since[tile.dataset.camera];
  if (since && t >= since) window.__wall.samples.push(Date.now() - t);
}, true);
document.addEventListener("DOMContentLoaded", () => {
  const wall = document.getElementById("wall");
  if (!wall) return;
  new MutationObserver(() => { // when each camera came into view (a page turn), and left it
    const now = Date.now();
    const shown = new Set([...wall.querySelectorAll(".cam")].map((t) => t.dataset.camera));
    for (const camera of Object.keys(window.__wall.since)) {
      if (!shown.has(camera)) delete window.__wall.since[camera];
    }
    for (const camera of shown) if (!(camera in window.__wall.since)) window.__wall.since[camera] = now;
  }).observe(wall, { childList: true });
});
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def frames(n: int) -> list[bytes]:
    """JPEGs like an agent's: 1280×720, quality 70, textured (a flat picture compresses to nothing)."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        base = cv2.resize(
            rng.integers(0, 255, (45, 80, 3), np.uint8), (1280, 720), interpolation=cv2.INTER_CUBIC
        )
        noise = rng.integers(0, 24, (720, 1280, 3), np.uint8)
        frame = cv2.add(base, noise)
        cv2.putText(frame, f"picture {i}", (60, 120), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
        ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])
        assert ok
        out.append(bytes(data.tobytes()))
    return out


def layout(cameras: int, sites: int) -> list[tuple[str, str, str]]:
    """(agent, camera, room) for every camera: sites of 7–8 cameras, two cameras a room."""
    out = []
    for n in range(cameras):
        site = n % sites
        room = f"s{site:02d}-r{(n // sites) // 2}"
        out.append((f"site-{site:02d}", f"s{site:02d}-cam{n // sites:02d}", room))
    return out


def hub_files(
    work: Path, broker_port: int, http_port: int, agents: dict[str, AgentFeed], rooms: list[str]
) -> Path:
    write_secret(work / "hub.key", new_key())
    write_secret(work / "session.secret", new_key())
    for agent, feed in agents.items():
        write_secret(work / f"{agent}.key", feed.key_text)
    config = {
        "center": CENTER, "name": "县局执法监督", "signing": {"key_file": "hub.key"},
        "store": {"path": str(work / "hub.db")},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "keepalive_s": 10},
        "agents": [{"id": agent, "key_file": f"{agent}.key"} for agent in agents],
        "rules": [str(REPO / "configs" / "rules" / "*.yaml")],
        "rooms": [{"id": r, "name": f"{r}室", "type": ROOM_TYPES[i % len(ROOM_TYPES)]}
                  for i, r in enumerate(rooms)],
        "http": {"port": http_port, "session_secret_file": "session.secret"},
        "users": [{"username": "wall", "role": "viewer", "display_name": "大屏",
                   "password_hash": hash_password(PASSWORD, iterations=1000)},
                  {"username": "admin", "role": "admin",
                   "password_hash": hash_password(PASSWORD, iterations=1000)}],
        "reports": {"scheduled": False},
    }  # fmt: skip
    path = work / "hub.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


class Agents(threading.Thread):
    """Every camera's picture every ``period_s``, spread evenly over the period (as 30 boxes
    started at different times would send them)."""

    def __init__(self, broker: Any, feeds: dict[str, AgentFeed], cameras: list[tuple[str, str, str]],
                 period_s: float = 10.0) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.publisher = Collector(broker.host, broker.port)
        self.feeds, self.cameras, self.period_s = feeds, cameras, period_s
        self.pictures = frames(8)
        self.stop = threading.Event()
        self.sent = 0

    def health(self) -> None:
        now = int(time.time() * 1000)
        for agent, camera, room in self.cameras:
            feed = self.feeds[agent]
            event = feed.event(
                "camera.health", now, {"camera": camera, "room": room}, {"state": "online", "since": now}
            )
            self.publisher.publish(*feed.message(event))

    def run(self) -> None:
        gap = self.period_s / len(self.cameras)
        n = 0
        start = time.monotonic()
        while not self.stop.is_set():
            agent, camera, _room = self.cameras[n % len(self.cameras)]
            picture = self.pictures[n % len(self.pictures)]
            self.publisher.publish(*self.feeds[agent].snapshot(camera, picture), qos=0, retain=True)
            self.sent += 1
            n += 1
            wait = start + n * gap - time.monotonic()
            if wait > 0:
                self.stop.wait(wait)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid: int, seconds: float) -> float:
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - t0)


def heap(cdp: Any) -> tuple[float, int]:
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics["JSHeapUsedSize"] / 1e6, int(metrics["Nodes"])


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_wall(base: str, seconds: float, grid: int, hub_pid: int, warm: float) -> dict[str, Any]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.add_init_script(MEASURE)
        fetched = [0]
        page.on("requestfinished", lambda r: fetched.__setitem__(0, fetched[0] + ("/snapshot" in r.url)))
        page.goto(f"{base}/console/login")
        page.fill("#username", "wall")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{base}/console/")
        page.goto(f"{base}/console/patrol?kiosk=1&grid={grid}&dwell=10&screen=bench")
        page.wait_for_selector("#wall .cam img")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        time.sleep(warm)  # the first pages drawn, caches filled
        heap_start, nodes_start = heap(cdp)
        loads_start, fetched_start = page.evaluate("() => window.__wall.loads"), fetched[0]
        wall_cpu = cpu_share(hub_pid, seconds - warm)
        heap_end, nodes_end = heap(cdp)
        found = page.evaluate("() => ({ samples: window.__wall.samples, loads: window.__wall.loads })")
        rounds = page.get_attribute("#wall", "data-rounds")
        browser.close()
    samples = [float(s) for s in found["samples"]]
    return {
        "latency_samples": len(samples), "latency_p50_ms": round(quantile(samples, 0.5)),
        "latency_p95_ms": round(quantile(samples, 0.95)), "latency_max_ms": round(max(samples, default=0)),
        "heap_start_mb": round(heap_start, 1), "heap_end_mb": round(heap_end, 1),
        "heap_growth": round(heap_end / heap_start - 1, 3), "nodes_start": nodes_start,
        "nodes_end": nodes_end,
        "hub_cpu_wall_pct": round(wall_cpu, 1),
        "tile_loads_per_s": round((found["loads"] - loads_start) / (seconds - warm), 1),
        "snapshot_requests_per_s": round((fetched[0] - fetched_start) / (seconds - warm), 1),
        "rounds": int(rounds or 0),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cameras", type=int, default=230)
    parser.add_argument("--sites", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--grid", type=int, default=6)
    parser.add_argument("--idle", type=float, default=30, help="seconds of the hub's baseline, no wall")
    parser.add_argument("--warm", type=float, default=20, help="seconds of wall before measuring")
    args = parser.parse_args()
    if args.seconds <= args.warm:
        sys.exit("--seconds must be longer than --warm")
    binary = mosquitto_binary()
    if binary is None:
        sys.exit("needs Debian's mosquitto")
    cameras = layout(args.cameras, args.sites)
    feeds = {agent: AgentFeed(agent=agent) for agent in sorted({a for a, _c, _r in cameras})}
    with tempfile.TemporaryDirectory(prefix="cw-wall-bench-") as tmp:
        work = Path(tmp)
        (work / "broker").mkdir()
        broker = Mosquitto(work / "broker", binary).start()
        http_port = free_port()
        config = hub_files(work, broker.port, http_port, feeds, sorted({r for _a, _c, r in cameras}))
        hub = HubProcess(config, work / "hub.log").start()
        agents = Agents(broker, feeds, cameras)
        try:
            agents.health()
            agents.start()
            time.sleep(12)  # every camera has sent a picture
            assert hub.proc is not None
            idle = cpu_share(hub.proc.pid, args.idle)
            result = run_wall(
                f"http://127.0.0.1:{http_port}", args.seconds, args.grid, hub.proc.pid, args.warm
            )
        finally:
            agents.stop.set()
            agents.join(5)
            hub.stop()
            broker.stop()
    result = {
        "cameras": args.cameras, "sites": args.sites, "grid": args.grid, "seconds": args.seconds,
        "pictures_per_s": round(args.cameras / 10, 1), **result, "hub_cpu_idle_pct": round(idle, 1),
        "wall_cpu_pct": round(result["hub_cpu_wall_pct"] - idle, 1),
    }  # fmt: skip
    print(
        f"{args.cameras} cameras, {args.sites} sites, {args.grid}×{args.grid} wall for {args.seconds:g} s: "
        f"picture → tile p50 {result['latency_p50_ms']} ms, p95 {result['latency_p95_ms']} ms "
        f"({result['latency_samples']} pictures); "
        f"heap {result['heap_start_mb']} → {result['heap_end_mb']} MB; "
        f"hub CPU {result['hub_cpu_idle_pct']} % idle, {result['hub_cpu_wall_pct']} % with the wall"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
