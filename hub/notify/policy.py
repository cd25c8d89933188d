"""Who hears of an alert, by which channel and in which words — without I/O.

``plan`` turns the transitions of one processing round into ``Planned`` notifications:

- a level reached (``raise``, ``level``, ``escalate``) goes to the roles configured for that level
  (RULES.md "Levels": blue → handling officer; yellow adds the duty supervisor; orange adds the
  unit leader; red adds 法制 and 督察);
- an ``assign`` goes to the assignee when it is a registered officer.

Roles resolve through the ``Directory`` (the hub's projections): the handling officers are the
officers of the alert's cases (a room condition's ``cases``, its ``case``, or the person's case);
the unit leaders are ``unit_leader``s of those cases' units (or of the handling officers' units);
duty supervisors, 法制 and 督察 are everyone registered with that role. A manual finding (远程提醒)
also reaches, at every level, the officers it names and the unit leaders of the unit it names.
Each recipient gets one SMS
(when an SMS modem is configured and the officer has a phone) and one MQTT message; each webhook
gets one POST with the recipients listed. ``dedupe`` names a notification uniquely (alert, level
or assignee, channel, recipient), so a replay or a restart never plans a second copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from hub.alerts import Alert, Transition
from hub.findings import alert_title
from hub.notify.templates import DEFAULT_ASSIGN_TEMPLATE, DEFAULT_SMS_TEMPLATE, Role
from hub.rules.levels import CHINESE, Level, rank
from hub.rules.spec import Rule

log = logging.getLogger(__name__)

Channel = Literal["sms", "mqtt", "webhook"]
DEFAULT_ROLES: dict[Level, tuple[Role, ...]] = {
    "green": (),
    "blue": ("officer",),
    "yellow": ("officer", "duty_supervisor"),
    "orange": ("officer", "unit_leader", "duty_supervisor"),
    "red": ("officer", "unit_leader", "duty_supervisor", "legal", "inspection"),
}
_LEVEL_REASONS = ("raise", "level", "escalate")


def render(template: str, fields: dict[str, Any], fallback: str) -> str:
    """The message; a template that cannot render (checked at load, so only a field of an
    unexpected type) falls back to the default words rather than stopping the hub's rounds."""
    try:
        return template.format(**fields)
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        log.error("notification template cannot be rendered (%s): the default one is used", exc)
        return fallback.format(**fields)


class Directory(Protocol):
    """What the policy reads of the hub's projections (officers, cases, persons, rooms)."""

    officers: dict[str, dict[str, Any]]
    cases: dict[str, dict[str, Any]]
    persons: dict[str, dict[str, Any]]

    def room_name(self, room: str) -> str: ...


@dataclass(frozen=True)
class Webhook:
    id: str
    min_level: Level = "blue"


@dataclass(frozen=True)
class Planned:
    dedupe: str
    alert: str
    level: Level
    reason: str
    channel: Channel
    recipient: str
    role: str
    target: str
    body: str
    urgent: bool
    """Red: never held back by a rate limit."""


