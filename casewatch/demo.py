"""The foundation demo: one real pass through the contract, end to end on this machine.

Real YOLO detection on the photos Ultralytics ships → persons per zone of the demo camera →
occupancy events signed with the demo agent's key → QoS 1 over a real MQTT broker (the embedded
one unless ``--broker``) → verified by a subscriber holding the hub's keyring. A forged copy (the
same event claiming another count without the key) is published too and must be rejected.
The full simulated centre (scene generator, devices, rules, console) replaces this with the demo
issue; this slice proves packaging, model provisioning, config, signing and topics work together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from agent.config import AgentConfig
from agent.config import cross_check as agent_cross_check
from detectors.config import Camera
from detectors.detection import Detection
from detectors.models import ModelStore
from detectors.ultralytics_detector import UltralyticsDetector
from detectors.zones import ZoneShape
from foundation.configfile import load_config
from hub.config import HubConfig
from hub.config import cross_check as hub_cross_check
from hub.embedded_broker import EmbeddedBroker
from protocol.clock import SystemClock
from protocol.codec import Decoder, encode
from protocol.envelope import Event, new_event
from protocol.errors import CasewatchError, ProtocolError
from protocol.signing import Keyring
from protocol.topics import TopicLayout

Echo = Callable[[str], None]
DEMO_CAMERA = "cam-int-1"


class DemoError(CasewatchError):
    """The demo could not run to its end."""


def default_config_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "configs"


def default_images() -> list[Path]:
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    return [assets / "bus.jpg", assets / "zidane.jpg"]


def count_in_zones(camera: Camera, detections: list[Detection], width: int, height: int) -> dict[str, int]:
    """Persons per zone, by the bottom centre of each box (where the person stands or sits)."""
    counts = {}
    for zone in camera.zones:
        shape = ZoneShape(zone.id, zone.role, tuple(zone.polygon))
        counts[zone.id] = sum(
            shape.contains(det.bottom_centre[0] / width, det.bottom_centre[1] / height) for det in detections
        )
    return counts


def run_demo(
    *,
    broker: str | None = None,
    images: list[Path] | None = None,
    config_dir: Path | None = None,
    echo: Echo = print,
) -> dict[str, Any]:
    started = time.monotonic()
    folder = config_dir or default_config_dir()
    agent_cfg: AgentConfig = load_config(
        folder / "center-demo.yaml", AgentConfig, cross_check=agent_cross_check
    )
    hub_cfg: HubConfig = load_config(folder / "hub-demo.yaml", HubConfig, cross_check=hub_cross_check)
    camera = next((c for c in agent_cfg.cameras if c.id == DEMO_CAMERA), None)
    if camera is None:
        raise DemoError(f"the demo config has no camera {DEMO_CAMERA}")
    events = _detect_photos(agent_cfg, camera, images or default_images(), echo)
    embedded = None
    if broker:
        host, _, port_text = broker.rpartition(":")
        host, port = host or "127.0.0.1", int(port_text)
    else:
        embedded = EmbeddedBroker(hub_cfg.embedded_broker.host, 0).start()
        host, port = embedded.host, embedded.port
    echo(f"③ MQTT: {'内置代理 embedded broker' if embedded else 'broker'} {host}:{port}")
    keyring = Keyring({a.id: a.key_bytes() for a in hub_cfg.agents})
    try:
        verified, rejected = _send_and_verify(
            events, host, port, keyring, TopicLayout(agent_cfg.mqtt.topic_prefix), agent_cfg.center, echo
        )
    finally:
        if embedded is not None:
            embedded.stop()
    echo("④ 中心验签 (hub verification):")
    for event in verified:
        echo(f"   ✓ seq {event.seq} {event.kind} {event.subject.room}/{event.subject.zone}: "
             f"{event.data.count} 人")  # type: ignore[attr-defined]  # fmt: skip
    for reason in rejected:
        echo(f"   ✗ 拒收伪造事件 (rejected forged event): {reason}")
    return {
        "demo": "foundation",
        "published": len(events),
        "verified": len(verified),
        "rejected_forged": rejected == ["signature"],
        "seconds": round(time.monotonic() - started, 2),
    }


def _detect_photos(agent_cfg: AgentConfig, camera: Camera, images: list[Path], echo: Echo) -> list[Event]:
    """The real detector on each photo: one signed occupancy event per zone, as the agent would."""
    echo("① 模型 (model): 校验 YOLOv8n 权重 …")
    pulled = ModelStore().pull(agent_cfg.model.name, log=lambda line: echo(f"   {line}"))
    echo(f"   {pulled.path} sha256 {pulled.sha256[:12]}… ({pulled.source})")
    detector = UltralyticsDetector(pulled.path, imgsz=640, confidence=0.25)
    echo("② 检测 (detection): 真实图片中的人员 …")
    clock = SystemClock()
    agent_key = agent_cfg.signing.key_bytes()
    events: list[Event] = []
    for image in images:
        frame = cv2.imread(str(image))
        if frame is None:
            raise DemoError(f"cannot read image {image}")
        detections = detector.detect(frame)
        counts = count_in_zones(camera, detections, frame.shape[1], frame.shape[0])
        echo(f"   {image.name}: {len(detections)} 人 (persons); 分区 zones {counts}")
        now = clock.now_ms()
        for zone_id, count in counts.items():
            events.append(
                new_event(
                    key=agent_key, seq=len(events) + 1, ts=now, center=agent_cfg.center,
                    agent=agent_cfg.agent,
                    source=camera.id, kind="occupancy",
                    subject={"room": camera.room, "camera": camera.id, "zone": zone_id},
                    data={"count": count, "since": now,
                          "confidence": max((d.confidence for d in detections), default=0.0)},
                )
            )  # fmt: skip
    return events


def _send_and_verify(
    events: list[Event], host: str, port: int, keyring: Keyring, layout: TopicLayout, center: str, echo: Echo
) -> tuple[list[Event], list[str]]:
    """Publish the events and one forgery as the agent; verify what arrives as the hub does."""
    import paho.mqtt.client as mqtt

    decoder = Decoder(keyring, SystemClock().now_ms, layout=layout)
    verified: list[Event] = []
    rejected: list[str] = []
    done = threading.Event()
    expected_messages = len(events) + 1

    def on_message(_c: Any, _u: Any, message: Any) -> None:
        try:
            verified.append(decoder.decode(message.payload, message.topic))
        except ProtocolError as exc:
            rejected.append(exc.reason)
        if len(verified) + len(rejected) >= expected_messages:
            done.set()

    proto = mqtt.MQTTv311
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="casewatch-demo-hub", protocol=proto)
    publisher = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="casewatch-demo-agent", protocol=proto
    )
    subscribed = threading.Event()
    subscriber.on_message = on_message
    subscriber.on_subscribe = lambda *_a: subscribed.set()
    try:
        subscriber.connect(host, port)
        subscriber.loop_start()
        subscriber.subscribe(layout.events_filter(center), qos=1)
        if not subscribed.wait(10):
            raise DemoError("subscription was not acknowledged")
        publisher.connect(host, port)
        publisher.loop_start()
        for event in events:
            publisher.publish(layout.topic_for(event), encode(event), qos=1).wait_for_publish(10)
        forged = encode(events[0]).replace(b'"count":', b'"count":9', 1)
        publisher.publish(layout.topic_for(events[0]), forged, qos=1).wait_for_publish(10)
        echo(f"   发布 (published) {len(events)} 条签名事件 + 1 条伪造事件 (forged)")
        if not done.wait(15):
            raise DemoError(f"only {len(verified) + len(rejected)} of {expected_messages} messages arrived")
    except OSError as exc:
        raise DemoError(f"MQTT connection to {host}:{port} failed: {exc}") from exc
    finally:
        publisher.loop_stop()
        subscriber.loop_stop()
        publisher.disconnect()
        subscriber.disconnect()
    return verified, rejected
