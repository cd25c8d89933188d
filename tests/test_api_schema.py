"""Every route of the HTTP API declares what it answers (no hub needed: the app is built bare).

The OpenAPI document (``/api/v1/openapi.json``) must say, for every 2xx answer of every route,
what the body is: a JSON schema with properties (a model), a list of such, or a string for a
non-JSON media type (JPEG, PDF, CSV, server-sent events). ``dict[str, Any]`` (a free-form
object) or ``Any`` (``{}``) fails. The domain models (``hub.domain``) and the response models
(``hub.api.views``) are also checked against what the code that fills them really produces.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

from hub import domain
from hub.accounts import Account
from hub.alerts import Action, Alert, Transition
from hub.api.app import create_app
from hub.api.views import admin, alerts, custody, media, reports
from hub.notify.store import Notification
from hub.outbound import alert_payload
from hub.projections import Projections, RoomInfo
from hub.records import BandBind, Intake, validate_record
from hub.reports import AlertRow, build, period_of
from hub.rule_admin import rule_view
from hub.rules.engine import load_rule_files
from hub.rules.levels import CHINESE
from hub.timeline import Seen, timeline
from protocol.data import CabinetDoor, CabinetSlot, DeviceHealth
from protocol.kinds import KINDS

REPO = Path(__file__).resolve().parent.parent
JSON_TYPES = ("string", "integer", "number", "boolean")
T0 = 1_767_250_000_000


# the walker -----------------------------------------------------------------------------------
def complete(schema: dict[str, Any], components: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether ``schema`` says what the body is (a ``$ref`` is followed to its component)."""
    if not schema:
        return False
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return name in seen or complete(components.get(name, {}), components, seen | {name})
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return bool(options) and all(complete(s, components, seen) for s in options)
    if "allOf" in schema:
        return any(complete(s, components, seen) for s in schema["allOf"])
    kind = schema.get("type")
    if kind == "array":
        return complete(schema.get("items") or {}, components, seen)
    if kind == "object":
        return bool(schema.get("properties"))
    return kind in JSON_TYPES


def undeclared(doc: dict[str, Any]) -> list[str]:
    """``METHOD path status media-type`` of every 2xx answer whose body the document leaves open."""
    components = (doc.get("components") or {}).get("schemas") or {}
    out = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for status, answer in (op.get("responses") or {}).items():
                if not str(status).startswith("2"):
                    continue
                content = answer.get("content") or {}
                if not content and str(status) != "204":
                    out.append(f"{method.upper()} {path} {status} (no content)")
                for media_type, entry in content.items():
                    if not complete(entry.get("schema") or {}, components):
                        out.append(f"{method.upper()} {path} {status} {media_type}")
    return out


def test_every_route_declares_its_answer() -> None:
    doc = create_app(None).openapi()  # type: ignore[arg-type]
    assert undeclared(doc) == []
    paths = doc["paths"]
    jpeg = paths["/api/v1/cameras/{camera}/snapshot"]["get"]["responses"]["200"]["content"]
    assert jpeg == {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}
    report = paths["/api/v1/reports/{kind}"]["get"]["responses"]["200"]["content"]
    assert report["application/json"]["schema"] == {"$ref": "#/components/schemas/ReportView"}
    assert {"text/csv", "text/html", "application/pdf"} <= set(report)
    assert set(paths["/api/v1/stream"]["get"]["responses"]["200"]["content"]) == {"text/event-stream"}


def test_the_walker_catches_a_route_without_a_model() -> None:
    app = FastAPI()

    @app.get("/free")
    def free() -> dict[str, Any]:
        return {}

    @app.get("/raw")
    def raw() -> Response:
        return Response(b"")

    @app.get("/anything")
    def anything() -> Any:
        return None

    @app.get("/typed")
    def typed() -> list[custody.Me]:
        return []

    @app.get("/jpeg", response_class=Response, responses=media.media(binary=("image/jpeg",)))
    def jpeg() -> Response:
        return Response(b"")

    assert undeclared(app.openapi()) == [
        "GET /free 200 application/json",
        "GET /raw 200 application/json",
        "GET /anything 200 application/json",
    ]