@dataclass(frozen=True)
class NotifyPolicy:
    center: str
    center_name: str
    timezone: str = "Asia/Shanghai"
    roles: Mapping[Level, tuple[Role, ...]] = field(default_factory=lambda: dict(DEFAULT_ROLES))
    sms: bool = False
    mqtt_topic: str | None = None
    """``{recipient}`` is replaced; None: no MQTT notifications."""
    webhooks: tuple[Webhook, ...] = ()
    sms_template: str = DEFAULT_SMS_TEMPLATE
    assign_template: str = DEFAULT_ASSIGN_TEMPLATE

    def plan(
        self,
        alerts: Iterable[Alert],
        transitions: Iterable[Transition],
        rules: Mapping[str, Rule],
        directory: Directory,
    ) -> list[Planned]:
        by_id = {a.id: a for a in alerts}
        out: list[Planned] = []
        for t in transitions:
            alert = by_id.get(t.alert)
            if alert is None:
                continue
            if t.action in _LEVEL_REASONS:
                out += self._level(alert, t, rules.get(alert.rule), directory)
            elif t.action == "assign" and t.assignee in directory.officers:
                out += self._assigned(alert, t, rules.get(alert.rule), directory)
        return out

    # the two kinds of news ----------------------------------------------------------------------
    def _level(self, alert: Alert, t: Transition, rule: Rule | None, directory: Directory) -> list[Planned]:
        level = t.level
        fields = self._fields(alert, t, rule, directory)
        body = render((rule.message if rule else None) or self.sms_template, fields, DEFAULT_SMS_TEMPLATE)
        stem = f"{alert.id}|{level}"
        out: list[Planned] = []
        extra = tuple(rule.notify) if rule else ()
        for recipient, role in self.recipients(alert, level, directory, extra):
            out += self._personal(stem, alert, level, t.action, recipient, role, body, directory)
        for hook in self.webhooks:
            if rank(level) >= rank(hook.min_level):
                out.append(
                    Planned(
                        f"{stem}|webhook|{hook.id}", alert.id, level, t.action, "webhook", hook.id,
                        "", hook.id, body, level == "red",
                    )
                )  # fmt: skip
        return out

    def _assigned(
        self, alert: Alert, t: Transition, rule: Rule | None, directory: Directory
    ) -> list[Planned]:
        assignee = str(t.assignee)
        body = render(self.assign_template, self._fields(alert, t, rule, directory), DEFAULT_ASSIGN_TEMPLATE)
        stem = f"{alert.id}|assign@{t.at_ms}:{assignee}"
        return self._personal(stem, alert, alert.level, "assign", assignee, "assignee", body, directory)

    def _personal(
        self,
        stem: str,
        alert: Alert,
        level: Level,
        reason: str,
        recipient: str,
        role: str,
        body: str,
        directory: Directory,
    ) -> list[Planned]:
        out: list[Planned] = []
        phone = (directory.officers.get(recipient) or {}).get("phone")
        if self.sms and phone:
            out.append(
                Planned(f"{stem}|sms|{recipient}", alert.id, level, reason, "sms", recipient, role,
                        str(phone), body, level == "red")
            )  # fmt: skip
        if self.mqtt_topic is not None:
            topic = self.mqtt_topic.replace("{recipient}", recipient)
            out.append(
                Planned(f"{stem}|mqtt|{recipient}", alert.id, level, reason, "mqtt", recipient, role,
                        topic, body, level == "red")
            )  # fmt: skip
        return out

    # who ----------------------------------------------------------------------------------------
    def recipients(
        self, alert: Alert, level: Level, directory: Directory, extra: tuple[Role, ...] = ()
    ) -> list[tuple[str, str]]:
        """``(officer id, role)`` for each person to tell, each person once (first role wins).

        ``extra``: a rule's own ``notify:`` roles, told at each of its levels (green excepted).
        """
        seen: dict[str, str] = {}
        handling = handling_officers(alert, directory)
        for officer in named_responsible(alert, directory):  # a reminder reaches whom it names
            seen.setdefault(officer, "officer" if officer in handling else "unit_leader")
        roles = self.roles.get(level, ())
        if level != "green":
            roles = (*roles, *(r for r in extra if r not in roles))
        for role in roles:
            if role == "officer":
                found = handling
            elif role == "unit_leader":
                units = _units(alert, handling, directory)
                found = [
                    o
                    for o in _with_role(directory, "unit_leader")
                    if directory.officers[o].get("unit") in units
                ]
            else:
                found = _with_role(directory, role)
            for officer in found:
                seen.setdefault(officer, role)
        return list(seen.items())

    # words --------------------------------------------------------------------------------------
    def _fields(self, alert: Alert, t: Transition, rule: Rule | None, directory: Directory) -> dict[str, str]:
        ctx = alert.context
        room = str(ctx.get("room") or "")
        room_name = directory.room_name(room) if room else ""
        at = datetime.fromtimestamp(alert.opened_ms / 1000, ZoneInfo(self.timezone)).strftime("%m-%d %H:%M")
        basis = rule.basis if rule else ""
        return {
            "center": self.center,
            "center_name": self.center_name,
            "level": t.level,
            "level_zh": CHINESE[t.level],
            "title": alert_title(alert, rule),
            "basis": basis.split("；")[0].split(";")[0][:40] if basis else "相关规定",
            "rule": alert.rule,
            "alert": alert.id,
            "alert_short": alert.id[-8:],
            "room": room_name,
            "where": f"{room_name}，" if room_name else "",
            "case": str(ctx.get("case") or ""),
            "person": str(ctx.get("person") or ""),
            "at": at,
            "reason": t.action,
            "comment": t.comment,
            "note": _sentence(str(ctx.get("note") or "")),
            "late": "（迟报）" if t.late else "",
        }


