"""A Kerong CU16 lock board's far end for tests, the demo and ``casewatch sim cabinet --board
kerong-cu16``: answers status and unlock frames on its DIP address, ignores other boards' frames.

Inputs have the same layout as the Modbus board simulator (the cabinet simulator drives both):
0–15 the lock hooks, 16–31 the slot sensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.kerong_frames import LOCKS, READ_STATUS, UNLOCK, KerongDecoder, status_reply


@dataclass
class SimulatedKerongBoard:
    unit: int = 0
    """the board's DIP address"""
    inputs: list[bool] = field(default_factory=lambda: [False] * (2 * LOCKS))
    pulses: list[int] = field(default_factory=list)
    """every lock unlocked, in order (what the tests check)"""
    requests: int = 0
    decoder: KerongDecoder = field(default_factory=KerongDecoder)

    def respond(self, data: bytes) -> bytes:
        out = b""
        for request in self.decoder.feed(data):
            self.requests += 1
            if request.board != self.unit:
                continue
            if request.command == UNLOCK:
                self.pulses.append(request.lock)
            elif request.command != READ_STATUS:
                continue
            out += status_reply(self.unit, self.inputs[:LOCKS], self.inputs[LOCKS:])
        return out
