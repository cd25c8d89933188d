"""Each slot's contacts read through their wiring: board-wide levels, per-slot overrides, and
levels other than 0/1 refused by ``config check``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from devices.cabinet import CabinetOptions


def options(board: dict[str, Any] | None = None, **slot: Any) -> CabinetOptions:
    return CabinetOptions.model_validate(
        {
            "fingerprint": {"port": "loop://"},
            "board": {"port": "loop://", "inputs": 8, **(board or {})},
            "scanner": {"port": "loop://"},
            "slots": {
                "s01": {"lock_coil": 0, "door_input": 0, "occupied_input": 4},
                "s02": {"lock_coil": 1, "door_input": 1, "occupied_input": 5, **slot},
            },
        }
    )


def test_default_wiring_reads_one_as_open_and_one_as_present() -> None:
    cabinet = options()
    bits = [True, False, False, False, True, False, False, False]
    assert cabinet.door_open("s01", bits) and not cabinet.door_open("s02", bits)
    assert cabinet.file_present("s01", bits) and not cabinet.file_present("s02", bits)


def test_a_board_of_closed_high_contacts_and_one_slot_wired_the_other_way() -> None:
    cabinet = options({"door_closed_level": 1, "file_present_level": 0}, door_closed_level=0, pulse_s=2)
    bits = [True, True, False, False, True, True, False, False]
    assert not cabinet.door_open("s01", bits)  # 1 = closed on this board
    assert cabinet.door_open("s02", bits)  # this slot's contact is wired 1 = open
    assert not cabinet.file_present("s01", bits) and not cabinet.file_present("s02", bits)
    assert cabinet.pulse_s("s01") == 0.8 and cabinet.pulse_s("s02") == 2


@pytest.mark.parametrize("where", ["board", "slot"])
def test_a_level_other_than_0_or_1_is_refused(where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        if where == "board":
            options({"door_closed_level": 2})
        else:
            options(file_present_level="high")
    assert "door_closed_level" in str(raised.value) or "file_present_level" in str(raised.value)


def test_each_board_family_brings_its_own_defaults() -> None:
    modbus = options().board
    assert (modbus.baudrate, modbus.unit, modbus.door_closed_level) == (9600, 1, 0)
    kerong = options({"family": "kerong-cu16"}).board
    assert (kerong.baudrate, kerong.unit) == (19200, 0)
    assert (kerong.door_closed_level, kerong.file_present_level) == (1, 1)  # hook engaged = shut
    assert options({"family": "kerong-cu16", "door_closed_level": 0}).board.door_closed_level == 0


@pytest.mark.parametrize(
    ("board", "slot", "message"),
    [
        ({"unit": 0}, {}, "a Modbus slave address is 1–247"),
        ({"family": "kerong-cu16", "unit": 16}, {}, "board address (DIP) is 0–15"),
        ({"family": "kerong-cu16"}, {"lock_coil": 16}, "a Kerong CU16 has locks 0–15"),
        ({"family": "kerong-cu16", "inputs": 40}, {}, "has 32 inputs"),
        ({"family": "wiegand"}, {}, "'modbus' or 'kerong-cu16'"),
    ],
)
def test_addresses_and_locks_beyond_the_family_are_refused(
    board: dict[str, Any], slot: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        options(board, **slot)


@pytest.mark.parametrize(
    ("slot", "message"),
    [
        ({"lock_coil": 0}, "slots s01 and s02 share lock_coil 0"),
        ({"door_input": 4}, "door_input 4 is already s01's occupied_input"),
        ({"occupied_input": 0}, "occupied_input 0 is already s01's door_input"),
    ],
)
def test_two_slots_on_one_lock_or_input_are_refused(slot: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        options(**slot)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [(r"^(?P<case>[A-Z0-9]+-", "not a regular expression"), (r"^([A-Z0-9]+)-", "named group (?P<case>")],
)
def test_a_case_pattern_that_cannot_work_is_refused_at_load(pattern: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        CabinetOptions.model_validate({**options().model_dump(), "case_pattern": pattern})


def test_an_officer_page_beyond_the_library_is_refused() -> None:
    with pytest.raises(
        ValidationError, match=re.escape("officers: page(s) [300] beyond fingerprint.library_size")
    ):
        CabinetOptions.model_validate({**options().model_dump(), "officers": {7: "P1001", 300: "P1002"}})
