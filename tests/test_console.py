"""The operators' console on a real hub: sessions, CSRF and roles over HTTP, then the live alert
desk in headless Chromium (Debian's, driven by Playwright) — screenshots kept as artefacts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.api_helpers import PASSWORD, ApiHub, api_hub, officer, person
from tests.browser_helpers import ARTEFACTS, CHROMIUM, CHROMIUM_ARGS, browser_login, console_login, csrf_of
from tests.mqtt_helpers import Collector
from tests.waiting import wait_until


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    with api_hub(tmp_path, mqtt_broker, name="演示执法办案中心") as running:
        yield running


def test_anonymous_browsers_go_to_the_login_page(hub: ApiHub) -> None:
    anonymous = httpx.Client(base_url=hub.base, timeout=15, follow_redirects=False)
    for path in ("/", "/console/", "/console/alerts"):
        reply = anonymous.get(path)
        assert reply.status_code == 303
        location = reply.headers["location"]  # the login page brings the browser back afterwards
        assert location == "/console/" or location.startswith("/console/login"), location
    assert anonymous.get("/console/", follow_redirects=True).url.path == "/console/login"
    assert anonymous.get("/api/v1/stream").status_code == 401
    page = anonymous.get("/console/login")
    assert "登录" in page.text and 'lang="zh-CN"' in page.text  # Chinese by default
    assert "Log in" in anonymous.get("/console/login?lang=en").text


def test_a_console_session_needs_its_csrf_token_to_change_anything(hub: ApiHub) -> None:
    operator = console_login(hub, "operator")
    assert "一屏监督" in operator.get("/console/").text
    body = person("p1")
    refused = operator.post("/api/v1/persons", json=body)
    assert refused.status_code == 403 and refused.json()["error"] == "csrf"
    forged = operator.post("/api/v1/persons", json=body, headers={"X-CSRF-Token": "x" * 43})
    assert forged.status_code == 403
    assert (
        operator.post("/api/v1/persons", json=body, headers={"X-CSRF-Token": csrf_of(operator)}).status_code
        == 201
    )
    assert operator.get("/api/v1/persons").status_code == 200  # reading needs no token
    stolen_form = httpx.Client(base_url=hub.base, timeout=15, follow_redirects=False)
    no_nonce = stolen_form.post(
        "/console/login", data={"username": "operator", "password": PASSWORD, "csrf": "x"}
    )
    assert no_nonce.status_code == 303 and "cw_session" not in no_nonce.headers.get("set-cookie", "")
    wrong = httpx.Client(base_url=hub.base, timeout=15)
    nonce = re.search(r'name="csrf" value="([^"]+)"', wrong.get("/console/login").text)
    assert nonce is not None
    failed = wrong.post(
        "/console/login", data={"username": "operator", "password": "nope", "csrf": nonce.group(1)}
    )
    assert failed.status_code == 401 and "用户名或密码错误" in failed.text


def test_alerts_filter_by_the_unit_responsible(hub: ApiHub, mqtt_broker: Any) -> None:
    sup, op, viewer = hub.client("supervisor"), hub.client("operator"), hub.client("viewer")
    for oid, unit in (("o1", "unit-a"), ("o2", "unit-b")):
        assert sup.put(f"/api/v1/officers/{oid}", json=officer(oid, unit)).status_code == 201
    for case, oid in (("K1", "o1"), ("K2", "o2")):
        assert op.post("/api/v1/cases", json={"id": case, "officers": [oid]}).status_code == 201
    publisher = Collector(mqtt_broker.host, mqtt_broker.port)
    for n, case in enumerate(("K1", "K2"), 1):
        assert op.post("/api/v1/persons", json=person(f"p{n}", case=case)).status_code == 201
        assert (
            op.post(f"/api/v1/bands/B00{n}0/bind", json={"role": "detainee", "person": f"p{n}"}).status_code
            == 201
        )
        tamper = hub.feed.event(
            "band.tamper",
            int(time.time() * 1000),
            {"band": f"B00{n}0"},
            {"strap_open": True, "magnet": False},
            "rx-1",
        )
        publisher.publish(*hub.feed.message(tamper))
    assert wait_until(
        lambda: len(viewer.get("/api/v1/alerts", params={"rule": "WB-TAMPER"}).json()) == 2, timeout_s=10
    )
    (mine,) = viewer.get("/api/v1/alerts", params={"rule": "WB-TAMPER", "unit": "unit-b"}).json()
    assert mine["context"]["person"] == "p2"
    assert viewer.get("/api/v1/alerts", params={"unit": "unit-z"}).json() == []


def test_a_viewer_session_reads_but_may_not_act(hub: ApiHub) -> None:
    viewer = console_login(hub, "viewer")
    token = csrf_of(viewer)
    body = person("p1")
    assert viewer.post("/api/v1/persons", json=body, headers={"X-CSRF-Token": token}).status_code == 403
    assert viewer.get("/console/alerts").status_code == 200
    logout = viewer.post("/console/logout", data={"csrf": token})
    assert logout.status_code == 303
    assert viewer.get("/console/").status_code == 303  # the session is over


def test_live_alert_appears_and_walks_its_loop_in_a_real_browser(hub: ApiHub, mqtt_broker: Any) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
    ARTEFACTS.mkdir(exist_ok=True)
    op, sup = hub.client("operator"), hub.client("supervisor")
    assert sup.put("/api/v1/officers/o1", json=officer("王警官", "unit-a")).status_code == 201
    arrived = int(time.time() * 1000) - 3_600_000
    assert op.post("/api/v1/persons", json=person("p1", arrived=arrived)).status_code == 201
    assert op.post("/api/v1/bands/B0042/bind", json={"role": "detainee", "person": "p1"}).status_code == 201

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{hub.base}/console/")
        assert "/console/login" in page.url
        page.fill("#username", "supervisor")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{hub.base}/console/")
        page.wait_for_selector("#custody tr[data-person='p1']")
        assert "张三" in page.inner_text("#custody") and "传唤" in page.inner_text("#custody")
        page.wait_for_selector("#live.on")
        page.screenshot(path=str(ARTEFACTS / "console-overview.png"), full_page=True)

        page.click("#custody a")  # the person's printable timeline
        page.wait_for_url(f"{hub.base}/console/persons/p1")
        page.wait_for_selector("#steps tr[data-step='band_bind']")
        assert "到达办案区" in page.inner_text("#steps") and "张三" in page.inner_text("#person-head")
        page.screenshot(path=str(ARTEFACTS / "console-timeline.png"), full_page=True)

        page.click("text=告警")
        page.wait_for_url(f"{hub.base}/console/alerts")
        page.wait_for_selector("#live.on")
        assert page.locator("#alerts tbody tr").count() == 0
        published = time.monotonic()
        tamper = hub.feed.event(
            "band.tamper",
            int(time.time() * 1000),
            {"band": "B0042"},
            {"strap_open": True, "magnet": False},
            "rx-1",
        )
        Collector(mqtt_broker.host, mqtt_broker.port).publish(*hub.feed.message(tamper))
        row = page.wait_for_selector("#alerts tbody tr[data-level='red']", timeout=5000)
        appeared_s = time.monotonic() - published
        assert appeared_s < 2.0, f"the alert took {appeared_s:.2f} s to appear"  # pushed, not polled (30 s)
        assert "WB-TAMPER" in row.inner_text()
        page.screenshot(path=str(ARTEFACTS / "console-alert-raised.png"), full_page=True)

        page.click("#alerts tbody tr[data-level='red']")  # by selector: live updates redraw the rows
        page.wait_for_selector("#act-acknowledge")
        page.fill("#comment", "已到场处置")
        page.click("#act-acknowledge")
        page.wait_for_selector("#alerts tbody tr[data-state='acknowledged']")
        page.fill("#assignee", "o1")
        page.click("#act-assign")
        page.wait_for_selector("#alerts tbody tr[data-state='assigned']")
        page.wait_for_selector("#act-rectify")
        page.click("#act-rectify")  # no comment: refused with the reason
        page.wait_for_selector("#action-error:has-text('comment')")
        page.fill("#comment", "更换腕带，复核录像")
        page.click("#act-rectify")
        page.wait_for_selector("#alerts tbody tr[data-state='rectified']")
        page.click("#act-verify")
        page.wait_for_selector("#detail-state:has-text('已核查')")
        page.click("#act-close")
        page.wait_for_selector("#alerts tbody tr", state="detached")  # closed: off the open list
        page.select_option("#f-state", "closed")
        page.wait_for_selector("#alerts tbody tr[data-state='closed']")
        page.click("#alerts tbody tr[data-state='closed']")
        page.wait_for_selector("#history li >> nth=5")
        steps = [li.get_attribute("data-action") for li in page.query_selector_all("#history li")]
        assert steps == ["raise", "acknowledge", "assign", "rectify", "verify", "close"]
        assert "supervisor 签收 已到场处置" in page.inner_text("#history")  # who, what (in Chinese), comment
        page.screenshot(path=str(ARTEFACTS / "console-alert-closed.png"), full_page=True)

        page.click("text=报表")
        page.wait_for_url(f"{hub.base}/console/reports")
        page.wait_for_timeout(1500)
        expected = hub.client("viewer").get("/api/v1/reports/daily").json()["total"]
        assert expected >= 1  # WB-TAMPER at least
        page.wait_for_selector(f"#report-total:text-is('{expected}')")
        with page.expect_download() as download:
            page.click("#r-csv")
        saved = ARTEFACTS / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name.startswith("casewatch-daily-") and "WB-TAMPER" in saved.read_text(
            encoding="utf-8-sig"
        )
        page.screenshot(path=str(ARTEFACTS / "console-reports.png"), full_page=True)
        browser.close()
    assert errors == []  # no script error on any page


def test_the_alert_panel_shows_the_agents_own_evidence(hub: ApiHub, mqtt_broker: Any) -> None:
    """The snapshot at the condition's start is shown, the clip offered; pending until they arrive."""
    import ultralytics

    from protocol.files import encode_file
    from protocol.ids import uuid7

    jpeg = (Path(ultralytics.__file__).parent / "assets" / "bus.jpg").read_bytes()
    clip_id = uuid7(int(time.time() * 1000))
    snapshot, clip = "snapshots/cam-int-1/20261201T101010.123Z.jpg", f"clips/cam-int-1/{clip_id}.mp4"
    facts = {"persons": 2, "detainees": 1, "officers": 1, "required_officers": 2, "cameras": ["cam-int-1"]}
    start = hub.feed.event(
        "condition.start", int(time.time() * 1000) - 120_000, {"room": "int-1"},
        {"condition": "understaffed", "condition_id": uuid7(int(time.time() * 1000)), "facts": facts,
         "evidence": {"snapshot": snapshot, "clip_id": clip_id}},
        source="box-01",
    )  # fmt: skip
    mqtt = Collector(mqtt_broker.host, mqtt_broker.port)
    mqtt.publish(*hub.feed.message(start))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        browser_login(page, hub, "viewer")
        page.goto(f"{hub.base}/console/alerts")
        page.wait_for_selector("#live.on")
        page.click("#alerts tbody tr[data-level='yellow']")  # held 2 min: yellow (orange at 5)
        page.wait_for_selector(".evidence-file.pending[data-kind='clip']:has-text('尚未传到中心')")
        topic = hub.feed.layout.files("c1", "box-01")
        mqtt.publish(topic, encode_file("c1", "box-01", snapshot, jpeg, key=hub.feed.key, ts=1))
        mp4 = b"\x00\x00\x00\x18ftypmp42"
        mqtt.publish(topic, encode_file("c1", "box-01", clip, mp4, key=hub.feed.key, ts=1))
        image = page.wait_for_selector(".evidence-file[data-kind='snapshot'] img")  # live: no reload
        assert image is not None
        assert page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image)
        link = page.wait_for_selector(".evidence-file[data-kind='clip'] a[download]")
        assert link is not None and link.get_attribute("href") == f"/api/v1/files/box-01/{clip}"
        ARTEFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "console-alert-evidence.png"), full_page=True)
        browser.close()