# the literals the domain repeats --------------------------------------------------------------
def _choices(model: type[BaseModel], field: str) -> set[Any]:
    annotation = model.model_fields[field].annotation
    return {a for arg in get_args(annotation) for a in (get_args(arg) or (arg,)) if a is not type(None)}


def test_the_domain_literals_match_where_the_data_is_validated() -> None:
    assert set(get_args(domain.BandRole)) == _choices(BandBind, "role")
    assert set(get_args(domain.Sex)) == _choices(Intake, "sex")
    assert set(get_args(domain.DoorState)) == _choices(CabinetDoor, "state")
    assert set(get_args(domain.SlotState)) == _choices(CabinetSlot, "state")
    assert set(get_args(domain.DeviceState)) == _choices(DeviceHealth, "state")
    assert set(get_args(alerts.LevelZh)) == set(CHINESE.values())
    assert set(get_args(Action)) <= set(get_args(alerts.TransitionAction))


# the models against what the code produces ----------------------------------------------------
def _extras(model: BaseModel, where: str = "") -> list[str]:
    """Fields held that the model does not name (kept by ``extra="allow"``, but undocumented)."""
    out = [f"{where}{k}" for k in model.model_extra or {}]
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, BaseModel):
                out += _extras(item, f"{where}{name}.")
    return out


def _typed(model: type[BaseModel], doc: Any) -> BaseModel:
    found = model.model_validate(doc)
    assert _extras(found) == [], (model.__name__, _extras(found))
    return found


def _agent_event(kind: str, ts: int, **subject: str) -> dict[str, Any]:
    spec = KINDS[kind]
    return {
        "kind": kind, "ts": ts, "agent": "a1", "source": "s1",
        "subject": {**spec.example_subject, **subject}, "data": dict(spec.example_data),
    }  # fmt: skip


def _record(kind: str, subject: dict[str, str], data: dict[str, Any], ts: int) -> dict[str, Any]:
    clean = validate_record(kind, subject, data)
    return {"kind": kind, "ts": ts, "agent": "hub", "source": "op", "subject": subject, "data": clean}


def test_the_domain_names_every_field_the_projections_hold() -> None:
    p = Projections("c1", rooms={"int-1": RoomInfo("int-1", "讯问室1", "interrogation")})
    case = "A3301020250001"
    docs = [
        _record("case.accept", {"case": case}, {"title": "t", "unit": "u1", "officers": ["P1001"]}, T0),
        _record("officer.register", {"officer": "P1001"}, {"name": "王", "sex": "male", "unit": "u1"}, T0),
        _record(
            "person.intake",
            {"person": "p1"},
            {"procedure": "summons", "arrived": T0, "name": "张", "sex": "male", "case": case, "minor": True},
            T0,
        ),
        _record(
            "person.intake",
            {"person": "p2"},
            {"procedure": "inquiry", "arrived": T0, "name": "李", "sex": "female"},
            T0,
        ),
        _record("band.bind", {"band": "B0042", "person": "p1"}, {"role": "detainee"}, T0 + 1),
        _record("band.bind", {"band": "B0001"}, {"role": "officer", "officer": "P1001"}, T0 + 1),
        _record("band.bind", {"band": "B0002", "person": "p2"}, {"role": "detainee"}, T0 + 1),
        _record("person.release", {"person": "p2"}, {"reason": "done", "family_pickup": True}, T0 + 2),
        *(
            _agent_event(kind, T0 + 3)
            for kind in ("band.position", "occupancy", "condition.start", "camera.health", "device.health")
        ),
        _agent_event("cabinet.slot", T0 + 4),
        _agent_event("cabinet.access", T0 + 5),
        _agent_event("cabinet.door", T0 + 6),
        {
            **_agent_event("cabinet.access", T0 + 7),
            "data": {**KINDS["cabinet.access"].example_data, "document": f"{case}-02"},
        },
    ]
    for doc in docs:
        p.apply(doc)
    tables: list[tuple[type[BaseModel], dict[str, dict[str, Any]]]] = [
        (domain.Person, p.persons), (domain.BandBinding, p.bands), (domain.Case, p.cases),
        (domain.Officer, p.officers), (domain.Dossier, p.dossiers), (domain.Cabinet, p.cabinets),
        (domain.RoomState, p.room_state), (domain.Camera, p.cameras), (domain.Device, p.devices),
    ]  # fmt: skip
    for model, table in tables:
        assert table, model.__name__
        for doc in table.values():
            _typed(model, doc)
    released = domain.Person.model_validate(p.persons["p2"])
    assert released.release is not None and released.release.family_pickup
    assert domain.Dossier.model_validate(p.dossiers[f"{case}-01"]).last_access is not None
    assert domain.Dossier.model_validate(p.dossiers[f"{case}-02"]).state is None  # known by an access only


