"""A hub config on a test broker, and an agent's signed events to feed it."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import yaml

from protocol.codec import encode
from protocol.envelope import Event, new_event
from protocol.signing import key_from_text, new_key
from protocol.topics import TopicLayout
from tests.secret_files import write_secret

REPO = Path(__file__).resolve().parent.parent
CENTER = "c1"
AGENT = "box-01"
ROOMS = [
    {"id": "int-1", "name": "讯问室1", "type": "interrogation"},
    {"id": "inq-1", "name": "询问室1", "type": "inquiry"},
    {"id": "wait-1", "name": "候问室1", "type": "waiting"},
    {"id": "check", "name": "安检室", "type": "safety_check"},
    {"id": "exit", "name": "出口", "type": "exit"},
]


def hub_config(
    workdir: Path, port: int | None, *, agent_key: str, rules: list[str] | None = None, **extra: Any
) -> Path:
    """A hub config in ``workdir``: the shipped rule pack by default, a broker at ``port``."""
    write_secret(workdir / "hub.key", new_key())
    write_secret(workdir / "agent.key", agent_key)
    config: dict[str, Any] = {
        "center": CENTER,
        "signing": {"key_file": "hub.key"},
        "store": {"path": str(workdir / "hub.db"), "synchronous": "NORMAL"},
        "agents": [{"id": AGENT, "key_file": "agent.key"}],
        "rules": rules if rules is not None else [str(REPO / "configs" / "rules" / "*.yaml")],
        "rooms": ROOMS,
        "http": {"port": 0},
    }
    if port is not None:
        config["mqtt"] = {"host": "127.0.0.1", "port": port, "keepalive_s": 5}
    config.update(extra)
    path = workdir / "hub.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


class AgentFeed:
    """Builds an agent's signed events with gapless seq numbers, as an agent's outbox would."""

    def __init__(
        self,
        key: str | None = None,
        *,
        agent: str = AGENT,
        start_seq: int = 1,
        epoch: str | None = None,
        center: str = CENTER,
    ) -> None:
        self.key_text = key or new_key()
        self.center = center
        self.key = key_from_text(self.key_text)
        self.agent = agent
        self.epoch = epoch
        self._seq = itertools.count(start_seq)
        self.layout = TopicLayout()

    def event(
        self, kind: str, ts: int, subject: dict[str, str], data: dict[str, Any], source: str = "cam-int-1"
    ) -> Event:
        return new_event(
            key=self.key,
            seq=next(self._seq),
            ts=ts,
            center=self.center,
            agent=self.agent,
            source=source,
            kind=kind,
            subject=subject,
            data=data,
            epoch=self.epoch,
        )

    def message(self, event: Event) -> tuple[str, bytes]:
        return self.layout.topic_for(event), encode(event)

    def snapshot(self, camera: str, jpeg: bytes, ts: int | None = None) -> tuple[str, bytes]:
        """A camera's latest picture as this agent publishes it: signed, on its snapshot topic."""
        import time

        from protocol.files import encode_snapshot

        when = int(time.time() * 1000) if ts is None else ts
        payload = encode_snapshot(CENTER, self.agent, camera, jpeg, key=self.key, ts=when)
        return self.layout.snapshot(CENTER, self.agent, camera), payload


def running_hub(workdir: Path, port: int, feed: AgentFeed, rules: list[str], **extra: Any) -> Any:
    """A ``HubService`` in this process on the test broker at ``port``, started and connected."""
    from foundation.configfile import load_config
    from hub.config import HubConfig
    from hub.config import cross_check as hub_cross_check
    from hub.service import HubService

    mqtt = {"host": "127.0.0.1", "port": port, "keepalive_s": 5, "client_id": f"hub-{workdir.name}"}
    path = hub_config(workdir, port, agent_key=feed.key_text, rules=rules, mqtt=mqtt, **extra)
    service = HubService(load_config(path, HubConfig, cross_check=hub_cross_check), workdir).start()
    assert service.ready.wait(15), "hub did not connect"
    return service
