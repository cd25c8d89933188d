"""Black frames, a frozen stream, a blurred stream and a shifted view each give their health state."""

from __future__ import annotations

import numpy as np
import pytest

from casewatch.simulation.scene import Lens, interrogation_scene, render
from detectors.health import HealthLimits, Watchdog, measure

LIMITS = HealthLimits(
    offline_after_s=5, frozen_after_s=4, covered_after_s=2, defocus_after_s=2, moved_after_s=2,
    recover_after_s=2, reference_after_s=2,
)  # fmt: skip
SCENE = interrogation_scene()


def live(t: float) -> np.ndarray:
    return render(SCENE, t)  # the on-screen clock changes every second, like a real camera


def run(watchdog: Watchdog, frames, start: float, seconds: float, fps: float = 2.0) -> list[str]:
    states = []
    t = start
    while t < start + seconds:
        change = watchdog.frame(measure(frames(t)), t)
        if change is not None:
            states.append(change.state)
        t += 1 / fps
    return states


def healthy() -> Watchdog:
    watchdog = Watchdog(LIMITS)
    assert run(watchdog, live, 0, 6) == ["online"]
    assert watchdog.reference is not None
    return watchdog


def test_normal_stream_stays_online() -> None:
    watchdog = healthy()
    assert run(watchdog, live, 6, 30) == []


@pytest.mark.parametrize(
    ("name", "frames", "state"),
    [
        ("black", lambda t: np.zeros((720, 1280, 3), np.uint8), "covered"),
        ("lens covered, clock still drawn", lambda t: render(SCENE, t, lens=Lens(covered=True)), "covered"),
        ("uniform grey", lambda t: np.full((720, 1280, 3), 90, np.uint8), "covered"),
        ("frozen", lambda t: render(SCENE, 7.0), "frozen"),
        ("defocused", lambda t: render(SCENE, t, lens=Lens(blur=31)), "defocused"),
        ("knocked aside", lambda t: render(SCENE, t, lens=Lens(shift=0.15)), "moved"),
    ],
)
def test_each_fault_gives_its_state_then_recovers(name: str, frames, state: str) -> None:
    watchdog = healthy()
    got = run(watchdog, frames, 6, 10)
    assert got == [state], name
    assert run(watchdog, live, 16, 6) == ["online"]


def test_no_frames_means_offline_then_online_again() -> None:
    watchdog = healthy()
    assert watchdog.tick(8.0) is None
    change = watchdog.tick(11.0)
    assert change is not None and change.state == "offline" and change.previous == "online"
    assert change.since_s == pytest.approx(5.5)  # the last frame
    assert run(watchdog, live, 30, 1) == ["online"]


def test_one_odd_frame_raises_nothing() -> None:
    watchdog = healthy()
    black = np.zeros((720, 1280, 3), np.uint8)
    assert watchdog.frame(measure(black), 6.5) is None
    assert run(watchdog, live, 7, 10) == []


def test_a_camera_back_from_an_outage_showing_the_same_picture_is_not_frozen() -> None:
    """A restarted stream may open on the very picture it stopped on (a still room, a looped clip):
    the outage is not "unchanged for 20 s" — found by the RTSP restart test, which saw `frozen`."""
    watchdog = healthy()
    still = render(SCENE, 5.5)  # the last picture before the outage, again after it
    assert watchdog.frame(measure(still), 5.6) is None
    change = watchdog.tick(11.0)
    assert change is not None and change.state == "offline"
    assert run(watchdog, lambda t: still, 30, 2) == ["online"]  # not frozen at once
    assert run(watchdog, lambda t: still, 32, 4) == ["frozen"]  # but it is, once it stays still