def test_the_views_name_every_field_their_sources_produce() -> None:
    context = {"band": "B0042", "person": "p1", "room": "int-1", "room_type": "interrogation"}
    alert = Alert(
        "WB-TAMPER-B0042-1", "WB-TAMPER", ["B0042"], "orange", "assigned", T0, T0 + 5,
        reached={"orange": T0}, assignee="P1001", context={**context, "role": "detainee"}, events=[3, 7],
    )  # fmt: skip
    _typed(domain.Alert, alert.to_json())
    view = _typed(alerts.AlertView, json.loads(alert_payload(alert, None)))
    assert isinstance(view, alerts.AlertView) and view.level_zh == "橙"
    _typed(
        alerts.AlertTransition,
        asdict(Transition(alert.id, T0, "op", "assign", "assigned", "orange", "", False)),
    )
    note = Notification(1, "d", alert.id, "orange", "raised", "sms", "P1001", "officer", "13800001234", "b",
                        "sent", "", 1, T0, T0, None)  # fmt: skip
    assert _typed(alerts.Notification, note.to_json()).model_dump()["target"] == "*******1234"

    rules = load_rule_files(sorted((REPO / "configs" / "rules").glob("*.yaml"))).rules
    for rule in rules:
        _typed(admin.RuleView, rule_view(rule, rule, None))
    account = Account("ann", None, "admin", "hash", False, "console", T0, "root")
    _typed(admin.UserView, account.view())

    acknowledged, rectified = T0 + 60_000, T0 + 3_600_000
    rows = [
        AlertRow(
            "a1", "WB-TAMPER", "手环被拆", "orange", "讯问室1", "u1", ("王",), T0, acknowledged, rectified
        ),
        AlertRow("a2", "INT-TWO", "单人讯问", "yellow", "", "", (), T0 + 86_400_000),
    ]
    report = build(period_of("weekly", date(2026, 1, 1), "Asia/Shanghai"), rows, T0 + 7 * 86_400_000)
    _typed(reports.ReportView, report.to_json())

    person = {"id": "p1", "procedure": "summons", "arrived": T0, "name": "张", "sex": "male",
              "flags": {"minor": False, "special_group": False, "high_risk": False, "intoxicated": False},
              "released": T0 + 9_000, "bands": []}  # fmt: skip
    records = [
        {"kind": k, "ts": T0 + i, "source": "op", "subject": {"person": "p1", "band": "B0042"}, "data": d}
        for i, (k, d) in enumerate(
            [
                ("band.bind", {"role": "detainee"}),
                ("record", {"type": "safety_check", "note": ""}),
                ("approval", {"type": "extension", "hours": 12.0, "approved_by": "chief", "note": ""}),
                ("band.unbind", {"reason": ""}),
                ("person.release", {"reason": "done", "family_pickup": False}),
            ],
            1,
        )
    ]
    own = [Seen("B0042", T0 + 10, "int-1"), Seen("B0042", T0 + 4_000, None)]
    staff = [Seen("P1001", T0 + 20, "int-1")]
    steps = timeline(person, records, own, staff, [view.model_dump()], {"int-1": "讯问室1"}, {"P1001": "王"})
    found = _typed(custody.PersonTimeline, {"person": person, "bands": ["B0042"], "steps": steps})
    assert isinstance(found, custody.PersonTimeline)
    kinds = {type(step).__name__ for step in found.steps}
    assert kinds == {
        "ArrivalStep",
        "BandStep",
        "CareStep",
        "ApprovalStep",
        "ReleaseStep",
        "RoomStep",
        "AlertStep",
    }
