"""Who hears of an alert and in which words (pure policy on real projections), and the stored
side: dedupe and rate limits on real SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from foundation.errors import ConfigError
from hub.alerts import Alert, Transition
from hub.notify.policy import NotifyPolicy, Planned, Webhook, hold_back
from hub.notify.store import NotificationStore
from hub.notify.templates import template_problem
from hub.projections import Projections, RoomInfo
from hub.rules.spec import Rule
from hub.store import HubStore
from tests.secret_files import write_secret

T0 = 1_767_225_600_000  # 2026-01-01 08:00 in Shanghai


def record(kind: str, subject: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
    return {"agent": "hub", "kind": kind, "subject": subject, "data": data, "ts": T0}


def officer(
    oid: str, unit: str, roles: list[str], phone: str | None = "13800000000", active: bool = True
) -> dict[str, Any]:
    data = {"name": oid, "sex": "male", "unit": unit, "roles": roles, "active": active}
    if phone:
        data["phone"] = phone
    return record("officer.register", {"officer": oid}, data)


@pytest.fixture
def directory() -> Projections:
    p = Projections("c1", rooms={"int-1": RoomInfo("int-1", "讯问室1", "interrogation")})
    for doc in (
        officer("o1", "unit-a", ["officer"], "13800000001"),
        officer("o2", "unit-a", ["officer", "duty_supervisor"], "13800000002"),
        officer("lead-a", "unit-a", ["unit_leader"], "13800000003"),
        officer("lead-b", "unit-b", ["unit_leader"], "13800000004"),
        officer("duty", "centre", ["duty_supervisor"], None),
        officer("fz", "legal", ["legal"], "13800000005"),
        officer("dc", "insp", ["inspection"], "13800000006"),
        officer("gone", "unit-a", ["officer"], "13800000007", active=False),
        record("case.accept", {"case": "K1"}, {"unit": "unit-a", "officers": ["o1", "o2", "gone"]}),
        record("person.intake", {"person": "p1"},
               {"procedure": "summons", "arrived": T0, "name": "张三", "sex": "male", "case": "K1"}),
    ):  # fmt: skip
        p.apply(doc)
    return p


RULE = Rule.model_validate(
    {
        "id": "INT-TWO",
        "title": "讯问时办案民警少于二人",
        "basis": "《刑事诉讼法》第118条；《公安机关办理刑事案件程序规定》第202条",
        "shape": "hold",
        "key": ["room"],
        "start": {"kind": "condition.start"},
        "levels": [{"level": "yellow", "after": "60s"}],
    }
)


def alert(level: str = "yellow", **context: Any) -> Alert:
    ctx = {"room": "int-1", "person": "p1", **context}
    return Alert("INT-TWO-int-1-0001", "INT-TWO", ["int-1"], level, "open", T0, T0, context=ctx)  # type: ignore[arg-type]


def raised(a: Alert, level: str, action: str = "raise", **more: Any) -> Transition:
    return Transition(a.id, T0, "system", action, a.state, level, **more)  # type: ignore[arg-type]


def plan(
    policy: NotifyPolicy, a: Alert, t: Transition, directory: Projections, rule: Rule = RULE
) -> list[Planned]:
    return policy.plan([a], [t], {rule.id: rule}, directory)


def people(planned: list[Planned], channel: str) -> dict[str, str]:
    return {p.recipient: p.role for p in planned if p.channel == channel}


def test_each_level_reaches_its_roles_once_each(directory: Projections) -> None:
    policy = NotifyPolicy("c1", "演示中心", sms=True, mqtt_topic="casewatch/c1/notify/{recipient}")
    a = alert()
    assert people(plan(policy, a, raised(a, "blue"), directory), "sms") == {"o1": "officer", "o2": "officer"}
    yellow = people(plan(policy, a, raised(a, "yellow", "level"), directory), "mqtt")
    assert yellow == {"o1": "officer", "o2": "officer", "duty": "duty_supervisor"}  # o2 once
    orange = people(plan(policy, a, raised(a, "orange", "level"), directory), "mqtt")
    assert orange["lead-a"] == "unit_leader" and "lead-b" not in orange  # the case's unit only
    red = people(plan(policy, a, raised(a, "red", "escalate"), directory), "mqtt")
    assert {"fz": "legal", "dc": "inspection"}.items() <= red.items()
    assert "gone" not in red  # inactive officers are not told
    assert plan(policy, a, raised(a, "green"), directory) == []
    sms = plan(policy, a, raised(a, "yellow"), directory)
    assert "duty" not in people(sms, "sms")  # no phone: MQTT only
    assert {p.target for p in sms if p.channel == "sms"} == {"13800000001", "13800000002"}


def test_case_comes_from_the_person_when_the_alert_has_none(directory: Projections) -> None:
    policy = NotifyPolicy("c1", "演示中心", mqtt_topic="t/{recipient}")
    without_person = alert(person=None)
    without_person.context.pop("person")
    assert plan(policy, without_person, raised(without_person, "blue"), directory) == []
    direct = alert(case="K1")
    assert set(people(plan(policy, direct, raised(direct, "blue"), directory), "mqtt")) == {"o1", "o2"}


def test_the_chinese_text_says_what_where_since_and_why(directory: Projections) -> None:
    policy = NotifyPolicy("c1", "演示中心", sms=True)
    a = alert()
    (first, *_) = plan(policy, a, raised(a, "red", late=True), directory)
    assert first.body.startswith(
        "【演示中心】红色预警（迟报）：讯问时办案民警少于二人。讯问室1，01-01 08:00起。"
    )
    assert "依据《刑事诉讼法》第118条。" in first.body and first.body.endswith(f"告警号{a.id[-8:]}。")
    assert first.urgent and "张三" not in first.body  # names stay out of messages


def test_dedupe_keys_are_unique_and_stable_across_replays(directory: Projections) -> None:
    policy = NotifyPolicy(
        "c1",
        "演示中心",
        sms=True,
        mqtt_topic="t/{recipient}",
        webhooks=(Webhook("ops", "orange"), Webhook("all")),
    )
    a = alert()
    first = plan(policy, a, raised(a, "red"), directory)
    again = plan(policy, a, raised(a, "red"), directory)
    assert [p.dedupe for p in first] == [p.dedupe for p in again]
    assert len({p.dedupe for p in first}) == len(first)
    yellow = plan(policy, a, raised(a, "yellow"), directory)
    assert people(yellow, "webhook") == {"all": ""}  # ops wants orange and up


def test_assignment_tells_the_assignee(directory: Projections) -> None:
    policy = NotifyPolicy("c1", "演示中心", sms=True)
    a = alert("orange")
    a.assignee = "o2"  # assigned to o1, then to o2 in the same round: each hears of their own
    first = Transition(a.id, T0, "operator", "assign", "assigned", "orange", "→ o1", assignee="o1")
    second = Transition(a.id, T0, "operator", "assign", "assigned", "orange", "→ o2", assignee="o2")
    notes = policy.plan([a], [first, second], {RULE.id: RULE}, directory)
    assert [(n.recipient, n.role) for n in notes] == [("o1", "assignee"), ("o2", "assignee")]
    assert "已派给您整改" in notes[0].body and notes[0].dedupe != notes[1].dedupe
    unit = Transition(a.id, T0 + 1, "operator", "assign", "assigned", "orange", assignee="unit-a")
    assert plan(policy, a, unit, directory) == []  # a unit, not a person: nobody to text


def test_a_rule_adds_roles_and_its_own_words(directory: Projections) -> None:
    rule = RULE.model_copy(update={"notify": ["legal"], "message": "{level_zh}色：{title}@{room}"})
    policy = NotifyPolicy("c1", "演示中心", sms=True)
    a = alert()
    planned = plan(policy, a, raised(a, "blue"), directory, rule)
    assert people(planned, "sms") == {"o1": "officer", "o2": "officer", "fz": "legal"}
    assert planned[0].body == "蓝色：讯问时办案民警少于二人@讯问室1"


def test_templates_with_unknown_fields_are_refused_at_load(tmp_path: Path) -> None:
    assert template_problem("{level_zh}{title}") is None
    assert "unknown field(s) {name}" in str(template_problem("{name}"))
    assert "not a valid template" in str(template_problem("{oops"))
    from foundation.configfile import load_config
    from hub.config import HubConfig

    write_secret(tmp_path / "hub.key", "k" * 64)
    (tmp_path / "hub.yaml").write_text(
        "center: c1\nsigning: {key_file: hub.key}\nstore: {path: hub.db}\n"
        "notify:\n  sms_template: '告警 {name}'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "hub.yaml", HubConfig)
    assert "notify.sms_template" in str(caught.value) and "{name}" in str(caught.value)


def test_rate_limit_holds_back_per_person_and_channel_never_red() -> None:
    def note(recipient: str, channel: str = "sms", urgent: bool = False, n: int = 0) -> Planned:
        return Planned(
            f"a{n}|{recipient}|{channel}",
            f"a{n}",
            "yellow",
            "raise",
            channel,
            recipient,
            "officer",
            "x",
            "t",
            urgent,
        )  # type: ignore[arg-type]

    held = hold_back(
        [note("o1", n=1), note("o1", n=2), note("o1", "mqtt", n=3), note("o1", urgent=True, n=4),
         note("ops", "webhook", n=5)],
        {"sms:o1": 1},
        per_hour=2,
    )  # fmt: skip
    reasons = [why for _, why in held]
    assert (
        reasons[0] is None and reasons[1] is not None and "rate limit: 2 per hour for o1 (sms)" in reasons[1]
    )
    assert reasons[2:] == [None, None, None]


def test_store_dedupes_and_suppresses_over_the_limit(tmp_path: Path, directory: Projections) -> None:
    store = HubStore(tmp_path / "hub.db")
    notes = NotificationStore(store)
    policy = NotifyPolicy("c1", "演示中心", sms=True)
    first, second = (
        alert(),
        Alert("INT-TWO-int-1-0002", "INT-TWO", ["int-1"], "yellow", "open", T0, T0, context={"person": "p1"}),
    )
    with store.transaction() as db:
        assert notes.add(db, plan(policy, first, raised(first, "yellow"), directory), T0, per_hour=1) == 2
    with store.transaction() as db:  # the same again (a replay): nothing new
        assert notes.add(db, plan(policy, first, raised(first, "yellow"), directory), T0, per_hour=1) == 0
    with store.transaction() as db:
        assert (
            notes.add(db, plan(policy, second, raised(second, "yellow"), directory), T0 + 1000, per_hour=1)
            == 2
        )
    rows = notes.query(alert=second.id)
    assert {r.state for r in rows} == {"suppressed"} and all("rate limit" in r.detail for r in rows)
    with store.transaction() as db:  # an hour later the budget is back
        third = Alert(
            "INT-TWO-int-1-0003", "INT-TWO", ["int-1"], "yellow", "open", T0, T0, context={"person": "p1"}
        )
        notes.add(db, plan(policy, third, raised(third, "yellow"), directory), T0 + 3_600_001, per_hour=1)
    assert {r.state for r in notes.query(alert="INT-TWO-int-1-0003")} == {"pending"}
    assert notes.counts() == {"pending": 4, "suppressed": 2}
    store.close()