def _sentence(text: str) -> str:
    """A comment as a sentence of an SMS: ends with 。 unless it ends with punctuation already."""
    text = text.strip()
    return text if not text or text[-1] in "。！？.!?；;" else f"{text}。"


def alert_cases(alert: Alert, directory: Directory) -> list[str]:
    """The cases an alert concerns: its ``cases`` (a room condition's), its ``case``, else the
    case of its person."""
    cases = [str(c) for c in alert.context.get("cases") or []]
    case = alert.context.get("case")
    person = directory.persons.get(str(alert.context.get("person") or ""))
    if not case and person:
        case = person.get("case")
    if case and str(case) not in cases:
        cases.append(str(case))
    return cases


def handling_officers(alert: Alert, directory: Directory) -> list[str]:
    """The officers a manual finding names, then those of the alert's cases; registered, active."""
    officers: list[str] = [str(o) for o in alert.context.get("officers") or []]
    for case in alert_cases(alert, directory):
        officers += [o for o in (directory.cases.get(case) or {}).get("officers") or [] if o not in officers]
    return [
        o
        for o in officers
        if (directory.officers.get(o) or {}).get("active", True) and o in directory.officers
    ]


def named_responsible(alert: Alert, directory: Directory) -> list[str]:
    """Whom a manual finding names, told at every level (green included): its officers (active)
    and the unit leaders of the unit it names. The operator chose them; the level chooses who
    else hears of it."""
    if not alert.context.get("finding"):
        return []
    ctx = alert.context
    named = [
        str(o)
        for o in ctx.get("officers") or []
        if (directory.officers.get(str(o)) or {}).get("active", True)
    ]
    named = [o for o in named if o in directory.officers]
    unit = ctx.get("unit")
    if unit:
        named += [
            o for o in _with_role(directory, "unit_leader") if directory.officers[o].get("unit") == unit
        ]
    return list(dict.fromkeys(named))


def _units(alert: Alert, handling: list[str], directory: Directory) -> set[str]:
    cases = [directory.cases.get(c) or {} for c in alert_cases(alert, directory)]
    units = {str(case["unit"]) for case in cases if case.get("unit")}
    if alert.context.get("unit"):  # a manual finding's responsible unit
        units.add(str(alert.context["unit"]))
    units.update(str(directory.officers[o]["unit"]) for o in handling if directory.officers[o].get("unit"))
    return units


def _with_role(directory: Directory, role: str) -> list[str]:
    return sorted(
        o
        for o, doc in directory.officers.items()
        if role in (doc.get("roles") or []) and doc.get("active", True)
    )


def hold_back(
    planned: Iterable[Planned], recent: Mapping[str, int], per_hour: int
) -> list[tuple[Planned, str | None]]:
    """Each notification with why it is held back (a rate limit), or None to send it.

    ``recent`` counts what each recipient was sent (or queued) in the past hour. Red is never held
    back: a life, an escape or evidence at stake outweighs a noisy hour. Webhooks are not limited
    (a machine, not a person, reads them).
    """
    counts = dict(recent)
    out: list[tuple[Planned, str | None]] = []
    for note in planned:
        if note.channel == "webhook" or note.urgent:
            out.append((note, None))
            continue
        key = f"{note.channel}:{note.recipient}"
        if counts.get(key, 0) >= per_hour:
            out.append((note, f"rate limit: {per_hour} per hour for {note.recipient} ({note.channel})"))
            continue
        counts[key] = counts.get(key, 0) + 1
        out.append((note, None))
    return out
