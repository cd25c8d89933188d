"""The belongings ledger (随身物品登记): what each person put in which locker and what came back.

Pure: the person's ``record`` hub records of one custody in, per locker the items still held out.
A ``belongings_stored`` record adds its items to its locker (no locker: kept without one); a
``belongings_returned`` record takes its items out of the locker — or all of them when it lists
none (the locker was emptied). The release checks the ledger: what is still held is written into
the release record (``belongings_left``) and rule BELONGINGS-FORGOTTEN (物品遗忘提醒) raises it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

NO_LOCKER = ""


def ledger(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every store and return in log order, each ``{ts, type, locker, items, by, picture}``."""
    out = []
    for rec in records:
        data = rec.get("data") or {}
        if rec.get("kind") == "record" and str(data.get("type", "")).startswith("belongings_"):
            out.append({"ts": rec.get("ts"), "type": data["type"], "locker": data.get("locker"),
                        "items": list(data.get("items") or []), "note": data.get("note", ""),
                        "by": rec.get("source"), "picture": data.get("picture")})  # fmt: skip
    return out


def still_held(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per locker, the items stored and not handed back (lockers with nothing left are left out).
    A store without items counts as one unnamed item, so an emptied-by-nobody locker is not lost."""
    held: dict[str, list[str]] = {}
    for entry in entries:
        locker = str(entry.get("locker") or NO_LOCKER)
        items = [str(i) for i in entry.get("items") or []]
        if entry.get("type") == "belongings_stored":
            held.setdefault(locker, []).extend(items or ["（未列明）"])
        elif entry.get("type") == "belongings_returned":
            if not items:
                held.pop(locker, None)
                continue
            left = held.get(locker, [])
            for item in items:
                if item in left:
                    left.remove(item)
            if not left:
                held.pop(locker, None)
    return [{"locker": locker or None, "items": items} for locker, items in sorted(held.items()) if items]