def test_admins_manage_accounts_and_rules_in_the_console(hub: ApiHub) -> None:
    supervisor = console_login(hub, "supervisor")
    assert supervisor.get("/console/admin").status_code == 403  # only admins manage users and rules
    assert "/console/admin" not in supervisor.get("/console/").text
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="zh-CN")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        browser_login(page, hub, "admin")
        page.click("text=系统管理")
        page.wait_for_url(f"{hub.base}/console/admin")
        page.wait_for_selector("#users tr[data-user='viewer']")
        assert page.locator("#users tr[data-user='viewer'] .u-save").count() == 0  # the file's: read-only
        page.fill("#nu-username", "duty2")
        page.fill("#nu-display", "值班员二")
        page.select_option("#nu-role", "operator")
        page.fill("#nu-password", "short")
        page.click("#nu-submit")
        page.wait_for_selector("#users-error:not(:empty)")  # refused with the reason, form kept
        page.fill("#nu-password", "a-long-enough-one")
        page.click("#nu-submit")
        page.wait_for_selector("#users tr[data-user='duty2'][data-role='operator']")
        page.click("#users tr[data-user='duty2'] .u-toggle")
        page.wait_for_selector("#users tr[data-user='duty2'][data-disabled='true']")
        assert hub.anonymous().post(
            "/api/v1/login", json={"username": "duty2", "password": "a-long-enough-one"}
        ).status_code == 401  # fmt: skip

        row = "#rules tr[data-rule='INT-TWO']"
        page.fill(f"{row} .r-stage[data-level='yellow']", "30")
        page.fill(f"{row} .r-comment", "试点")
        page.click(f"{row} .r-save")
        page.wait_for_selector(f"{row}[data-overridden='true']")
        assert page.input_value(f"{row} .r-stage[data-level='yellow']") == "30"
        page.uncheck("#rules tr[data-rule='WB-TAMPER'] .r-enabled")
        page.click("#rules tr[data-rule='WB-TAMPER'] .r-save")
        page.wait_for_selector("#rules tr[data-rule='WB-TAMPER'][data-enabled='false']")
        ARTEFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "console-admin.png"), full_page=True)
        browser.close()
    assert errors == []
    rules = {r["id"]: r for r in hub.client("viewer").get("/api/v1/rules").json()}
    assert rules["INT-TWO"]["stages"][0]["after_ms"] == 30_000 and rules["WB-TAMPER"]["enabled"] is False
    trail = hub.client("admin").get("/api/v1/events", params={"kind": "rule.change"}).json()
    assert [e["event"]["data"]["comment"] for e in trail] == ["试点", ""]
