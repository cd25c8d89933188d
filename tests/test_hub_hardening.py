"""A hub without open doors (issue 16 findings 3 and 4): body limits, security headers, login
throttling by address, revocations that survive a restart, masked personal numbers, bounded
record times, a capped quarantine, HTTPS with Secure cookies in a real browser."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hub.store import Batch, HubStore, Quarantined
from tests.api_helpers import PASSWORD, ApiHub, api_hub, officer, person
from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker, http={"port": 0, "max_body_kb": 64}) as running:
        yield running


def from_address(hub: ApiHub, address: str) -> httpx.Client:
    """A client whose connections come from another loopback address (another workstation)."""
    return httpx.Client(base_url=hub.base, timeout=15, transport=httpx.HTTPTransport(local_address=address))


def refused_upload(hub: ApiHub, path: str, *, declared: int | None) -> tuple[int, bytes]:
    """Status and body answered to a POST declaring ``declared`` bytes (none sent: a refused
    body is never read, and sending it would race the closing connection), or, with None,
    streamed in chunks without a length until the hub answers."""
    import http.client
    from urllib.parse import urlparse

    where = urlparse(hub.base)
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=10)
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", "application/json")
    length = ("Content-Length", str(declared)) if declared is not None else ("Transfer-Encoding", "chunked")
    conn.putheader(*length)
    conn.endheaders()
    if declared is None:  # 80 chunks of 64 KiB, counted as they stream, until the hub says no
        try:
            for _ in range(80):
                conn.send(b"10000\r\n" + b"x" * 65_536 + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the hub answered and closed before the end: its answer is waiting
    reply = conn.getresponse()
    found = (reply.status, reply.read())
    conn.close()
    return found


def test_a_huge_body_is_refused_before_any_route_reads_it(hub: ApiHub) -> None:
    status, body = refused_upload(hub, "/console/login", declared=5 * 1024 * 1024)
    assert status == 413 and json.loads(body)["error"] == "too_large"
    status, _body = refused_upload(hub, "/api/v1/login", declared=None)
    assert status == 413
    anonymous = hub.anonymous()
    assert (
        anonymous.post("/api/v1/login", json={"username": "viewer", "password": PASSWORD}).status_code == 200
    )


def test_every_answer_carries_the_security_headers(hub: ApiHub) -> None:
    for path in ("/console/login", "/api/v1/openapi.json", "/api/v1/me"):
        reply = hub.anonymous().get(path)
        csp = reply.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in reply.headers  # plain HTTP here
    page = hub.anonymous().get("/console/login").text
    assert "<script>" not in page  # nothing inline for the policy to block


def test_failed_logins_lock_a_name_for_one_address_only(hub: ApiHub) -> None:
    attacker, admin_desk = from_address(hub, "127.0.0.2"), from_address(hub, "127.0.0.3")
    for _ in range(5):
        reply = attacker.post("/api/v1/login", json={"username": "admin", "password": "guess"})
        assert reply.status_code == 401
    locked = attacker.post("/api/v1/login", json={"username": "admin", "password": PASSWORD})
    assert locked.status_code == 429  # the attacker's address cannot even try the right one
    assert (
        admin_desk.post("/api/v1/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
    )


def test_a_flood_of_unknown_names_locks_that_address(hub: ApiHub) -> None:
    flooder, desk = from_address(hub, "127.0.0.4"), from_address(hub, "127.0.0.5")
    for n in range(20):
        reply = flooder.post("/api/v1/login", json={"username": f"nobody{n}", "password": "x"})
        assert reply.status_code == 401
    assert flooder.post("/api/v1/login", json={"username": "viewer", "password": PASSWORD}).status_code == 429
    assert desk.post("/api/v1/login", json={"username": "viewer", "password": PASSWORD}).status_code == 200


def test_personal_numbers_are_masked_for_viewers(hub: ApiHub) -> None:
    op, viewer = hub.client("operator"), hub.client("viewer")
    sup = hub.client("supervisor")
    assert op.post("/api/v1/persons", json=person("p1", id_number="330102199001011234")).status_code == 201
    assert sup.put("/api/v1/officers/o1", json=officer("李四", "u1", phone="13812345678")).status_code == 201
    (seen,) = viewer.get("/api/v1/persons").json()
    assert seen["id_number"] == "330***********1234"
    assert viewer.get("/api/v1/persons/p1").json()["id_number"] == "330***********1234"
    assert viewer.get("/api/v1/officers").json()[0]["phone"] == "138****5678"
    logged = viewer.get("/api/v1/events", params={"agent": "hub"}).text
    assert "330102199001011234" not in logged and "13812345678" not in logged
    assert "330102199001011234" not in viewer.get("/api/v1/persons/p1/timeline").text
    assert op.get("/api/v1/persons/p1").json()["id_number"] == "330102199001011234"
    assert "13812345678" in op.get("/api/v1/events", params={"agent": "hub"}).text


def test_records_cannot_be_backdated_before_arrival_or_far_back(hub: ApiHub) -> None:
    op = hub.client("operator")
    arrived = int(time.time() * 1000) - 3_600_000
    assert op.post("/api/v1/persons", json=person("p2", arrived=arrived)).status_code == 201
    meal = {"type": "meal", "note": "午饭"}  # a care record
    for at in (0, arrived - 1):
        reply = op.post("/api/v1/persons/p2/records", json={**meal, "at": at})
        assert reply.status_code == 422 and "arrived" in reply.json()["detail"], reply.text
    assert op.post("/api/v1/persons/p2/records", json={**meal, "at": arrived + 60_000}).status_code == 201
    too_old = person("p3", arrived=int(time.time() * 1000) - 8 * 86_400_000)
    assert op.post("/api/v1/persons", json=too_old).status_code == 422


def test_the_quarantine_keeps_the_newest_and_counts_what_it_dropped(tmp_path: Path) -> None:
    with HubStore(tmp_path / "hub.db", quarantine_max=1000) as store:
        for batch in range(6):
            junk = [
                Quarantined(batch * 500 + n, "t", "malformed", "junk", None, b"x" * 4096) for n in range(500)
            ]
            store.write(Batch(quarantined=junk))
        assert sum(store.quarantine_counts().values()) == 1000
        assert store.quarantine_pruned() == 2000
        assert min(r["received_ms"] for r in store.quarantine_rows(limit=5000)) == 2000  # oldest went
        huge = Quarantined(9_999, "t/" * 32_000, "topic", "r" * 10_000, "a" * 500, b"y" * 4096, 5_000_000)
        store.write(Batch(quarantined=[huge]))
        (row,) = [r for r in store.quarantine_rows(limit=5000) if r["received_ms"] == 9_999]
        assert len(row["topic"]) == 512 and len(row["reason"]) == 512 and row["size"] == 5_000_000


def test_a_logged_out_token_stays_dead_after_a_restart(tmp_path: Path, mqtt_broker: Any) -> None:
    http = {"port": 0, "session_secret": "s" * 40}
    with api_hub(tmp_path, mqtt_broker, http=http) as first:
        client = first.client("viewer")
        token = client.headers["Authorization"]
        assert client.post("/api/v1/logout").status_code == 204
        assert client.get("/api/v1/me").status_code == 401
        kept = first.anonymous()
        reply = kept.post("/api/v1/login", json={"username": "operator", "password": PASSWORD})
        other = f"Bearer {reply.json()['token']}"
    with api_hub(tmp_path, mqtt_broker, http=http) as second:  # same store, same secret
        again = second.anonymous()
        assert again.get("/api/v1/me", headers={"Authorization": token}).status_code == 401
        assert again.get("/api/v1/me", headers={"Authorization": other}).status_code == 200


def self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "hub.crt", folder / "hub.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    return cert, key


def test_the_hub_serves_https_and_a_browser_logs_in_with_secure_cookies(
    tmp_path: Path, mqtt_broker: Any
) -> None:
    from playwright.sync_api import sync_playwright

    cert, key = self_signed(tmp_path)
    http = {"port": 0, "tls_cert_file": str(cert), "tls_key_file": str(key)}
    trust = ssl.create_default_context(cafile=str(cert))
    with api_hub(tmp_path, mqtt_broker, http=http, verify=trust) as hub:
        assert hub.base.startswith("https://")
        assert hub.anonymous().get("/console/login").headers["strict-transport-security"]
        with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port is not served
            httpx.get(hub.base.replace("https://", "http://") + "/console/login", timeout=5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(ignore_https_errors=True, locale="zh-CN")
            page = context.new_page()
            page.goto(f"{hub.base}/console/login")
            page.fill("#username", "viewer")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_url(f"{hub.base}/console/")
            session = next(c for c in context.cookies() if c["name"] == "cw_session")
            assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Strict"
            assert page.locator("body").get_attribute("data-page") == "overview"
            browser.close()


def test_a_bad_certificate_pair_stops_the_start_with_a_message(tmp_path: Path, mqtt_broker: Any) -> None:
    from hub.errors import HttpError

    _cert, key = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other_cert, _ = self_signed(tmp_path / "other")

    http = {"port": 0, "tls_cert_file": str(other_cert), "tls_key_file": str(key)}
    with pytest.raises(HttpError, match="HTTPS: cannot use"), api_hub(tmp_path, mqtt_broker, http=http):
        pass
    assert yaml.safe_load((tmp_path / "hub.yaml").read_text())["http"]["tls_cert_file"] == str(other_cert)


def test_passwords_are_hashed_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """16 parallel logins with unknown names (each a PBKDF2) used to slow ingest 5.3 times: now at
    most one hash runs at a time, whatever the number of requests."""
    import threading

    from hub.api import auth
    from protocol.clock import SystemClock

    running, peak, lock = 0, 0, threading.Lock()

    def slow_verify(_password: str, _hash: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(auth, "verify_password", slow_verify)
    checker = auth.Authenticator.from_users([], b"s" * 32, 60, SystemClock())
    threads = [
        threading.Thread(target=checker.check_password, args=(f"u{n}", "x", f"10.0.0.{n}")) for n in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 1


def test_an_unbind_or_a_case_cannot_be_dated_before_what_they_follow(hub: ApiHub) -> None:
    op, sup = hub.client("operator"), hub.client("supervisor")
    now = int(time.time() * 1000)
    assert op.post("/api/v1/persons", json=person("p4", arrived=now - 600_000)).status_code == 201
    bind = {"role": "detainee", "person": "p4"}
    assert op.post("/api/v1/bands/B0077/bind", json=bind).status_code == 201
    early = op.post("/api/v1/bands/B0077/unbind", json={"reason": "done", "at": now - 6 * 86_400_000})
    assert early.status_code == 422 and "bound" in early.json()["detail"]
    assert sup.put("/api/v1/officers/o2", json=officer("王五", "u1")).status_code == 201
    case = {"id": "K99", "unit": "u1", "officers": ["o2"], "at": 0}
    assert op.post("/api/v1/cases", json=case).status_code == 422


def test_a_release_cannot_be_dated_before_the_persons_band_was_last_seen(
    hub: ApiHub, mqtt_broker: Any
) -> None:
    """The review's case: a person over the custody limit, released "at" an earlier time to make the
    red alert go away. The band was seen in the centre after that time: refused."""
    from tests.mqtt_helpers import Collector
    from tests.waiting import wait_until

    op, viewer = hub.client("operator"), hub.client("viewer")
    now = int(time.time() * 1000)
    assert op.post("/api/v1/persons", json=person("p5", arrived=now - 3_600_000)).status_code == 201
    assert op.post("/api/v1/bands/B0055/bind", json={"role": "detainee", "person": "p5"}).status_code == 201
    seen = now - 600_000
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    position = hub.feed.event(
        "band.position", seen, {"band": "B0055"}, {"zone": "z", "room": "int-1"}, "rx-1"
    )
    publisher.publish(*hub.feed.message(position))
    publisher.close()
    assert wait_until(lambda: any(b.get("seen_ms") == seen for b in viewer.get("/api/v1/bands").json()), 10)
    early = op.post("/api/v1/persons/p5/release", json={"reason": "done", "at": seen - 60_000})
    assert early.status_code == 422 and "last seen" in early.json()["detail"]
    assert op.post("/api/v1/persons/p5/release", json={"reason": "done", "at": seen + 1}).status_code == 201
