"""Enrolling a finger safely, sans I/O: the dialogue as a generator that yields the packets to send
(or ``Later`` ones) and receives the module's acknowledgements.

What makes it safe: it reads the library's index first (so an occupied page is refused unless
``replace``, and the default page is the first free one), waits for a finger for up to
``finger_timeout_s`` with a prompt, searches the library with the first capture and refuses a
finger that is already enrolled (naming its page), and requires the finger to be lifted before
the second capture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

from devices.fingerprint import (
    INDEX_PAGE_SIZE,
    Later,
    Packet,
    gen_img,
    img2tz,
    read_index_table,
    reg_model,
    search,
    search_result,
    store,
    used_pages,
)
from protocol.clock import Clock

NO_FINGER, NOT_FOUND, COMBINE_FAILED = 0x02, 0x09, 0x0A
Say = Callable[[str], None]
Dialogue = Generator["bytes | Later", Packet, "Enrolled | EnrolFailed"]


@dataclass(frozen=True)
class Enrolled:
    page: int


@dataclass(frozen=True)
class EnrolFailed:
    reason: str
    code: int | None = None


@dataclass(frozen=True)
class EnrolPlan:
    page: int | None = None
    """None: the first free page"""
    capacity: int = 300
    replace: bool = False
    finger_timeout_s: float = 20.0
    poll_s: float = 0.2
    attempts: int = 3
    """captures tried per placement before giving up (a poor image is common)"""
    mapped: frozenset[int] = frozenset()
    """pages the cabinet's ``officers:`` maps to someone: taken, even if the module's page is empty"""


def used_library_pages(capacity: int) -> Generator[bytes, Packet, set[int] | EnrolFailed]:
    """Every page holding a template, from the module's index table (256 pages per table page)."""
    used: set[int] = set()
    for index_page in range(math.ceil(capacity / INDEX_PAGE_SIZE)):
        ack = yield read_index_table(index_page)
        if ack.code != 0:
            hint = " (an older module without ReadIndexTable: give --page and --replace)"
            return EnrolFailed(f"cannot read the library index: {ack.text}{hint}", ack.code)
        used |= set(used_pages(ack, index_page))
    return used


def choose_page(plan: EnrolPlan, used: set[int]) -> int | EnrolFailed:
    used = used | plan.mapped  # a mapped page would make the new finger someone else
    free = [page for page in range(plan.capacity) if page not in used]
    if plan.page is None:
        return free[0] if free else EnrolFailed(f"the library is full ({plan.capacity} pages)")
    if plan.page >= plan.capacity:
        return EnrolFailed(f"page {plan.page} is beyond the library ({plan.capacity} pages)")
    if plan.page in used and not plan.replace:
        hint = f"first free page: {free[0]}" if free else "the library is full"
        what = "is mapped in officers:" if plan.page in plan.mapped else "already holds a finger"
        return EnrolFailed(f"page {plan.page} {what} ({hint}; --replace overwrites it)")
    return plan.page


def wait_for(
    present: bool, plan: EnrolPlan, clock: Clock
) -> Generator[bytes | Later, Packet, EnrolFailed | None]:
    """Poll the sensor until a finger is on it (``present``) or off it; None when it is."""
    deadline = clock.monotonic() + plan.finger_timeout_s
    ack = yield gen_img()
    while True:
        if present and ack.code == 0:
            return None
        if not present and ack.code == NO_FINGER:
            return None
        if ack.code not in (0, NO_FINGER, 0x03):
            return EnrolFailed(f"the module refused: {ack.text}", ack.code)
        if clock.monotonic() >= deadline:
            what = "no finger was placed" if present else "the finger was not lifted"
            return EnrolFailed(f"{what} within {plan.finger_timeout_s:g} s")
        ack = yield Later(plan.poll_s, gen_img())


def capture(buffer: int, plan: EnrolPlan, clock: Clock, say: Say) -> Dialogue:
    """A finger placed and turned into features in ``buffer`` (retrying a poor image)."""
    for attempt in range(plan.attempts):
        failed = yield from wait_for(True, plan, clock)
        if failed is not None:
            return failed
        ack = yield img2tz(buffer)
        if ack.code == 0:
            return Enrolled(-1)
        if attempt + 1 < plan.attempts:
            say(f"图像不清 ({ack.text})：请抬起手指后重按 (lift the finger and place it again)")
            failed = yield from wait_for(False, plan, clock)
            if failed is not None:
                return failed
    return EnrolFailed(f"no usable image in {plan.attempts} attempts: {ack.text}", ack.code)


def enrolment(plan: EnrolPlan, clock: Clock, say: Say = lambda _text: None) -> Dialogue:
    used = yield from used_library_pages(plan.capacity)
    if isinstance(used, EnrolFailed):
        if not (plan.page is not None and plan.replace):
            return used
        say(f"无法读取指纹库索引，写入第 {plan.page} 页 (index unreadable: page {plan.page} as asked)")
        used = set()
    page = choose_page(plan, used)
    if isinstance(page, EnrolFailed):
        return page
    say(f"请按手指 (place a finger on the sensor) — page {page}")
    first = yield from capture(1, plan, clock, say)
    if isinstance(first, EnrolFailed):
        return first
    ack = yield search(1, 0, plan.capacity)
    found = search_result(ack)
    if found is not None and found[0] >= plan.capacity:
        found = None  # a page outside the library is no page: treat as not found
    if found is not None and not (plan.replace and found[0] == page):
        return EnrolFailed(f"this finger is already enrolled at page {found[0]}", ack.code)
    if found is None and ack.code not in (NOT_FOUND, 0):
        return EnrolFailed(f"the library search failed: {ack.text}", ack.code)
    say("请抬起手指 (lift the finger)")
    failed = yield from wait_for(False, plan, clock)
    if failed is not None:
        return failed
    say("请再按同一手指 (place the same finger again)")
    second = yield from capture(2, plan, clock, say)
    if isinstance(second, EnrolFailed):
        return second
    ack = yield reg_model()
    if ack.code != 0:
        reason = "the two captures are not the same finger" if ack.code == COMBINE_FAILED else ack.text
        return EnrolFailed(reason, ack.code)
    ack = yield store(1, page)
    if ack.code != 0:
        return EnrolFailed(f"could not store at page {page}: {ack.text}", ack.code)
    return Enrolled(page)
