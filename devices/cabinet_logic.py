"""What a fingerprint dossier cabinet (智能卷宗柜) means, sans I/O: who may open which slot, and
what its doors and slot sensors say.

Access: an officer's fingerprint (and, where ``two_officers`` is set, a second, different
officer's) plus the document's QR, in either order within ``auth_window_s``, grant one slot for
``grant_window_s`` and ask the shell to pulse that slot's lock. A document the cabinet holds is a
*take* from its slot; any other document is a *return* into the first free slot.

Sensors: a door opened inside its slot's grant is ``open``, outside one ``forced``; open for
``door_held_s`` is ``held_open`` (once); closing ends the grant. A slot emptied or filled inside a
matching grant is ``scanned``; otherwise not, and the hub's DOSSIER-AUTH rule raises it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from devices.events import DeviceEvent
from protocol.data import CabinetAccess, CabinetDoor, CabinetScan, CabinetSlot
from protocol.fields import KEY_PATTERN

_KEY = re.compile(KEY_PATTERN)
Action = Literal["take", "return"]


@dataclass(frozen=True)
class CabinetRules:
    officers: dict[int, str]
    """fingerprint page -> officer id"""
    slots: tuple[str, ...]
    authorised: frozenset[str] | None = None
    """officers allowed to use the cabinet (None: every mapped officer)"""
    two_officers: bool = False
    auth_window_ms: int = 60_000
    grant_window_ms: int = 30_000
    door_held_ms: int = 120_000
    case_pattern: str = r"^(?P<case>[A-Za-z0-9]+)-"
    """how to find the case number in a document code (named group ``case``)"""


@dataclass
class Grant:
    slot: str
    action: Action
    document: str
    officers: tuple[str, ...]
    until_ms: int
    door_opened: bool = False


@dataclass
class Decision:
    """What the shell must do: publish ``events``, pulse the locks of ``unlock``."""

    events: list[DeviceEvent] = field(default_factory=list)
    unlock: list[str] = field(default_factory=list)

    def add(self, other: Decision) -> Decision:
        self.events += other.events
        self.unlock += other.unlock
        return self


@dataclass
class CabinetLogic:
    cabinet: str
    rules: CabinetRules
    inventory: dict[str, str] = field(default_factory=dict)
    """document -> slot it lies in"""
    grants: dict[str, Grant] = field(default_factory=dict)
    inventory_changed: bool = False
    _officers: list[tuple[str, int]] = field(default_factory=list)
    _document: tuple[str, int] | None = None
    _doors: dict[str, bool] | None = None
    _occupied: dict[str, bool] | None = None
    _open_since: dict[str, int] = field(default_factory=dict)
    _held_reported: set[str] = field(default_factory=set)

    # -- helpers --------------------------------------------------------------------------------
    def _subject(self, slot: str | None = None, document: str | None = None) -> dict[str, str]:
        subject = {"cabinet": self.cabinet}
        if slot:
            subject["slot"] = slot
        if document:
            if _KEY.match(document):
                subject["dossier"] = document
            found = re.search(self.rules.case_pattern, document)
            if found and found.groupdict().get("case") and _KEY.match(found["case"]):
                subject["case"] = found["case"]
        return subject

    def _access(
        self,
        now_ms: int,
        granted: bool,
        reason: str,
        *,
        officers: list[str] | None = None,
        document: str | None = None,
        slot: str | None = None,
        action: Action | None = None,
    ) -> DeviceEvent:
        data = CabinetAccess.model_validate(
            {
                "granted": granted,
                "reason": reason,
                "action": action,
                "officers": (officers or [])[:4],
                "document": document[:256] if document else None,
                "slot": slot,
            }
        )
        return DeviceEvent("cabinet.access", self.cabinet, self._subject(slot, document), data, now_ms)

    def _expire_pending(self, now_ms: int, out: Decision) -> None:
        window = self.rules.auth_window_ms
        stale = [o for o, at in self._officers if now_ms - at > window]
        doc_stale = self._document is not None and now_ms - self._document[1] > window
        if not stale and not doc_stale:
            return
        officers = [o for o, _ in self._officers]
        document = self._document[0] if self._document else None
        second_missing = self.rules.two_officers and len(officers) == 1 and document is not None
        reason = "second_officer_missing" if second_missing else "timeout"
        out.events.append(self._access(now_ms, False, reason, officers=officers, document=document))
        self._officers, self._document = [], None

    def _free_slot(self) -> str | None:
        held = set(self.inventory.values()) | set(self.grants)
        for slot in self.rules.slots:
            if slot in held:
                continue
            if self._occupied is not None and self._occupied.get(slot, False):
                continue
            return slot
        return None

    def _try_grant(self, now_ms: int, out: Decision) -> None:
        if self._document is None or not self._officers:
            return
        officers = [o for o, _ in self._officers]
        if self.rules.two_officers and len(officers) < 2:
            return
        document = self._document[0]
        self._officers, self._document = [], None
        slot = self.inventory.get(document)
        action: Action = "take" if slot is not None else "return"
        if slot is None:
            slot = self._free_slot()
        if slot is None or slot in self.grants:
            out.events.append(self._access(now_ms, False, "slot_busy", officers=officers, document=document))
            return
        self.grants[slot] = Grant(
            slot, action, document, tuple(officers), now_ms + self.rules.grant_window_ms
        )
        out.events.append(
            self._access(
                now_ms, True, "granted", officers=officers, document=document, slot=slot, action=action
            )
        )
        out.unlock.append(slot)

    # -- inputs ---------------------------------------------------------------------------------
    def finger(self, page: int | None, now_ms: int) -> Decision:
        """A finger was identified as ``page`` (None: no match in the module's library)."""
        out = Decision()
        self._expire_pending(now_ms, out)
        if page is None:
            out.events.append(self._access(now_ms, False, "no_match"))
            return out
        officer = self.rules.officers.get(page)
        if officer is None or (self.rules.authorised is not None and officer not in self.rules.authorised):
            out.events.append(
                self._access(now_ms, False, "not_authorised", officers=[officer] if officer else [])
            )
            return out
        if officer not in (o for o, _ in self._officers):
            self._officers.append((officer, now_ms))
        self._try_grant(now_ms, out)
        return out

    def scan(self, code: str, now_ms: int) -> Decision:
        out = Decision()
        self._expire_pending(now_ms, out)
        out.events.append(
            DeviceEvent(
                "cabinet.scan", self.cabinet, self._subject(None, code), CabinetScan(code=code[:1024]), now_ms
            )
        )
        self._document = (code, now_ms)
        self._try_grant(now_ms, out)
        return out

    def sensors(self, doors: dict[str, bool], occupied: dict[str, bool], now_ms: int) -> Decision:
        """The board's inputs now: door open?, slot occupied? per slot. The first call is the
        baseline (nothing to report: the cabinet was like this before we looked)."""
        out = Decision()
        if self._doors is None or self._occupied is None:
            self._doors, self._occupied = dict(doors), dict(occupied)
            for slot, is_open in doors.items():
                if is_open:
                    self._open_since[slot] = now_ms
            return out
        for slot, is_open in doors.items():
            if self._doors.get(slot) == is_open:
                continue
            self._doors[slot] = is_open
            grant = self.grants.get(slot)
            if is_open:
                self._open_since[slot] = now_ms
                if grant is not None and now_ms <= grant.until_ms:
                    grant.door_opened = True
                    state = "open"
                else:
                    state = "forced"
                out.events.append(self._door(slot, state, now_ms, now_ms))
            else:
                since = self._open_since.pop(slot, None)
                self._held_reported.discard(slot)
                self.grants.pop(slot, None)
                out.events.append(self._door(slot, "closed", since, now_ms))
        for slot, full in occupied.items():
            if self._occupied.get(slot) == full:
                continue
            self._occupied[slot] = full
            out.events.append(self._slot_change(slot, full, now_ms))
        return out

    def _door(self, slot: str, state: str, since: int | None, now_ms: int) -> DeviceEvent:
        data = CabinetDoor.model_validate({"state": state, "open_since": since})
        return DeviceEvent("cabinet.door", self.cabinet, self._subject(slot), data, now_ms)

    def _slot_change(self, slot: str, full: bool, now_ms: int) -> DeviceEvent:
        grant = self.grants.get(slot)
        scanned = False
        document: str | None = None
        if full:
            if grant is not None and grant.action == "return":
                scanned, document = True, grant.document
                self.inventory[document] = slot
                self.inventory_changed = True
        else:
            held = [doc for doc, s in self.inventory.items() if s == slot]
            document = held[0] if held else None
            if grant is not None and grant.action == "take":
                scanned, document = True, grant.document
            for doc in held:
                del self.inventory[doc]
                self.inventory_changed = True
        data = CabinetSlot.model_validate(
            {
                "state": "in" if full else "out",
                "document": document[:256] if document else None,
                "scanned": scanned,
            }
        )
        return DeviceEvent("cabinet.slot", self.cabinet, self._subject(slot, document), data, now_ms)

    def tick(self, now_ms: int) -> Decision:
        out = Decision()
        self._expire_pending(now_ms, out)
        for slot, grant in list(self.grants.items()):
            if not grant.door_opened and now_ms > grant.until_ms:
                del self.grants[slot]  # never opened: the lock has relocked itself
        for slot, since in self._open_since.items():
            if slot not in self._held_reported and now_ms - since >= self.rules.door_held_ms:
                self._held_reported.add(slot)
                out.events.append(self._door(slot, "held_open", since, now_ms))
        return out
