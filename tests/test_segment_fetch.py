"""The hub's segment requests at the agent (protocol/fetch.py, agent/segment_fetch.py): hostile
requests refused with a reason, a range answered once its end has passed and its last segment
closed, digests of the bytes on disk, retention kept off requested ranges."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from agent.recording import Recorders, RecorderSettings
from agent.segment_fetch import SegmentFetch
from detectors.config import Camera
from protocol.canonical import canonical_bytes
from protocol.clock import ManualClock
from protocol.data import RecordingSegments
from protocol.errors import ProtocolError
from protocol.fetch import FetchRequest, Keep, Range, decode_fetch, encode_fetch
from protocol.registry import registry_key, registry_keyring
from protocol.signing import Keyring, signed

HUB_KEY = b"hub-key-for-tests-0123456789"
T0 = 1_796_313_600_000


def keyring() -> Keyring:
    return registry_keyring(registry_key(HUB_KEY))


def test_a_request_round_trips_and_hostile_ones_are_refused() -> None:
    request = FetchRequest("c1", "box-01", (Range("p-1", "cam-1", T0, T0 + 60_000),), T0,
                           (Keep("cam-2", T0 - 300_000, T0 + 300_000),))  # fmt: skip
    assert decode_fetch(encode_fetch(request, HUB_KEY), keyring(), center="c1", agent="box-01") == request
    with pytest.raises(ProtocolError, match="another centre or agent"):
        decode_fetch(encode_fetch(request, HUB_KEY), keyring(), center="c1", agent="box-02")
    with pytest.raises(ProtocolError):  # signed with another key
        decode_fetch(
            encode_fetch(request, b"not-the-hub-key-0123456789"), keyring(), center="c1", agent="box-01"
        )

    def forged(ranges: object, keep: object = ()) -> bytes:
        body = {"v": 1, "center": "c1", "agent": "box-01", "ts": T0, "ranges": ranges, "keep": list(keep)}
        if keep == "not a list":
            body["keep"] = keep
        return canonical_bytes(signed(body, registry_key(HUB_KEY)))

    for keep, reason in [
        ([{"camera": "cam-1", "start": T0, "end": T0 + 86_400_001}], "at most a day"),
        ([{"camera": "../x", "start": T0, "end": T0 + 1}], "bad camera"),
        (["k"], "must be an object"),
        ("not a list", "keep must be a list"),
    ]:
        with pytest.raises(ProtocolError, match=reason):
            decode_fetch(forged([], keep), keyring(), center="c1", agent="box-01")

    for bad, reason in [
        ([{"id": "p", "camera": "cam-1", "start": T0, "end": T0 + 11 * 60_000}], "at most 10 min"),
        ([{"id": "p", "camera": "cam-1", "start": T0, "end": T0}], "start < end"),
        ([{"id": "../x", "camera": "cam-1", "start": T0, "end": T0 + 1}], "bad range id"),
        ([{"id": "p", "camera": "../../etc", "start": T0, "end": T0 + 1}], "bad camera"),
        (["p"], "must be an object"),
        ({"id": "p"}, "ranges required"),
        ([{"id": "p", "camera": "c", "start": T0, "end": T0 + 1}] * 257, "ranges required"),
    ]:
        with pytest.raises(ProtocolError, match=reason):
            decode_fetch(forged(bad), keyring(), center="c1", agent="box-01")
    with pytest.raises(ProtocolError):
        decode_fetch(b"\xff{not json", keyring(), center="c1", agent="box-01")


def write_segment(folder: Path, start_s: int, body: bytes) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{(T0 // 1000) + start_s}.mp4"
    (folder / name).write_bytes(body)
    os.utime(folder / name, ((T0 / 1000) + start_s + 9.8,) * 2)
    return name


def test_a_range_is_answered_once_when_its_last_segment_is_closed(tmp_path: Path) -> None:
    names = [write_segment(tmp_path / "cam-1", s, f"video {s}".encode() * 100) for s in (0, 10, 20, 30)]
    (tmp_path / "cam-1" / "notes.txt").write_text("not a segment")
    clock = ManualClock(T0 + 25_000)
    answered: list[tuple[str | None, RecordingSegments]] = []
    sent: list[str] = []
    fetch = SegmentFetch(
        tmp_path, {"cam-1": "int-1", "cam-2": None}, segment_s=10, clock=clock,
        answer=lambda _r, room, data: answered.append((room, data)), send=sent.append,
    )  # fmt: skip
    wanted = Range("p-1", "cam-1", T0 + 12_000, T0 + 25_000)
    unknown = Range("p-2", "cam-9", T0, T0 + 5_000)
    fetch.request(FetchRequest("c1", "box-01", (wanted, unknown), T0))
    assert fetch.poll() == 1 and answered[0][1].segments == []  # not a camera of this box: nothing held
    assert fetch.poll() == 0  # the segment holding 25 s may still be written
    clock.set(T0 + 25_000 + 15_000)
    assert fetch.poll() == 1 and fetch.poll() == 0
    room, data = answered[1]
    assert room == "int-1" and data.request == "p-1" and [s.name for s in data.segments] == names[1:3]
    for info in data.segments:
        assert info.sha256 == hashlib.sha256((tmp_path / "cam-1" / info.name).read_bytes()).hexdigest()
        assert info.size == (tmp_path / "cam-1" / info.name).stat().st_size
    assert sent == [f"segments/cam-1/{n}" for n in names[1:3]]
    fetch.request(FetchRequest("c1", "box-01", (wanted,), T0))  # the same range still wanted
    assert fetch.poll() == 0
    fetch.request(FetchRequest("c1", "box-01", (), T0))
    assert fetch.protected() == []


def test_retention_keeps_what_the_hub_still_asks_for(tmp_path: Path) -> None:
    names = [write_segment(tmp_path / "cam-1", s, b"x" * 1000) for s in range(0, 60, 10)]
    clock = ManualClock(T0 + 400 * 86_400_000)  # everything is past keep_days
    fetch = SegmentFetch(tmp_path, {"cam-1": "int-1"}, segment_s=10, clock=clock,
                         answer=lambda *_: None, send=lambda _p: None)  # fmt: skip
    alert_time = Keep("cam-1", T0 + 31_000, T0 + 39_000)  # an open alert's: kept, not sent
    fetch.request(FetchRequest("c1", "box-01", (Range("p-1", "cam-1", T0 + 15_000, T0 + 25_000),), T0,
                               (alert_time,)))  # fmt: skip
    cam = Camera.model_validate(
        {"id": "cam-1", "room": "int-1", "source": {"type": "rtsp", "url": "rtsp://x/"}}
    )
    recorders = Recorders([cam], tmp_path, RecorderSettings(), keep_days=30, budget_bytes=10**9, clock=clock,
                          on_gap=lambda *_: None, protected=fetch.protected)  # fmt: skip
    assert recorders.retain_once() == 2
    left = sorted(p.name for p in (tmp_path / "cam-1").glob("*.mp4"))
    assert left == [names[1], names[2], names[3], names[5]]  # the requested range, the kept one, the newest


def test_a_range_whose_last_segment_is_still_growing_waits(tmp_path: Path) -> None:
    """A long keyframe interval or a stall keeps the newest segment open past ``segment_s``: its
    size and digest are not final, so the range is answered once the recorder has moved on."""
    write_segment(tmp_path / "cam-1", 0, b"a" * 100)
    growing = write_segment(tmp_path / "cam-1", 10, b"b" * 100)
    clock = ManualClock(T0 + 40_000)
    os.utime(tmp_path / "cam-1" / growing, ((T0 + 38_000) / 1000,) * 2)  # written to 2 s ago
    answered: list[RecordingSegments] = []
    fetch = SegmentFetch(
        tmp_path, {"cam-1": "int-1"}, segment_s=10, clock=clock,
        answer=lambda _r, _room, data: answered.append(data), send=lambda _p: None,
    )  # fmt: skip
    fetch.request(FetchRequest("c1", "box-01", (Range("p-1", "cam-1", T0 + 5_000, T0 + 15_000),), T0))
    assert fetch.poll() == 0 and not answered
    write_segment(tmp_path / "cam-1", 40, b"c" * 100)  # the recorder moved on
    clock.set(T0 + 60_000)
    assert fetch.poll() == 1 and [s.name for s in answered[0].segments] == [f"{T0 // 1000}.mp4", growing]
