"""The bureau console's API over real centre schemas on PostgreSQL: scope, order, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from httpx import Client

from hub.alerts import Alert
from hub.bureau import BureauReads
from hub.bureau_http import bureau_app
from hub.config import HubConfig
from hub.core import Changes
from hub.http_server import HttpServer
from hub.lease_table import LeaseTable
from hub.passwords import hash_password
from hub.state_store import DerivedStore
from hub.store import HubStore
from protocol.clock import SystemClock
from protocol.signing import new_key
from tests.pg_helpers import fresh_database

PASSWORD = "bureau-pass-2026"


DAY_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC: reports are asked for this day


def alert(centre: str, n: int, level: str = "yellow", state: str = "open", unit: str = "") -> Alert:
    made = Alert(
        f"T-DUE-{centre}-{n}", "T-DUE", [str(n)], level, state, DAY_MS + 1_000 * n, DAY_MS + 1_000 * n
    )  # type: ignore[arg-type]
    made.reached = {level: DAY_MS + 1_000 * n}  # type: ignore[dict-item]
    made.context = {"unit": unit} if unit else {}
    return made


@pytest.fixture
def bureau(tmp_path: Any) -> Iterator[Client]:
    with fresh_database() as dsn:
        made = {
            "c01": [alert("c01", 1, unit="cg"), alert("c01", 4, "red", unit="dg")],
            "c02": [alert("c02", 2, unit="dg"), alert("c02", 3, state="closed")],
        }
        for centre, alerts in made.items():
            store = HubStore(dsn=dsn, chain=centre, schema=f"cw_{centre}")
            DerivedStore(store).save(Changes(alerts=alerts))
            store.close()
        LeaseTable(dsn, 10).take("c01", "w1")
        digest = hash_password(PASSWORD)
        cfg = HubConfig.model_validate({
            "center": "county", "signing": {"key": new_key()},
            "store": {"backend": "postgresql", "dsn": dsn, "files": str(tmp_path)},
            "mqtt": {"host": "127.0.0.1", "port": 1883},
            "timezone": "UTC",
            "centers": [
                {"id": "c01", "name": "城关所", "units": ["cg"]},
                {"id": "c02", "name": "东关所", "units": ["dg"]},
                {"id": "c03", "units": ["xg"]},
            ],
            "users": [
                {"username": "legal", "role": "admin", "password_hash": digest},
                {"username": "st02", "role": "operator", "password_hash": digest, "centers": ["c02"]},
            ],
        })  # fmt: skip
        reads = BureauReads(dsn, cfg.centers)
        server = HttpServer(bureau_app(cfg, reads, SystemClock()), "127.0.0.1", 0).start()
        with Client(base_url=server.url) as client:  # over a real socket, as a browser asks
            yield client
        server.stop()
        reads.close()


def login(client: Client, username: str) -> dict[str, str]:
    reply = client.post("/api/v1/login", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_the_legal_unit_sees_every_centre_and_a_station_its_own(bureau: Client) -> None:
    legal = login(bureau, "legal")
    centres = bureau.get("/api/v1/bureau/centres", headers=legal).json()
    assert [(c["id"], c["name"], c["owner"]) for c in centres] == [
        ("c01", "城关所", "w1"), ("c02", "东关所", None), ("c03", "c03", None)
    ]  # fmt: skip
    assert centres[0]["open_alerts"]["red"] == 1 and centres[1]["open_alerts"]["yellow"] == 1
    assert sum(centres[2]["open_alerts"].values()) == 0  # never owned: no schema, no alerts
    shown = bureau.get("/api/v1/bureau/alerts", headers=legal).json()
    assert [(a["center"], a["id"]) for a in shown] == [("c01", "T-DUE-c01-4"), ("c02", "T-DUE-c02-2"),
                                                      ("c01", "T-DUE-c01-1")]  # fmt: skip
    assert shown[0]["center_name"] == "城关所" and shown[0]["level_zh"] == "红"
    every = bureau.get("/api/v1/bureau/alerts", params={"open": "false"}, headers=legal).json()
    assert len(every) == 4
    station = login(bureau, "st02")
    assert [c["id"] for c in bureau.get("/api/v1/bureau/centres", headers=station).json()] == ["c02"]
    assert [a["id"] for a in bureau.get("/api/v1/bureau/alerts", headers=station).json()] == ["T-DUE-c02-2"]


def test_refusals(bureau: Client) -> None:
    assert bureau.get("/api/v1/bureau/alerts").status_code == 401
    assert bureau.get("/api/v1/bureau/alerts", headers={"Authorization": "Bearer forged"}).status_code == 401
    assert bureau.post("/api/v1/login", json={"username": "legal", "password": "wrong"}).status_code == 401
    page = bureau.get("/bureau")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/bureau.js"' in page.text and "{{" not in page.text


def test_units_are_ranked_across_centres_within_the_users_scope(bureau: Client) -> None:
    """A unit's alerts in every centre count together (dg: red in c01, yellow in c02)."""
    legal = login(bureau, "legal")
    made = bureau.get(
        "/api/v1/bureau/report", params={"period": "daily", "day": "2026-01-01"}, headers=legal
    ).json()
    ranked = [(u["unit"], u["count"], u["rank"]) for u in made["by_unit"]]
    assert ranked[:3] == [("xg", 0, 1), ("cg", 1, 2), ("dg", 2, 3)]  # 100, 99, 100 - 4 - 1 = 95
    assert made["total"] == 4 and [c["center"] for c in made["by_centre"]] == ["c01", "c02"]
    station = login(bureau, "st02")
    own = bureau.get(
        "/api/v1/bureau/report", params={"period": "daily", "day": "2026-01-01"}, headers=station
    ).json()
    assert own["total"] == 2 and own["centres"] == ["c02"]  # c01's red for dg is not in its scope
    assert [(u["unit"], u["count"]) for u in own["by_unit"] if u["unit"] == "dg"] == [("dg", 1)]
