"""Reports on screen (issue 20) in a real Chromium at 1920×1080: the monthly evaluation's charts
— trend, levels, rules and risk items, units ranked by score, 48-hour rectification, time to
acknowledge — each bar a link to exactly the alerts it counts; the yearly comparison sets this
year's months against last year's, and last year's bar opens last year's alert."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import sync_playwright

from foundation.configfile import load_config
from hub.alerts import Alert
from hub.config import HubConfig
from hub.core import Changes
from hub.service import HubService
from tests.api_helpers import ApiHub, api_hub, officer
from tests.browser_helpers import ARTEFACTS, CHROMIUM, CHROMIUM_ARGS, browser_login
from tests.hub_helpers import hub_config
from tests.waiting import wait_until

pytestmark = pytest.mark.slow
TZ = ZoneInfo("Asia/Shanghai")


def last_years_alert(folder: Path) -> int:
    """A closed INT-TWO ticket of unit-old, opened on 10 March of last year, saved in the store
    before the hub starts (a year of history the test cannot wait for)."""
    hub_config(folder, None, agent_key="k" * 64)
    service = HubService(load_config(folder / "hub.yaml", HubConfig), folder).open()
    year = datetime.now(TZ).year - 1
    opened = int(datetime(year, 3, 10, 9, 30, tzinfo=TZ).timestamp() * 1000)
    old = Alert("INT-TWO-oldoldold001", "INT-TWO", ["c"], "orange", "closed", opened, opened,
                active=False, reached={"orange": opened}, context={"room": "int-1"})  # fmt: skip
    service.derived.save(Changes(alerts=[old]))
    service.store.close()
    return opened


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[tuple[ApiHub, int]]:
    opened = last_years_alert(tmp_path)
    with api_hub(tmp_path, mqtt_broker, reports={"scheduled": False}) as running:
        yield running, opened


def findings(hub: ApiHub) -> None:
    sup, op = hub.client("supervisor"), hub.client("operator")
    for oid, unit in (("o1", "unit-a"), ("o2", "unit-b")):
        assert sup.put(f"/api/v1/officers/{oid}", json=officer(oid, unit)).status_code == 201
    for level, oid, unit in (("orange", "o1", "unit-a"), ("yellow", "o1", "unit-a"), ("red", "o2", "unit-b")):
        body = {"item": "AUX-ALONE", "level": level, "room": "int-1", "officers": [oid], "unit": unit}
        raiser = sup if level == "red" else op  # red is a supervisor's call
        assert raiser.post("/api/v1/findings", json=body).status_code == 201
    viewer = hub.client("viewer")
    assert wait_until(lambda: viewer.get("/api/v1/reports/monthly").json()["manual"] == 3, 10)


def test_the_report_charts_drill_down_to_their_alerts(hub: tuple[ApiHub, int]) -> None:
    api, opened_last_year = hub
    findings(api)
    month = api.client("viewer").get("/api/v1/reports/monthly").json()
    assert [(u["unit"], u["score"], u["rank"]) for u in month["by_unit"]] == [
        ("unit-a", 97.0, 1),
        ("unit-b", 96.0, 2),
    ]
    ARTEFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        browser_login(page, api, "viewer")
        page.goto(f"{api.base}/console/reports")
        page.select_option("#r-kind", "monthly")
        page.wait_for_selector("figure[data-chart='units'] figcaption:has-text('月考评')")
        page.wait_for_selector("figure[data-chart='units'] rect[data-row='unit-b']")
        charts = page.eval_on_selector_all("figure.chart", "els => els.map(e => e.dataset.chart)")
        assert charts == ["trend", "levels", "rules", "units", "rectified", "ack"]
        assert "月考评" in page.inner_text("figure[data-chart='units'] figcaption")
        assert page.inner_text("#report-manual") == "3"
        page.screenshot(path=str(ARTEFACTS / "console-report-charts.png"), full_page=True)
        # the red bar of the levels chart: the one red alert, unit-b's
        page.click("figure[data-chart='levels'] a:has(rect[data-row='red'])")
        page.wait_for_url("**/console/alerts?*")
        page.wait_for_selector("#alerts tbody tr")
        assert page.eval_on_selector_all("#alerts tbody tr", "els => els.map(e => e.dataset.level)") == [
            "red"
        ]
        assert "最高等级" in page.inner_text("#drill")
        page.go_back()
        page.select_option("#r-kind", "monthly")
        page.wait_for_selector("figure[data-chart='units'] figcaption:has-text('月考评')")
        page.click("figure[data-chart='units'] a:has(rect[data-row='unit-a'])")  # unit-a's two
        page.wait_for_url("**/console/alerts?*unit=unit-a*")
        page.wait_for_function("() => document.querySelectorAll('#alerts tbody tr').length === 2")
        page.go_back()
        page.select_option("#r-kind", "yearly")
        page.wait_for_selector("figure[data-chart='year'] rect")
        last_year = datetime.fromtimestamp(opened_last_year / 1000, TZ)
        assert len(page.query_selector_all("figure[data-chart='year'] rect")) == 24  # 12 months × 2 years
        page.screenshot(path=str(ARTEFACTS / "console-report-year.png"), full_page=True)
        page.click(f"figure[data-chart='year'] a:has(rect[data-month='{last_year:%Y-%m}'])")
        page.wait_for_url("**/console/alerts?*")
        page.wait_for_selector("#alerts tbody tr[data-alert='INT-TWO-oldoldold001']")
        assert len(page.query_selector_all("#alerts tbody tr")) == 1
        assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
        browser.close()
