"""A running hub with HTTP users, and HTTP clients logged in as each role."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from foundation.configfile import load_config
from hub.config import HubConfig
from hub.config import cross_check as hub_cross_check
from hub.passwords import hash_password
from hub.service import HubService
from tests.hub_helpers import AgentFeed, hub_config

ROLES = ("viewer", "operator", "supervisor", "admin")
PASSWORD = "s3cret-pass"


def users() -> list[dict[str, Any]]:
    # few PBKDF2 rounds: tests log in often; production hashes use 600,000
    return [
        {
            "username": role,
            "display_name": f"{role}-名",
            "role": role,
            "password_hash": hash_password(PASSWORD, iterations=1000),
        }
        for role in ROLES
    ]


@dataclass
class ApiHub:
    service: HubService
    feed: AgentFeed
    base: str
    clients: dict[str, httpx.Client] = field(default_factory=dict)
    verify: Any = True
    """What clients trust: True, or the hub's own certificate file (HTTPS tests)."""

    def client(self, role: str) -> httpx.Client:
        if role not in self.clients:
            anonymous = self.anonymous()
            reply = anonymous.post("/api/v1/login", json={"username": role, "password": PASSWORD})
            assert reply.status_code == 200, reply.text
            anonymous.headers["Authorization"] = f"Bearer {reply.json()['token']}"
            self.clients[role] = anonymous
        return self.clients[role]

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=15, verify=self.verify)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@contextmanager
def api_hub(tmp_path: Path, broker: Any, *, verify: Any = True, **extra: Any) -> Iterator[ApiHub]:
    feed = AgentFeed()
    mqtt = {"host": "127.0.0.1", "port": broker.port, "keepalive_s": 5, "client_id": f"hub-{tmp_path.name}"}
    path = hub_config(tmp_path, broker.port, agent_key=feed.key_text, mqtt=mqtt, users=users(), **extra)
    cfg = load_config(path, HubConfig, cross_check=hub_cross_check)
    service = HubService(cfg, tmp_path).start()
    assert service.ready.wait(15), "hub did not connect"
    assert service.http is not None and service.http.wait_started()
    hub = ApiHub(service, feed, service.http.url, verify=verify)
    try:
        yield hub
    finally:
        hub.close()
        service.stop()


def officer(
    name: str, unit: str, *, roles: list[str] | None = None, phone: str | None = None, **more: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "sex": "male", "unit": unit, "roles": roles or ["officer"], **more}
    if phone:
        doc["phone"] = phone
    return doc


def person(pid: str, **more: Any) -> dict[str, Any]:
    """An intake body: a man summoned just now unless told otherwise."""
    return {
        "id": pid,
        "procedure": "summons",
        "arrived": int(time.time() * 1000),
        "name": "张三",
        "sex": "male",
        **more,
    }


def now_ms() -> int:
    return int(time.time() * 1000)


def intake(hub: ApiHub, pid: str, **more: Any) -> dict[str, Any]:
    """Register ``pid`` as the operator (arrived a minute ago unless told); the 201 reply."""
    reply = hub.client("operator").post(
        "/api/v1/persons", json=person(pid, **{"arrived": now_ms() - 60_000, **more})
    )
    assert reply.status_code == 201, reply.text
    return dict(reply.json())
