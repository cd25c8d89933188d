"""Floor plans (issue 20): an admin uploads a centre's plan and places rooms and cameras on it;
hostile pictures and layouts are refused with a reason; the picture served is the one the log
names (a file swapped behind the hub's back is refused, not shown)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from hub.plans import MAX_SIDE, PlanImageError, inspect
from tests.api_helpers import ApiHub, api_hub, now_ms
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until


def plan_png(width: int = 1200, height: int = 800) -> bytes:
    """A plan drawn like a real one: white, walls in black, two rooms and a corridor."""
    frame = np.full((height, width, 3), 255, np.uint8)
    cv2.rectangle(frame, (40, 40), (width - 40, height - 40), (0, 0, 0), 6)
    cv2.line(frame, (width // 2, 40), (width // 2, height // 2), (0, 0, 0), 4)
    cv2.line(frame, (40, height // 2), (width - 40, height // 2), (0, 0, 0), 4)
    ok, data = cv2.imencode(".png", frame)
    assert ok
    return bytes(data.tobytes())


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` (a decompression bomb's shape)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_plan_pictures_are_checked_before_they_are_decoded() -> None:
    good = inspect(plan_png())
    assert (good.media, good.width, good.height) == ("image/png", 1200, 800)
    ok, jpeg = cv2.imencode(".jpg", np.zeros((300, 500, 3), np.uint8))
    assert ok and inspect(bytes(jpeg.tobytes())).media == "image/jpeg"
    for bad in (b"", b"GIF89a....", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, png_claiming(MAX_SIDE + 1, 10),
                png_claiming(60_000, 60_000), b"\xff\xd8\xff" + b"\0" * 100, plan_png()[:200]):  # fmt: skip
        with pytest.raises(PlanImageError):
            inspect(bad)


def test_plan_pictures_are_measured_as_a_browser_shows_them() -> None:
    """After the review: a 16-bit PNG (8000² of it decodes to half a gigabyte) and a picture over
    40 MP are refused from their headers; a phone's photo turned by its EXIF orientation is measured
    turned, as the browser draws it, so rooms drawn on it land where they were clicked."""
    wide = cv2.imencode(".png", np.zeros((10, 20, 4), np.uint16))[1].tobytes()
    with pytest.raises(PlanImageError, match="8 bits"):
        inspect(bytes(wide))
    with pytest.raises(PlanImageError, match="MP"):
        inspect(png_claiming(7_900, 7_900))
    ok, jpeg = cv2.imencode(".jpg", np.zeros((300, 800, 3), np.uint8))
    assert ok
    data = bytes(jpeg.tobytes())
    # an APP1 Exif segment saying "rotate 90° clockwise" (orientation 6), after the SOI marker
    tiff = (
        b"MM\x00*\x00\x00\x00\x08\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00" + b"\x00" * 4
    )
    app1 = b"Exif\x00\x00" + tiff
    turned = data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]
    measured = inspect(turned)
    assert (measured.width, measured.height) == (300, 800)


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker) as running:
        yield running


def declared_upload(hub: ApiHub, size: int, path: str = "/api/v1/plans/floor-5/image?name=x") -> int:
    """The status answered to a PUT that declares ``size`` bytes, before any byte is sent (the
    body of a refused upload is never read: sending it would race the closing connection)."""
    import http.client
    from urllib.parse import urlparse

    where = urlparse(hub.base)
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=10)
    conn.putrequest("PUT", path)
    conn.putheader("Authorization", hub.client("admin").headers["Authorization"])
    conn.putheader("Content-Type", "image/png")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def put_image(hub: ApiHub, role: str, plan: str, data: bytes, name: str = "一层") -> Any:
    return hub.client(role).put(
        f"/api/v1/plans/{plan}/image",
        params={"name": name},
        content=data,
        headers={"Content-Type": "image/png"},
    )


def test_an_admin_uploads_a_plan_and_lays_out_rooms_and_cameras(hub: ApiHub, mqtt_broker: Any) -> None:
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    t = now_ms()
    health = hub.feed.event(
        "camera.health", t, {"camera": "cam-i1", "room": "int-1"}, {"state": "online", "since": t}
    )
    publisher.publish(*hub.feed.message(health))
    publisher.close()
    viewer = hub.client("viewer")
    assert wait_until(lambda: viewer.get("/api/v1/cameras").json(), 10)
    picture = plan_png()
    assert put_image(hub, "supervisor", "floor-1", picture).status_code == 403  # admins only
    assert put_image(hub, "admin", "floor-1", picture).status_code == 201
    assert viewer.get("/api/v1/plans/floor-1/image").content == picture
    layout = {
        "rooms": {"int-1": [[0.05, 0.05], [0.5, 0.05], [0.5, 0.5], [0.05, 0.5]]},
        "cameras": {"cam-i1": [0.1, 0.1]},
    }
    admin = hub.client("admin")
    assert admin.put("/api/v1/plans/floor-1/layout", json=layout).status_code == 201
    (plan,) = viewer.get("/api/v1/plans").json()
    assert plan["name"] == "一层" and plan["width"] == 1200 and plan["rooms"]["int-1"][2] == [0.5, 0.5]
    assert plan["cameras"] == {"cam-i1": [0.1, 0.1]}
    events = viewer.get("/api/v1/events", params={"kind": "plan.layout"}).json()
    assert events[0]["event"]["source"] == "admin"  # who drew it, in the log
    # hostile layouts and pictures
    for bad, status in (
        ({"rooms": {"no-such-room": [[0, 0], [1, 0], [1, 1]]}}, 422),
        ({"rooms": {"int-1": [[0, 0], [1, 0]]}}, 422),  # two corners are no room
        ({"rooms": {"int-1": [[0, 0], [1.5, 0], [1, 1]]}}, 422),  # off the picture
        ({"cameras": {"cam-ghost": [0.5, 0.5]}}, 422),
        ({"extra": {}}, 422),
    ):
        reply = admin.put("/api/v1/plans/floor-1/layout", json=bad)
        assert reply.status_code == status, (bad, reply.text)
    assert admin.put("/api/v1/plans/no-plan/layout", json={}).status_code == 404  # a picture first
    assert put_image(hub, "admin", "floor-2", picture).status_code == 201
    taken = admin.put("/api/v1/plans/floor-2/layout", json={"cameras": {"cam-i1": [0.2, 0.2]}})
    assert taken.status_code == 409  # a camera hangs on one plan
    assert put_image(hub, "admin", "floor-3", b"<svg onload=alert(1)>").status_code == 422
    assert put_image(hub, "admin", "bad id!", picture).status_code == 422
    assert put_image(hub, "admin", "floor-4", png_claiming(30_000, 30_000)).status_code == 422
    assert declared_upload(hub, 11 * 1024 * 1024) == 413  # over the plan route's 10 MiB
    assert declared_upload(hub, 2 * 1024 * 1024, "/api/v1/findings") == 413  # other routes: 1 MiB
    # a picture swapped on disk behind the hub's back is not served as the plan
    stored = next((hub.service.plans.folder).glob("*.png"))
    stored.write_bytes(plan_png(600, 400))
    assert viewer.get("/api/v1/plans/floor-1/image").status_code == 500


@pytest.mark.slow
def test_a_plan_drawn_in_the_console_shows_the_centre_live(hub: ApiHub, mqtt_broker: Any) -> None:
    """In Chromium at 1920×1080: the admin uploads the plan, draws 讯问室1 and 候问室1 and hangs a
    camera; the live plan colours 讯问室1 red (a detainee's band tampered with there), shows a dot per
    band in it, opens the camera's picture and, on a click, the room's people, camera and alerts; a
    band moving to 候问室1 moves its dot there."""
    from playwright.sync_api import sync_playwright

    from tests.api_helpers import intake, officer
    from tests.browser_helpers import ARTEFACTS, CHROMIUM, CHROMIUM_ARGS, browser_login
    from tests.test_patrol import picture

    sup, op, viewer = hub.client("supervisor"), hub.client("operator"), hub.client("viewer")
    assert sup.put("/api/v1/officers/aux1", json=officer("孙辅警", "unit-b", police=False)).status_code == 201
    intake(hub, "p1")
    assert op.post("/api/v1/bands/B0042/bind", json={"role": "detainee", "person": "p1"}).status_code == 201
    assert (
        op.post("/api/v1/bands/B0077/bind", json={"role": "auxiliary", "officer": "aux1"}).status_code == 201
    )
    feed, t = hub.feed, now_ms()
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    try:
        health = feed.event(
            "camera.health", t, {"camera": "cam-i1", "room": "int-1"}, {"state": "online", "since": t}
        )
        publisher.publish(*feed.message(health))
        for band in ("B0042", "B0077"):
            seen = feed.event(
                "band.position", t + 1, {"band": band}, {"zone": "int-1", "room": "int-1"}, "rx-1"
            )
            publisher.publish(*feed.message(seen))
        tamper = feed.event(
            "band.tamper", t + 2, {"band": "B0042"}, {"strap_open": True, "magnet": False}, "rx-1"
        )
        publisher.publish(*feed.message(tamper))
        publisher.publish(*feed.snapshot("cam-i1", picture("cam-i1")), qos=0, retain=True)
        assert wait_until(lambda: viewer.get("/api/v1/alerts", params={"rule": "WB-TAMPER"}).json(), 15)
        assert wait_until(lambda: viewer.get("/api/v1/cameras/cam-i1/snapshot").status_code == 200, 10)
        plan_file = Path(hub.service.cfg.store.path).parent / "upload.png"
        plan_file.write_bytes(plan_png())
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            browser_login(page, hub, "admin")
            page.goto(f"{hub.base}/console/plans")
            page.wait_for_selector("#plan-empty")
            page.fill("#pe-id", "floor-1")
            page.fill("#pe-name", "一层")
            page.set_input_files("#pe-file", str(plan_file))
            page.click("#pe-upload")
            page.wait_for_function(
                "() => { const i = document.querySelector('#plan-canvas img');"
                " return i && i.naturalWidth === 1200; }"
            )

            def corners(room: str, box: tuple[float, float, float, float]) -> None:
                page.select_option("#pe-room", room)
                page.click("#pe-draw")
                area = page.locator("svg.plan-layer").bounding_box()
                assert area is not None
                x0, y0, x1, y1 = box
                for fx, fy in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
                    page.mouse.click(area["x"] + fx * area["width"], area["y"] + fy * area["height"])
                page.click("#pe-finish")

            corners("int-1", (0.05, 0.06, 0.48, 0.48))
            corners("wait-1", (0.52, 0.06, 0.95, 0.48))
            page.select_option("#pe-camera", "cam-i1")
            page.click("#pe-place")
            area = page.locator("svg.plan-layer").bounding_box()
            assert area is not None
            page.mouse.click(area["x"] + 0.08 * area["width"], area["y"] + 0.1 * area["height"])
            page.click("#pe-save")
            page.wait_for_selector("#pe-mode:text-is('已保存')")
            (plan,) = viewer.get("/api/v1/plans").json()
            assert set(plan["rooms"]) == {"int-1", "wait-1"} and len(plan["rooms"]["int-1"]) == 4
            x, y = plan["cameras"]["cam-i1"]
            assert abs(x - 0.08) < 0.01 and abs(y - 0.1) < 0.01  # where it was clicked
            # live: 讯问室1 red, two bands in it
            page.wait_for_selector(".plan-room[data-room='int-1'][data-level='red']")
            dots = page.eval_on_selector_all(
                ".plan-room[data-room='int-1'] .plan-person", "els => els.map(e => e.classList[1])"
            )
            assert sorted(dots) == ["detainee", "staff"]
            page.screenshot(path=str(ARTEFACTS / "console-plan.png"))
            page.click(".plan-camera[data-camera='cam-i1']")
            page.wait_for_function("() => document.querySelector('#plan-camera img').naturalWidth === 320")
            page.keyboard.press("Escape")
            page.click(".plan-room[data-room='int-1'] polygon", position={"x": 300, "y": 250})
            page.wait_for_selector("#plan-room[data-room='int-1'] #plan-room-alerts li")
            assert "腕带" in page.inner_text("#plan-room-alerts") and "张三" in page.inner_text(
                "#plan-room-people"
            )
            assert page.query_selector("#plan-room-cameras [data-camera='cam-i1']") is not None
            page.screenshot(path=str(ARTEFACTS / "console-plan-room.png"))
            moved = feed.event(
                "band.position", now_ms(), {"band": "B0042"}, {"zone": "wait-1", "room": "wait-1"}, "rx-1"
            )
            publisher.publish(*feed.message(moved))
            page.wait_for_selector(".plan-room[data-room='wait-1'] .plan-person.detainee", timeout=10_000)
            assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
            browser.close()
    finally:
        publisher.publish("casewatch/c1/box-01/snapshots/cam-i1", b"", qos=0, retain=True)
        publisher.close()
