"""Whose room condition it is, as the hub works it out from the agent's facts and its own bindings
(pure projections, and the alert filters on a real SQLite store): co-suspects keep the shared case
only, a band re-bound after the condition began is not its new wearer's, and an alert of several
cases is found by any of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.alerts import Alert
from hub.core import Changes
from hub.projections import Projections, RoomInfo
from hub.queries import AlertFilter, Queries
from hub.state_store import DerivedStore
from hub.store import HubStore


def hub_record(kind: str, subject: dict[str, str], data: dict[str, Any], ts: int) -> dict[str, Any]:
    return {"agent": "hub", "kind": kind, "subject": subject, "data": data, "ts": ts}


def condition(name: str, bands: list[str], cases: list[str], ts: int) -> dict[str, Any]:
    data = {"condition": name, "condition_id": "c-1", "facts": {"bands": bands, "cases": cases}}
    return {
        "agent": "box-01",
        "kind": "condition.start",
        "subject": {"room": "wait-1"},
        "data": data,
        "ts": ts,
    }


def centre(people: dict[str, tuple[str, str]]) -> Projections:
    """``people``: person -> (case, band), each registered and banded at t=1000."""
    p = Projections("c1", rooms={"wait-1": RoomInfo("wait-1", "候问室1", "waiting")})
    for person, (case, band) in people.items():
        intake = {"procedure": "summons", "arrived": 1000, "name": person, "sex": "male", "case": case}
        p.apply(hub_record("person.intake", {"person": person}, intake, 1000))
        p.apply(hub_record("band.bind", {"band": band, "person": person}, {"role": "detainee"}, 1000))
    return p


def test_co_suspects_keep_only_the_cases_the_detainees_share() -> None:
    p = centre({"p1": ("A", "b1"), "p2": ("A", "b2"), "p3": ("B", "b3")})
    fact = p.enrich(condition("co_suspects", ["b1", "b2", "b3"], ["A"], 5000))
    assert fact.context["cases"] == ["A"] and fact.context["case"] == "A"
    assert fact.context["persons"] == ["p1", "p2", "p3"] and "person" not in fact.context
    other = p.enrich(condition("mixed_sexes", ["b1", "b3"], [], 5000))
    assert other.context["cases"] == ["A", "B"]  # any other condition concerns every case present


def test_a_band_bound_anew_after_the_condition_began_is_not_its_new_wearers() -> None:
    p = centre({"p1": ("A", "b1")})
    p.apply(hub_record("person.release", {"person": "p1"}, {}, 5000))
    intake = {"procedure": "summons", "arrived": 6000, "name": "p9", "sex": "male", "case": "C"}
    p.apply(hub_record("person.intake", {"person": "p9"}, intake, 6000))
    p.apply(hub_record("band.bind", {"band": "b1", "person": "p9"}, {"role": "detainee"}, 6100))
    late = p.enrich(condition("unattended", ["b1"], ["A"], 3000))  # began at 3000, arrived late
    assert late.context["cases"] == ["A"] and "person" not in late.context and "persons" not in late.context


def test_an_alert_of_several_cases_is_found_by_any_of_them(tmp_path: Path) -> None:
    store = HubStore(tmp_path / "hub.db")
    context = {"room": "wait-1", "case": "A", "cases": ["A", "B"], "persons": ["p1", "p3"]}
    alert = Alert(id="x1", rule="MIX", key=["c-1"], level="orange", state="open", opened_ms=1, updated_ms=1,
                  context=context)  # fmt: skip
    DerivedStore(store).save(Changes(alerts=[alert]))
    queries = Queries(store)
    for found in (AlertFilter(case="A"), AlertFilter(case="B"), AlertFilter(person="p3")):
        assert [a.id for a in queries.alerts(found)] == ["x1"], found
    assert queries.alerts(AlertFilter(case="C")) == [] and queries.alerts(AlertFilter(person="p2")) == []
    store.close()
