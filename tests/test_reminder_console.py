"""A remote reminder from the patrol wall in a real Chromium at 1920×1080 (issue 20): the operator
presses 远程提醒 on a camera tile, the form comes prefilled with the auxiliary wearing a staff band in
that room, the picture is attached; the SMS reaches him through a pty modem; the reminder's link opens
the alert, the operator assigns and rectifies it and a supervisor verifies it, all in the console."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from casewatch.simulation.modem import SimulatedModem
from tests.api_helpers import ApiHub
from tests.browser_helpers import ARTEFACTS, CHROMIUM, CHROMIUM_ARGS, browser_login
from tests.test_hub_notify import texts_by_number
from tests.test_manual_findings import AUX, aux_in_the_interrogation_room, hub_with_modem
from tests.test_patrol import picture
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[tuple[ApiHub, SimulatedModem]]:
    with hub_with_modem(tmp_path, mqtt_broker) as running:
        yield running


def test_a_reminder_from_a_tile_goes_round_the_loop_in_the_console(
    hub: tuple[ApiHub, SimulatedModem], mqtt_broker: Any
) -> None:
    api, modem = hub
    aux_in_the_interrogation_room(api, mqtt_broker, picture("cam-i1"))
    viewer = api.client("viewer")
    ARTEFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        browser_login(page, api, "operator")
        page.goto(f"{api.base}/console/patrol")
        page.click("#wall .cam[data-camera='cam-i1'] button.remind")
        page.wait_for_selector("dialog#reminder[open] #rm-officers input")
        assert page.is_hidden("#enlarged")  # the button opens the form, not the enlarged picture
        checked = page.eval_on_selector_all("#rm-officers input:checked", "els => els.map(e => e.value)")
        assert checked == ["aux1"]  # prefilled: the auxiliary wearing a staff band in 讯问室1
        assert page.input_value("#rm-unit") == "unit-b"
        page.wait_for_function("() => document.querySelector('.rm-picture').naturalWidth === 320")
        page.select_option("#rm-item", "AUX-ALONE")
        assert page.input_value("#rm-level") == "orange"  # the item's proposed level
        page.select_option("#rm-level", "yellow")
        page.fill("#rm-comment", "讯问室1仅一名辅警在场")
        page.screenshot(path=str(ARTEFACTS / "console-reminder.png"))
        page.click("#rm-send")
        page.wait_for_selector("#rm-alert")
        alert = page.inner_text("#rm-alert")
        assert wait_until(lambda: AUX in texts_by_number(modem), 20)
        assert "远程提醒：辅警单独讯问、询问（黄色）" in texts_by_number(modem)[AUX]
        page.click("#rm-alert")  # the reminder's link: the alert, selected, in the alerts list
        page.wait_for_selector(f"#alerts tr[data-alert='{alert}'].selected")
        page.wait_for_selector("#act-assign")
        assert "远程提醒：辅警单独讯问、询问" in page.inner_text("#detail-head")
        page.wait_for_selector("#pictures img")  # the picture the operator saw, kept with the alert
        page.fill("#assignee", "aux1")
        page.click("#act-assign")
        page.wait_for_function("() => document.getElementById('detail-state').textContent === '整改中'")
        page.fill("#comment", "已增派一名民警")
        page.click("#act-rectify")
        page.wait_for_selector("#act-verify", state="detached")  # operators do not verify
        supervisor = browser.new_page(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        browser_login(supervisor, api, "supervisor")
        supervisor.goto(f"{api.base}/console/alerts?alert={alert}&state=rectified")
        supervisor.select_option("#f-state", "rectified")
        supervisor.wait_for_selector("#act-verify")
        supervisor.fill("#comment", "复核属实")
        supervisor.click("#act-verify")
        assert wait_until(lambda: viewer.get(f"/api/v1/alerts/{alert}").json()["state"] == "verified", 10)
        supervisor.screenshot(path=str(ARTEFACTS / "console-reminder-verified.png"))
        # every page at the size of a wall screen, for docs/console.md
        for path, name in (
            ("/console/", "overview"),
            ("/console/persons/p1", "person"),
            ("/console/plans", "plans"),
        ):
            supervisor.goto(f"{api.base}{path}")
            supervisor.wait_for_timeout(1200)
            supervisor.screenshot(path=str(ARTEFACTS / f"console-{name}-1920.png"))
        assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
        browser.close()
    history = [h["action"] for h in viewer.get(f"/api/v1/alerts/{alert}").json()["history"]]
    assert history[:1] == ["raise"] and [h for h in history if h in ("assign", "rectify", "verify")] == [
        "assign",
        "rectify",
        "verify",
    ]
