"""What the log says now: persons in custody, band bindings, where bands are, cases, officers.

Pure and rebuildable: ``apply`` folds one logged event (an agent's or a hub record) into the
state, ``enrich`` turns an event into the ``Fact`` rules see (docs/rules.md lists its paths).
Changes are collected for the shell to persist and, for bands, to publish as retained registry
messages. ``casewatch hub rebuild`` replays the log through a fresh instance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hub.rules.facts import Fact
from protocol.registry import BandFlags, BandRegistration

FLAG_NAMES = ("minor", "special_group", "high_risk", "intoxicated")


@dataclass(frozen=True)
class RoomInfo:
    id: str
    name: str
    type: str


@dataclass
class Projections:
    center: str
    rooms: dict[str, RoomInfo] = field(default_factory=dict)
    persons: dict[str, dict[str, Any]] = field(default_factory=dict)
    bands: dict[str, dict[str, Any]] = field(default_factory=dict)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    officers: dict[str, dict[str, Any]] = field(default_factory=dict)
    band_room: dict[str, dict[str, Any]] = field(default_factory=dict)
    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Document code → where it is (cabinet, slot, in/out, since) and who last took or returned it."""
    room_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Room → persons counted per camera zone, their total, and the agent's open conditions."""
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    cabinets: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Cabinet → each door's last state (open, closed, held_open, forced) and since when."""
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Floor plan → its picture (name, hash, size) and where rooms and cameras lie on it."""
    _changed: set[tuple[str, str]] = field(default_factory=set)
    _registry: dict[str, BandRegistration | None] = field(default_factory=dict)

    # reading ----------------------------------------------------------------------------------
    def enrich(self, doc: dict[str, Any], pos: int = 0) -> Fact:
        """The fact rules see for a logged event (before it is applied)."""
        data = doc.get("data") or {}
        values: dict[str, Any] = {k: v for k, v in (doc.get("subject") or {}).items() if v is not None}
        values.update(agent=doc.get("agent"), source=doc.get("source"), data=data)
        kind = doc.get("kind", "")
        if kind == "band.position" and data.get("room"):
            values["room"] = data["room"]
        band = values.get("band")
        if band:
            self._band_values(band, values)
        if kind == "person.intake":
            values.update(procedure=data.get("procedure"), sex=data.get("sex"), case=data.get("case"))
            values["flags"] = {name: bool(data.get(name)) for name in FLAG_NAMES}
        elif values.get("person") in self.persons:
            self._person_values(self.persons[values["person"]], values)
        if kind.startswith("condition."):
            self._condition_values(data, values, int(doc.get("ts", 0)))
        elif kind == "person.release" and data.get("belongings_left"):
            left = data["belongings_left"]
            held = [f"{x.get('locker') or '—'}: {'、'.join(x.get('items') or [])}" for x in left]
            values["note"] = "；".join(held)[:200]
        elif kind == "finding.manual":
            values.update(
                item=data.get("item"), item_title=data.get("title"), officers=data.get("officers") or None,
                unit=data.get("unit"), note=str(data.get("comment") or "")[:200] or None,
            )  # fmt: skip
        document = data.get("document")
        if isinstance(document, str):
            case = self.document_case(document)
            if case:
                values["document_case"] = case
                values.setdefault("case", case)
        room = values.get("room")
        if isinstance(room, str) and room in self.rooms:
            values["room_type"] = self.rooms[room].type
        return Fact(kind, int(doc.get("ts", 0)), values, pos)

    def _band_values(self, band: str, values: dict[str, Any]) -> None:
        binding = self.bands.get(band)
        if binding:
            values["role"] = binding["role"]
            for key in ("person", "officer"):
                if binding.get(key):
                    values.setdefault(key, binding[key])
        if "room" not in values and band in self.band_room:
            values["room"] = self.band_room[band]["room"]

    def _person_values(self, person: dict[str, Any], values: dict[str, Any]) -> None:
        values.setdefault("case", person.get("case"))
        values.update(procedure=person.get("procedure"), sex=person.get("sex"))
        values["flags"] = dict(person.get("flags", {}))

    def _condition_values(self, data: dict[str, Any], values: dict[str, Any], ts: int) -> None:
        """A room condition concerns the detainees whose bands the agent saw there, and their cases:
        the hub adds what its bindings know to what the agent sent, so an alert reaches the case's
        officers even when the agent had no registry (``person``: set when there is exactly one;
        ``case``: the first; ``persons``/``cases``: all of them). ``co_suspects`` keeps the cases
        the agent found shared, and a band bound anew after the condition began is not its wearer's."""
        facts = data.get("facts") or {}
        flags = dict.fromkeys(FLAG_NAMES, False)
        persons: set[str] = set()
        cases = {str(c) for c in facts.get("cases") or []}
        shared_only = data.get("condition") == "co_suspects"  # the agent named the shared cases
        for band in facts.get("bands") or []:
            binding = self.bands.get(band) or {}
            if int(binding.get("since") or 0) > ts:
                continue  # bound to someone else since the condition began (it arrived late)
            person = self.persons.get(binding.get("person") or "")
            if person is None:
                continue
            persons.add(str(binding["person"]))
            if person.get("case") and not shared_only:
                cases.add(str(person["case"]))
            for name, on in person.get("flags", {}).items():
                flags[name] = flags.get(name, False) or bool(on)
        values["flags"] = flags
        if persons:
            values["persons"] = sorted(persons)
            if len(persons) == 1:
                values.setdefault("person", next(iter(persons)))
        if cases:
            values["cases"] = sorted(cases)
            values.setdefault("case", min(cases))

    def document_case(self, document: str) -> str | None:
        """Dossier codes are ``{case}-{nn}``; the case is known from its acceptance."""
        if document in self.cases:
            return document
        head = document.rsplit("-", 1)[0]
        return head if head in self.cases else None

    def room_name(self, room: str) -> str:
        info = self.rooms.get(room)
        return info.name if info else room

    def in_custody(self) -> list[dict[str, Any]]:
        return [p for p in self.persons.values() if p.get("released") is None]

    def registration(self, band: str, now_ms: int) -> BandRegistration | None:
        binding = self.bands.get(band)
        if binding is None:
            return None
        person = self.persons.get(binding.get("person") or "") or {}
        officer = self.officers.get(binding.get("officer") or "") or {}
        sex = person.get("sex") or officer.get("sex")
        return BandRegistration(
            center=self.center,
            band=band,
            role=binding["role"],
            sex=sex,
            case=person.get("case"),
            person=binding.get("person"),
            flags=BandFlags(**person.get("flags", {})),
            updated=now_ms,
        )

    # folding the log --------------------------------------------------------------------------
    def apply(self, doc: dict[str, Any]) -> None:
        kind = doc.get("kind", "")
        subject = doc.get("subject") or {}
        data = doc.get("data") or {}
        ts = int(doc.get("ts", 0))
        if kind == "band.position" and subject.get("band") and data.get("room"):
            self._set(
                "band_room", subject["band"], {"room": data["room"], "zone": data.get("zone"), "ts": ts}
            )
        if kind in ("cabinet.slot", "cabinet.access"):
            self._dossier(kind, subject, data, ts)
        elif kind in ("occupancy", "condition.start", "condition.end") and subject.get("room"):
            self._room(kind, subject, data, ts)
        elif kind == "cabinet.door" and subject.get("cabinet"):
            cabinet = dict(self.cabinets.get(subject["cabinet"]) or {"id": subject["cabinet"], "doors": {}})
            door = str(subject.get("slot") or "door")
            cabinet["doors"] = {**cabinet["doors"], door: {"state": data.get("state"), "since": ts}}
            self._set("cabinet", subject["cabinet"], cabinet)
        elif kind == "camera.health" and subject.get("camera"):
            self._camera_health(subject, data, ts, str(doc.get("agent") or ""))
        elif kind in ("recording.state", "recording.gap") and subject.get("camera"):
            self._camera_recording(kind, subject, data, str(doc.get("agent") or ""))
        elif kind == "device.health" and subject.get("device"):
            device = {
                "id": subject["device"],
                "state": data.get("state"),
                "driver": data.get("driver"),
                "detail": data.get("detail"),
                "since": ts,
                "agent": doc.get("agent"),
            }
            self._set("device", subject["device"], device)  # fmt: skip
        if doc.get("agent") == "hub":
            self._apply_record(kind, subject, data, ts)

    def _apply_record(self, kind: str, subject: dict[str, Any], data: dict[str, Any], ts: int) -> None:
        """What people told the hub: intake, release, band bindings, cases, officers."""
        if kind == "person.intake":
            person = {k: v for k, v in data.items() if k not in FLAG_NAMES}
            person.update(
                id=subject["person"],
                flags={n: bool(data.get(n)) for n in FLAG_NAMES},
                released=None,
                bands=[],
            )
            self._set("person", subject["person"], person)
        elif kind == "person.release" and subject.get("person") in self.persons:
            person = self.persons[subject["person"]]
            person.update(released=ts, release=data)
            for band in list(person.get("bands", [])):
                self._unbind(band)
            self._set("person", person["id"], person)
        elif kind == "band.bind":
            self._bind(subject["band"], subject.get("person"), data, ts)
        elif kind == "band.unbind":
            self._unbind(subject["band"])
        elif kind == "case.accept":
            self._set("case", subject["case"], {"id": subject["case"], "accepted": ts, **data})
        elif kind == "officer.register":
            self._set("officer", subject["officer"], {"id": subject["officer"], **data})
        elif kind in ("plan.image", "plan.layout"):
            plan = {
                **(self.plans.get(subject["plan"]) or {"id": subject["plan"], "rooms": {}, "cameras": {}})
            }
            plan.update(data)
            plan["image_ts" if kind == "plan.image" else "layout_ts"] = ts
            self._set("plan", subject["plan"], plan)

    def _room(self, kind: str, subject: dict[str, Any], data: dict[str, Any], ts: int) -> None:
        room = dict(
            self.room_state.get(subject["room"]) or {"id": subject["room"], "zones": {}, "conditions": {}}
        )
        if kind == "occupancy":
            zones = {
                **room["zones"],
                f"{subject.get('camera')}/{subject.get('zone')}": int(data.get("count", 0)),
            }
            per_camera: dict[str, int] = {}
            for name, count in zones.items():
                camera = name.split("/", 1)[0]
                per_camera[camera] = per_camera.get(camera, 0) + count
            # cameras of one room see the same people: the room holds what the fullest view shows
            room.update(zones=zones, persons=max(per_camera.values(), default=0), updated=ts)
        elif kind == "condition.start":
            room["conditions"] = {**room["conditions"], data.get("condition_id"): data.get("condition")}
        else:
            room["conditions"] = {
                k: v for k, v in room["conditions"].items() if k != data.get("condition_id")
            }
        self._set("room", subject["room"], room)

    def _dossier(self, kind: str, subject: dict[str, Any], data: dict[str, Any], ts: int) -> None:
        document = data.get("document")
        if not isinstance(document, str):
            return
        dossier = dict(self.dossiers.get(document) or {"id": document})
        dossier["case"] = self.document_case(document) or subject.get("case") or dossier.get("case")
        if kind == "cabinet.slot":
            dossier.update(
                cabinet=subject.get("cabinet"),
                slot=subject.get("slot"),
                state=data.get("state"),
                since=ts,
                scanned=bool(data.get("scanned")),
            )
        elif data.get("granted") and data.get("action") in ("take", "return"):
            dossier["last_access"] = {
                "action": data["action"],
                "officers": list(data.get("officers") or []),
                "cabinet": subject.get("cabinet"),
                "slot": data.get("slot") or subject.get("slot"),
                "ts": ts,
            }
        else:
            return
        self._set("dossier", document, dossier)

    def _bind(self, band: str, person_id: str | None, data: dict[str, Any], ts: int) -> None:
        if band in self.bands:
            self._unbind(band)
        self._set(
            "band",
            band,
            {
                "band": band,
                "role": data["role"],
                "person": person_id,
                "officer": data.get("officer"),
                "since": ts,
            },
        )
        person = self.persons.get(person_id or "")
        if person is not None:
            person["bands"] = [*person.get("bands", []), band]
            self._set("person", person["id"], person)
        self._registry[band] = None  # computed when taken

    def _unbind(self, band: str) -> None:
        binding = self.bands.get(band)
        if binding is None:
            return
        person = self.persons.get(binding.get("person") or "")
        if person is not None:
            person["bands"] = [b for b in person.get("bands", []) if b != band]
            self._set("person", person["id"], person)
        self._set("band", band, None)
        self._registry[band] = None

    def _camera_health(self, subject: dict[str, Any], data: dict[str, Any], ts: int, agent: str) -> None:
        """A camera belongs to the first agent that reported it: another agent's report about it is
        noted (``contested_by``) and changes nothing — neither its state nor whose pictures are
        shown and kept as evidence (hub/web/snapshots.py). A camera moved to another box gets a new id."""
        camera_id = str(subject["camera"])
        known = self.cameras.get(camera_id, {})
        owner = known.get("agent") or agent
        if owner != agent:
            self._set("camera", camera_id, {**known, "contested_by": agent})
            return
        camera = {
            "id": camera_id,
            "state": data.get("state"),
            "since": data.get("since", ts),
            "detail": data.get("detail"),
            "snapshot": data.get("snapshot"),
            "agent": owner,
            "room": subject.get("room") or known.get("room"),
        }
        self._set("camera", camera_id, {**known, **camera})

    def _camera_recording(self, kind: str, subject: dict[str, Any], data: dict[str, Any], agent: str) -> None:
        """Whether a camera its owner reported is being recorded, and its last recording gap."""
        camera_id = str(subject["camera"])
        known = self.cameras.get(camera_id)
        if known is None:  # recording can start before the vision pipeline's first health report:
            # the camera is streaming (segments are written), and this agent is its first reporter
            known = {"id": camera_id, "state": "online", "since": data.get("since") or data.get("start"),
                     "agent": agent, "room": subject.get("room")}  # fmt: skip
        if known.get("agent") != agent:
            return  # another box's word about this camera changes nothing
        if kind == "recording.state":
            news = {"recording": {"state": data.get("state"), "since": data.get("since")}}
        else:
            news = {"last_gap": {k: data.get(k) for k in ("start", "end", "reason")}}
        self._set("camera", camera_id, {**known, **news})

    def _set(self, kind: str, key: str, doc: dict[str, Any] | None) -> None:
        table: dict[str, dict[str, Any]] = getattr(self, _TABLES[kind])
        if doc is None:
            table.pop(key, None)
        else:
            table[key] = doc
        self._changed.add((kind, key))

    # persistence ------------------------------------------------------------------------------
    def take_changes(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        out = [(kind, key, getattr(self, _TABLES[kind]).get(key)) for kind, key in sorted(self._changed)]
        self._changed.clear()
        return out

    def take_registry(self, now_ms: int) -> dict[str, BandRegistration | None]:
        """Bands whose retained registration must be (re)published; None = publish empty."""
        out = {band: self.registration(band, now_ms) for band in self._registry}
        self._registry.clear()
        return out

    def load(self, rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        for kind, key, doc in rows:
            if kind in _TABLES:
                getattr(self, _TABLES[kind])[key] = doc


_TABLES = {
    "person": "persons",
    "band": "bands",
    "case": "cases",
    "officer": "officers",
    "band_room": "band_room",
    "dossier": "dossiers",
    "room": "room_state",
    "camera": "cameras",
    "device": "devices",
    "cabinet": "cabinets",
    "plan": "plans",
}
