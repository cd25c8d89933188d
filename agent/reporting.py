"""What the agent reports about itself: ``agent.stats`` data, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.ops import Metric
from protocol.data import AgentStats, CameraStats

if TYPE_CHECKING:
    from agent.runtime import Agent


def stats(agent: Agent) -> AgentStats:
    cameras = {}
    detector_ms = None
    if agent.vision is not None:
        pool = agent.vision.pool.stats
        detector_ms = round(pool.ms_per_frame, 1) if pool.frames else None
        for camera in agent.config.cameras:
            counters = pool.cameras.get(camera.id)
            cameras[camera.id] = CameraStats(
                fps=round(agent.vision.fps(camera.id), 2),
                dropped=min(counters.dropped if counters else 0, 100_000),
                queue=agent.vision.pool.queue_depth(),
            )
    oldest = agent.outbox.oldest_ts()
    devices: dict[str, Any] = dict(agent.devices.states) if agent.devices is not None else {}
    return AgentStats(
        uptime_s=agent.uptime(),
        cameras=cameras,
        devices=devices,
        detector_ms=detector_ms,
        outbox_depth=min(agent.outbox.depth(), 100_000),
        outbox_oldest_ms=oldest,
        shed=min(agent.outbox.shed_total(), 100_000),
        outbox_first_seq=agent.outbox.first_seq() or agent.outbox.next_seq(),
    )


def health(agent: Agent) -> dict[str, Any]:
    connected = agent.link.connected.is_set()
    cameras = {c: s for c, s in agent.fusion.camera_health.items()}
    # every configured device, "starting" until it has reported: healthy means each one is online
    devices = {d.id: "starting" for d in agent.config.devices if d.port}  # port-less: never opened
    devices.update(agent.devices.states if agent.devices is not None else {})
    degraded = (
        not connected
        or agent.unstored() > 0
        or any(state not in ("online", "ended") for state in [*cameras.values(), *devices.values()])
    )
    return {
        "status": "degraded" if degraded else "ok",
        "mqtt_connected": connected,
        "hub_online": agent.publisher.hub_online.is_set(),
        "outbox_depth": agent.outbox.depth(),
        "next_seq": agent.outbox.next_seq(),
        "epoch": agent.outbox.epoch,
        "unstored": agent.unstored(),
        "receipted_seq": agent.publisher.receipted,
        "cameras": cameras,
        "devices": devices,
        "conditions_active": len(agent.conditions.active()),
        "uploads_pending": agent.uploads.pending() if agent.uploads is not None else 0,
    }


def metrics(agent: Agent) -> list[Metric]:
    """What ``/metrics`` shows: the outbox and link first, then counters, devices and cameras."""
    oldest = agent.outbox.oldest_ts()
    age = max(0.0, (agent.clock.now_ms() - oldest) / 1000) if oldest is not None else 0.0
    outbox, publisher = agent.outbox, agent.publisher
    single: list[tuple[str, str, str, float]] = [
        ("outbox_depth", "gauge", "Events not yet confirmed stored by the hub.", outbox.depth()),
        ("outbox_oldest_age_seconds", "gauge", "Age of the oldest waiting event.", age),
        ("outbox_shed_total", "counter", "Events shed over the bounds.", outbox.shed_total()),
        ("events_emitted_total", "counter", "Events stored.", agent.emitter.emitted),
        ("events_published_total", "counter", "Publishes handed to MQTT.", publisher.published),
        ("events_acked_total", "counter", "PUBACKs received.", publisher.acked),
        ("events_receipted_seq", "gauge", "Highest seq the hub's receipt confirmed.", publisher.receipted),
        ("events_replays_total", "counter", "Times unconfirmed events were resent.", publisher.replays),
        ("mqtt_connected", "gauge", "1 when connected.", float(agent.link.connected.is_set())),
        ("mqtt_refusals_total", "counter", "Connections refused.", agent.link.stats.refusals),
        ("events_unstored", "gauge", "Events held in memory: the outbox could not take them (disk full).",
         agent.unstored()),
        ("conditions_active", "gauge", "Conditions started, not ended.", len(agent.conditions.active())),
    ]  # fmt: skip
    out: list[Metric] = [
        (f"casewatch_{name}", kind, text, [({}, value)]) for name, kind, text, value in single
    ]
    uploads = agent.uploads.counters if agent.uploads is not None else {}
    for name, value in {**agent.counters, **uploads}.items():
        out.append((f"casewatch_{name}_total", "counter", name.replace("_", " "), [({}, value)]))
    return out + _device_metrics(agent) + _camera_metrics(agent)


def _device_metrics(agent: Agent) -> list[Metric]:
    if agent.devices is None:
        return []
    errors = [
        ({"device": device, "error": name}, float(count))
        for device, counts in agent.devices.errors().items()
        for name, count in counts.items()
    ]
    return [("casewatch_device_errors_total", "counter", "Device input errors counted.", errors)]


def _camera_metrics(agent: Agent) -> list[Metric]:
    if agent.vision is None:
        return []
    pool = agent.vision.pool.stats
    fps = [({"camera": c.id}, agent.vision.fps(c.id)) for c in agent.config.cameras]
    dropped = [({"camera": c}, float(n.dropped)) for c, n in pool.cameras.items()]
    return [
        ("casewatch_camera_fps", "gauge", "Frames analysed per second.", fps),
        ("casewatch_camera_dropped_total", "counter", "Frames dropped: detector behind.", dropped),
        ("casewatch_detector_ms", "gauge", "Detector time per frame.", [({}, pool.ms_per_frame)]),
    ]
