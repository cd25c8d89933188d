"""What a fingerprint dossier cabinet (智能卷宗柜) means, sans I/O: who may open which slot, and
what its doors and slot sensors say.

Access: an officer's fingerprint (and, where ``two_officers`` is set, a second, different
officer's) plus the document's QR, in either order within ``auth_window_s``, grant one slot for
``grant_window_s`` and ask the shell to pulse that slot's lock. A document the cabinet holds is a
*take* from its slot; any other document is a *return* into the first free slot.

Sensors: a door opened inside its slot's grant is ``open``, outside one ``forced``; open for
``door_held_s`` is ``held_open`` (once); closing ends the grant. A slot emptied or filled inside a
matching grant is ``scanned``; otherwise not, and the hub's DOSSIER-AUTH rule raises it.

Restarts and board outages: the whole picture (inventory, doors, slots, grants) is a
``CabinetState`` the shell persists after every change. The first board reading after a start or
an outage is *reconciled* with it: each difference is reported with ``reconciled: true`` (it
happened while nobody looked) and the inventory follows the board, never the other way round. No
grant is given while the board's reading is not current, nor a take from a slot the board says is
empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from devices.cabinet_state import Action, CabinetState, Grant
from devices.events import DeviceEvent
from protocol.data import CabinetAccess, CabinetDoor, CabinetScan, CabinetSlot
from protocol.fields import KEY_PATTERN

_KEY = re.compile(KEY_PATTERN)


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
    state: CabinetState = field(default_factory=CabinetState)
    _observed: bool = False
    """the board's reading is current (False after a start or an outage until the next one)"""

    def __post_init__(self) -> None:
        """A state saved under another slot list (slots removed from the config): what concerns a
        slot that no longer exists is dropped, so nothing is granted or reported for it."""
        state, known = self.state, set(self.rules.slots)
        state.inventory = {doc: slot for doc, slot in state.inventory.items() if slot in known}
        state.grants = {slot: g for slot, g in state.grants.items() if slot in known}
        state.open_since = {slot: at for slot, at in state.open_since.items() if slot in known}
        state.held_reported &= known
        self._fresh: set[str] = set()
        """slots added to the config since the state was saved: their first reading is a baseline"""
        for picture in (state.doors, state.occupied):
            if picture is not None:
                for slot in set(picture) - known:
                    del picture[slot]
                self._fresh |= known - set(picture)

    @property
    def inventory(self) -> dict[str, str]:
        return self.state.inventory

    @property
    def grants(self) -> dict[str, Grant]:
        return self.state.grants

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
        stale = [o for o, at in self.state.officers if now_ms - at > window]
        doc_stale = self.state.document is not None and now_ms - self.state.document[1] > window
        if not stale and not doc_stale:
            return
        officers = [o for o, _ in self.state.officers]
        document = self.state.document[0] if self.state.document else None
        second_missing = self.rules.two_officers and len(officers) == 1 and document is not None
        reason = "second_officer_missing" if second_missing else "timeout"
        out.events.append(self._access(now_ms, False, reason, officers=officers, document=document))
        self.state.officers, self.state.document = [], None

    def _free_slot(self) -> str | None:
        held = set(self.inventory.values()) | set(self.grants)
        occupied = self.state.occupied or {}
        for slot in self.rules.slots:
            if slot not in held and not occupied.get(slot, False):
                return slot
        return None

    def _refusal(self, document: str, slot: str | None) -> str | None:
        """Why no slot can be opened for ``document`` now (None: it can)."""
        if not self._observed:
            return "board_offline"
        if slot is None or slot in self.grants:
            return "slot_busy"
        if document in self.inventory and not (self.state.occupied or {}).get(slot, False):
            return "slot_empty"
        return None

    def _try_grant(self, now_ms: int, out: Decision) -> None:
        if self.state.document is None or not self.state.officers:
            return
        officers = [o for o, _ in self.state.officers]
        if self.rules.two_officers and len(officers) < 2:
            return
        document = self.state.document[0]
        self.state.officers, self.state.document = [], None
        slot = self.inventory.get(document)
        action: Action = "take" if slot is not None else "return"
        if slot is None:
            slot = self._free_slot()
        refusal = self._refusal(document, slot)
        if refusal is not None or slot is None:
            out.events.append(
                self._access(now_ms, False, refusal or "slot_busy", officers=officers, document=document)
            )
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
        if officer not in (o for o, _ in self.state.officers):
            self.state.officers.append((officer, now_ms))
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
        self.state.document = (code, now_ms)
        self._try_grant(now_ms, out)
        return out

    def pulse_due(self, slot: str, now_ms: int) -> bool:
        """Whether a queued lock pulse for ``slot`` may still fire: its grant exists, is unused and
        inside its window (a pulse that waited out a board outage must not open an empty cabinet)."""
        grant = self.grants.get(slot)
        return grant is not None and not grant.door_opened and now_ms <= grant.until_ms

    def resumed(self, now_ms: int) -> Decision:
        """After a restart: pulse again the locks of grants whose doors were not opened yet (the
        pulse may have been lost with the process); the grants themselves were persisted."""
        out = Decision()
        out.unlock += [s for s, g in self.grants.items() if not g.door_opened and now_ms <= g.until_ms]
        return out

    def board_lost(self) -> None:
        """The board stopped answering: what happens until it answers again is unobserved."""
        self._observed = False

    def sensors(self, doors: dict[str, bool], occupied: dict[str, bool], now_ms: int) -> Decision:
        """The board's inputs now: door open?, slot occupied? per slot. The first reading ever is
        the baseline (only documents the inventory places in empty slots are reported); the first
        after a start or an outage is compared with the persisted picture, differences marked
        ``reconciled``. Order: doors opening, slots, doors closing (a close ends the grant that
        explains a slot change seen in the same reading)."""
        out = Decision()
        reconciled = not self._observed
        self._observed = True
        state = self.state
        if state.doors is None or state.occupied is None:  # the baseline: the cabinet predates us
            state.doors, state.occupied, state.open_since = {}, {}, {}
            self._fresh = set(doors)
        for slot in self._fresh & set(doors):
            state.doors[slot] = doors[slot]
            if doors[slot]:
                state.open_since[slot] = now_ms
            state.occupied[slot] = occupied[slot] or bool(self._held_in(slot))
        self._fresh.clear()
        for slot, is_open in doors.items():
            if is_open and not state.doors.get(slot, False):
                out.events.append(self._door_opened(slot, now_ms, reconciled))
        for slot, full in occupied.items():
            if state.occupied.get(slot, False) != full:
                out.events.append(self._slot_change(slot, full, now_ms, reconciled))
        for slot, is_open in doors.items():
            if not is_open and state.doors.get(slot, False):
                out.events.append(self._door_closed(slot, now_ms, reconciled))
        return out

    def _held_in(self, slot: str) -> list[str]:
        return [doc for doc, s in self.inventory.items() if s == slot]

    def _door_opened(self, slot: str, now_ms: int, reconciled: bool) -> DeviceEvent:
        assert self.state.doors is not None
        self.state.doors[slot] = True
        self.state.open_since[slot] = now_ms
        grant = self.grants.get(slot)
        state = "forced"
        if grant is not None and grant.covers(now_ms):
            grant.door_opened = True
            state = "open"
        return self._door(slot, state, now_ms, now_ms, reconciled)

    def _door_closed(self, slot: str, now_ms: int, reconciled: bool) -> DeviceEvent:
        assert self.state.doors is not None
        self.state.doors[slot] = False
        since = self.state.open_since.pop(slot, None)
        self.state.held_reported.discard(slot)
        self.grants.pop(slot, None)
        return self._door(slot, "closed", since, now_ms, reconciled)

    def _door(
        self, slot: str, state: str, since: int | None, now_ms: int, reconciled: bool = False
    ) -> DeviceEvent:
        data = CabinetDoor.model_validate(
            {"state": state, "open_since": since, "reconciled": reconciled or None}
        )
        return DeviceEvent("cabinet.door", self.cabinet, self._subject(slot), data, now_ms)

    def _slot_change(self, slot: str, full: bool, now_ms: int, reconciled: bool) -> DeviceEvent:
        assert self.state.occupied is not None
        self.state.occupied[slot] = full
        grant = self.grants.get(slot)
        explained = grant is not None and grant.covers(now_ms)
        scanned = False
        held = self._held_in(slot)
        document: str | None = held[0] if held and not full else None
        if grant is not None and explained and grant.action == ("return" if full else "take"):
            scanned, document = True, grant.document
        if not full:
            for doc in held:
                del self.inventory[doc]  # the board says the slot is empty: so is the inventory
        elif scanned and document is not None:
            self.inventory[document] = slot
        data = CabinetSlot.model_validate(
            {
                "state": "in" if full else "out",
                "document": document[:256] if document else None,
                "scanned": scanned,
                "reconciled": reconciled or None,
            }
        )
        return DeviceEvent("cabinet.slot", self.cabinet, self._subject(slot, document), data, now_ms)

    def tick(self, now_ms: int) -> Decision:
        out = Decision()
        self._expire_pending(now_ms, out)
        for slot, grant in list(self.grants.items()):
            if not grant.door_opened and now_ms > grant.until_ms:
                del self.grants[slot]  # never opened: the lock has relocked itself
        for slot, since in self.state.open_since.items() if self._observed else ():
            # only from a current reading: a door may have shut while nobody looked
            if slot not in self.state.held_reported and now_ms - since >= self.rules.door_held_ms:
                self.state.held_reported.add(slot)
                out.events.append(self._door(slot, "held_open", since, now_ms))
        return out
