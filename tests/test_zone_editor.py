"""Drawing a camera's zones on its snapshot in the console (Chromium): corners clicked become
fractions of the picture for the agent file; shown zones are dragged, corners removed, undone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.api_helpers import ApiHub, api_hub
from tests.browser_helpers import ARTEFACTS, CHROMIUM, CHROMIUM_ARGS, browser_login
from tests.mqtt_helpers import Collector


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker, name="演示执法办案中心") as running:
        yield running


def test_a_zone_is_drawn_on_a_cameras_snapshot_and_given_as_fractions(hub: ApiHub, mqtt_broker: Any) -> None:
    """Issue 18: integrators drew zones blind. Click the corners on the latest snapshot (the agent
    draws its own zones on it) and get the YAML in fractions, which the agent file accepts."""
    import cv2
    import numpy as np

    picture = np.full((360, 640, 3), 90, np.uint8)
    ok, jpeg = cv2.imencode(".jpg", picture)
    assert ok
    mqtt = Collector(mqtt_broker.host, mqtt_broker.port)
    topic, signed_jpeg = hub.feed.snapshot("cam-draw", jpeg.tobytes())
    mqtt.publish(topic, signed_jpeg, qos=0, retain=True)
    try:
        draw_a_zone(hub)
    finally:  # the broker is shared by later tests: leave no retained camera behind
        mqtt.publish(topic, b"", qos=0, retain=True)


def edit_a_shown_zone(page: Any, box: dict[str, float]) -> None:
    """An existing zone, shown from its polygon, is edited: a corner dragged, one removed; a press
    on a corner without moving adds no point."""

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + fx * (box["width"] - 1), box["y"] + fy * (box["height"] - 1)

    def polygon() -> list[list[float]]:
        import yaml

        text = page.input_value("#zone-yaml")
        return yaml.safe_load(text.split("\n", 1)[1])[0]["polygon"]  # type: ignore[no-any-return]

    page.mouse.move(*at(1, 0))
    page.mouse.down()
    page.mouse.move(*at(0.9, 0.2), steps=5)
    page.mouse.move(*at(0.8, 0.3), steps=5)
    page.mouse.up()
    moved = polygon()
    assert len(moved) == 3 and abs(moved[1][0] - 0.8) < 0.01 and abs(moved[1][1] - 0.3) < 0.01, moved
    page.mouse.click(*at(0, 0))  # on a corner: nothing added, nothing moved
    assert polygon() == moved
    page.mouse.click(*at(0.5, 0.9))
    assert len(polygon()) == 4
    page.mouse.dblclick(*at(0.8, 0.3))
    assert [p for p in polygon() if abs(p[0] - 0.8) < 0.01] == [] and len(polygon()) == 3


def draw_a_zone(hub: ApiHub) -> None:
    import yaml

    from detectors.config import Zone

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        browser_login(page, hub, "viewer")
        page.click("[data-camera='cam-draw'] img.snap", timeout=15_000)
        page.wait_for_function("() => { const i = document.getElementById('zone-image'); "
                               "return i.complete && i.naturalWidth === 640; }")  # fmt: skip
        svg = page.query_selector("#zone-svg")
        assert svg is not None
        box = svg.bounding_box()
        assert box is not None
        corners = [(0.1, 0.2), (0.6, 0.2), (0.6, 1.0), (0.1, 0.9)]
        for fx, fy in corners:
            page.mouse.click(box["x"] + fx * (box["width"] - 1), box["y"] + fy * (box["height"] - 1))
        text = page.input_value("#zone-yaml")
        zone = Zone.model_validate(yaml.safe_load(text.split("\n", 1)[1])[0])
        assert all(
            abs(x - fx) < 0.01 and abs(y - fy) < 0.01
            for (x, y), (fx, fy) in zip(zone.polygon, corners, strict=True)
        )
        page.click("#zone-undo")
        assert page.input_value("#zone-yaml").count("], [") == 2  # three points left: a triangle
        page.click("#zone-undo")
        assert page.input_value("#zone-yaml") == ""  # two points are no zone yet
        page.fill("#zone-paste", "[[0, 0], [640, 0], [640, 360]]")
        page.click("#zone-show")
        assert "0–1" in page.input_value("#zone-yaml")  # pixels refused with what a point is
        page.fill("#zone-paste", "[[0, 0], [1, 0], [1, 1]]")
        page.click("#zone-show")
        assert len(page.query_selector_all("#zone-svg circle")) == 3
        edit_a_shown_zone(page, box)
        ARTEFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "console-zone-editor.png"), full_page=True)
        browser.close()
