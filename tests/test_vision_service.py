"""The vision service end to end: a video through the shared detector to observations and
evidence; bad sources give clear health events and never stop the service."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pytest

from casewatch.simulation.scene import INTERROGATION_ZONES, interrogation_scene, write_video
from detectors.config import Camera
from detectors.observations import ClipObservation, HealthObservation, ZoneObservation
from detectors.vision import VisionService, VisionSettings
from hub.embedded_broker import free_port
from protocol.clock import ManualClock, SystemClock
from protocol.ids import uuid7
from tests.waiting import wait_until

pytestmark = pytest.mark.model
T0 = 1_767_250_000_000


def camera(source: dict, camera_id: str = "cam-int-1") -> Camera:
    zones = [
        {"id": z.id, "role": z.role, "polygon": [list(p) for p in z.polygon]} for z in INTERROGATION_ZONES
    ]
    return Camera.model_validate(
        {"id": camera_id, "room": "int-1", "source": source, "fps": 5, "zones": zones}
    )


def test_video_to_observations_snapshots_and_a_clip(tmp_path: Path, person_detector) -> None:
    video = write_video(interrogation_scene(40.0), tmp_path / "room.mp4", fps=5)
    observations: list = []
    service = VisionService(
        [camera({"type": "file", "path": str(video), "loop": False, "pace": False})],
        person_detector, observations.append, clock=ManualClock(T0), evidence_root=tmp_path / "evidence",
    )  # fmt: skip
    clip_id = uuid7(T0)
    service.request_clip(clip_id, "cam-int-1", T0 + 15_000, before_s=4, after_s=4)
    service.start()
    assert service.reader("cam-int-1").finished.wait(120)
    assert wait_until(lambda: any(isinstance(o, ClipObservation) for o in observations), 10)
    service.stop()

    zones = [o for o in observations if isinstance(o, ZoneObservation)]
    officers = [(o.count, o.previous, round((o.since_ms - T0) / 1000)) for o in zones if o.zone == "officers"]
    assert officers[0][:2] == (2, None) and officers[1][:2] == (1, 2) and officers[2][:2] == (2, 1)
    assert 13 <= officers[1][2] <= 16  # walked out at ~14 s of the script
    assert [o.count for o in zones if o.zone == "detainee-seat"] == [1]
    assert all(o.role in ("officers", "detainee_seat") for o in zones)
    for o in zones:
        assert o.snapshot and (tmp_path / "evidence" / o.snapshot).stat().st_size > 10_000
        assert o.data().count == o.count  # converts to the wire kind
    clip = next(o for o in observations if isinstance(o, ClipObservation))
    assert clip.clip_id == clip_id and clip.data().sha256 == clip.sha256
    assert T0 + 11_000 <= clip.start_ms <= T0 + 11_400 and T0 + 18_600 <= clip.end_ms <= T0 + 19_000
    frames = cv2.VideoCapture(str(tmp_path / "evidence" / clip.path))
    assert frames.get(cv2.CAP_PROP_FRAME_COUNT) >= 35  # 8 s at 5 fps
    assert service.pool.stats.cameras["cam-int-1"].dropped == 0  # offline review: nothing dropped
    assert service.pipeline("cam-int-1").gated > 50


def test_corrupt_video_file_is_an_offline_event_not_a_crash(tmp_path: Path, person_detector) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    observations: list = []
    service = VisionService(
        [camera({"type": "file", "path": str(corrupt), "pace": True})],
        person_detector, observations.append, clock=SystemClock(), evidence_root=tmp_path,
    )  # fmt: skip
    service.start()
    try:
        assert wait_until(lambda: observations, 10)
    finally:
        service.stop()
    health = observations[0]
    assert isinstance(health, HealthObservation) and health.state == "offline"
    assert "cannot open" in health.detail and "corrupt.mp4" in health.detail
    assert health.data().state == "offline"


def test_unreachable_camera_is_an_offline_event_with_the_reason(tmp_path: Path, person_detector) -> None:
    port = free_port()  # nothing listens there
    observations: list = []
    source = {
        "type": "hikvision",
        "host": "127.0.0.1",
        "port": port,
        "password": "s3cret",
        "open_timeout_s": 2,
    }
    service = VisionService(
        [camera(source)], person_detector, observations.append, clock=SystemClock(), evidence_root=tmp_path
    )
    service.start()
    try:
        assert wait_until(lambda: observations, 15)
        reader = service.reader("cam-int-1")
        assert wait_until(lambda: reader.reconnects >= 2, 15)  # keeps trying, with backoff
    finally:
        service.stop()
    health = observations[0]
    assert isinstance(health, HealthObservation) and health.state == "offline"
    assert f"127.0.0.1:{port}/Streaming/Channels/102" in health.detail
    assert "s3cret" not in health.detail  # passwords never reach events or logs
    assert len(observations) == 1  # reported once, not once per attempt


def test_rtsp_camera_killed_and_restarted(tmp_path: Path, person_detector, rtsp_server) -> None:
    observations: list = []
    settings = VisionSettings()
    settings.health = type(settings.health)(offline_after_s=3.0, recover_after_s=1.0)
    source = {"type": "rtsp", "url": rtsp_server.url, "open_timeout_s": 3, "read_timeout_s": 2}
    service = VisionService(
        [camera(source)], person_detector, observations.append, clock=SystemClock(), evidence_root=tmp_path,
        settings=settings,
    )  # fmt: skip

    def states() -> list[str]:
        return [o.state for o in observations if isinstance(o, HealthObservation)]

    service.start()
    try:
        assert wait_until(lambda: states() == ["online"], 20), states()
        rtsp_server.stop()
        killed = time.monotonic()
        assert wait_until(lambda: states() == ["online", "offline"], 15), states()
        assert time.monotonic() - killed <= 3.0 + 2.0 + 1.5  # offline_after_s + read timeout + tick
        rtsp_server.start()
        assert wait_until(lambda: states() == ["online", "offline", "online"], 45), states()
    finally:
        service.stop()
    assert service.reader("cam-int-1").reconnects >= 1


def test_faulty_stream_segments_give_their_health_events(tmp_path: Path, person_detector) -> None:
    """A recorded stream that goes black, blurred, shifted and frozen, between normal stretches."""
    from casewatch.simulation.scene import Lens, render, still_room_scene
    from detectors.health import HealthLimits

    scene = still_room_scene(120.0)
    width, height, fps = 640, 360, 5
    segments = [
        ("normal", 8), ("black", 8), ("normal", 6), ("blurred", 8), ("normal", 6),
        ("shifted", 8), ("normal", 6), ("frozen", 12), ("normal", 6),
    ]  # fmt: skip
    path = tmp_path / "faults.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    t = 0.0
    for kind, seconds in segments:
        still = render(scene, t, width=width, height=height)
        for _ in range(seconds * fps):
            lens = {"black": Lens(covered=True), "blurred": Lens(blur=31), "shifted": Lens(shift=0.16)}.get(
                kind
            )
            frame = still if kind == "frozen" else render(scene, t, width=width, height=height, lens=lens)
            writer.write(frame)
            t += 1 / fps
    writer.release()

    settings = VisionSettings()
    settings.health = HealthLimits(
        frozen_after_s=4,
        covered_after_s=2,
        defocus_after_s=2,
        moved_after_s=2,
        recover_after_s=2,
        reference_after_s=3,
    )
    observations: list = []
    service = VisionService(
        [camera({"type": "file", "path": str(path), "loop": False, "pace": False})],
        person_detector, observations.append, clock=ManualClock(T0), evidence_root=tmp_path / "ev",
        settings=settings,
    )  # fmt: skip
    service.start()
    assert service.reader("cam-int-1").finished.wait(120)
    service.stop()
    health = [o for o in observations if isinstance(o, HealthObservation)]
    assert [o.state for o in health] == [
        "online", "covered", "online", "defocused", "online", "moved", "online", "frozen", "online",
    ]  # fmt: skip
    covered = health[1]
    assert 8_000 <= covered.since_ms - T0 <= 9_500 and "brightness" in covered.detail
    assert all(o.snapshot for o in health)  # each change comes with a picture of what the camera saw


def test_a_finite_file_ends_in_a_state_of_its_own_and_writes_its_pending_clip(
    tmp_path: Path, person_detector
) -> None:
    """Real use (issue 18): a `loop: false` file froze its last count, went offline (a false
    coverage alarm) and never wrote the clip of a condition still open at its end."""
    from detectors.health import HealthLimits

    video = write_video(interrogation_scene(4.0), tmp_path / "short.mp4", fps=5)
    observations: list = []
    settings = VisionSettings(health=HealthLimits(offline_after_s=2.5), tick_s=0.2)
    service = VisionService(
        [camera({"type": "file", "path": str(video), "loop": False, "pace": True})],
        person_detector, observations.append, clock=SystemClock(), evidence_root=tmp_path / "evidence",
        settings=settings,
    )  # fmt: skip
    clip_id = uuid7(int(time.time() * 1000))
    service.request_clip(clip_id, "cam-int-1", int(time.time() * 1000) + 3000, before_s=2, after_s=30)
    service.start()
    try:
        assert wait_until(lambda: any(getattr(o, "state", None) == "ended" for o in observations), 20)
        time.sleep(4)  # well past offline_after_s: still no "offline"
    finally:
        service.stop()
    states = [o.state for o in observations if isinstance(o, HealthObservation)]
    assert states[-1] == "ended" and "offline" not in states, states
    clips = [o for o in observations if isinstance(o, ClipObservation)]
    assert [c.clip_id for c in clips] == [clip_id]  # written when the file ended, not 30 s later
    assert states.index("ended") > 0 and observations.index(clips[0]) < len(observations)


STREET = Path(__file__).resolve().parents[2] / "shared" / "media" / "street-1080p.mp4"


@pytest.mark.skipif(not STREET.is_file(), reason="../shared/media absent")
def test_region_detection_in_the_service_counts_the_far_people_of_a_1080p_street(
    tmp_path: Path, person_detector
) -> None:
    """The service submits each detected 1080p frame with its planned crops (one slot, one batch)
    and counts from the merged boxes: by eye 22-23 people stand in this street at any time."""
    from detectors.regions import RegionPolicy

    def first_count(regions: RegionPolicy | None) -> tuple[int, int, int]:
        cam = Camera.model_validate({
            "id": "street", "room": "yard", "fps": 5, "zones": [
                {"id": "all", "role": "area", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
            "source": {"type": "file", "path": str(STREET), "loop": False, "pace": False},
        })  # fmt: skip
        observations: list = []
        service = VisionService(
            [cam], person_detector, observations.append, clock=ManualClock(T0),
            evidence_root=tmp_path / str(regions is None), settings=VisionSettings(regions=regions),
        )  # fmt: skip
        service.start()
        assert service.reader("street").finished.wait(120)
        assert wait_until(lambda: service.pool.queue_depth() == 0, 10)
        service.stop()
        counts = [o.count for o in observations if isinstance(o, ZoneObservation)]
        return counts[-1], service.pool.stats.frames, service.pool.stats.images

    with_regions, frames, images = first_count(RegionPolicy())
    whole_only, frames_full, images_full = first_count(None)
    assert images_full == frames_full  # one model run per frame
    assert frames + 6 <= images <= frames * 1.25 + 6 + 1  # the first frame's 6 crops, then 1 in 4
    assert with_regions >= 15 and whole_only <= 12, (with_regions, whole_only)  # measured 17 and 8
