"""Camera health: frame measurements and the watchdog that turns them into states.

States, most serious first: ``offline`` (no frame for ``offline_after_s``), ``covered`` (too dark
or too uniform: lens covered, blacked out), ``frozen`` (no pixel of a 160-px view changes by more
than ``frozen_delta`` grey levels — compression noise stays below 5, while a live camera's picture
always changes somewhere, if only its on-screen clock), ``defocused`` (sharpness collapsed
against the reference view), ``moved`` (the view shifted against the reference), ``online``.
A state is reported only after it has held for its hold time, and ``online`` only after the
problem has been gone as long, so a single odd frame never raises or clears a health event.
The watchdog is pure: measurements and times in, changes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from detectors.motion import small_grey

SEVERITY = ("offline", "covered", "frozen", "defocused", "moved", "online")


@dataclass(frozen=True)
class FrameMetrics:
    luma_mean: float
    luma_std: float
    sharpness: float
    grey: np.ndarray = field(compare=False, repr=False)
    """160-pixel-wide grey image: compared with earlier ones (frozen) and the reference (moved)."""


def measure(frame: np.ndarray) -> FrameMetrics:
    grey = small_grey(frame, 320)
    mean, std = cv2.meanStdDev(grey)
    sharpness = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    return FrameMetrics(
        luma_mean=float(mean[0][0]),
        luma_std=float(std[0][0]),
        sharpness=sharpness,
        grey=cv2.resize(grey, (160, max(1, grey.shape[0] // 2)), interpolation=cv2.INTER_AREA),
    )


def view_shift(reference: np.ndarray, current: np.ndarray) -> float:
    """How far the view moved, as a fraction of the image width (phase correlation)."""
    if reference.shape != current.shape:
        return 1.0
    window = cv2.createHanningWindow((reference.shape[1], reference.shape[0]), cv2.CV_32F)
    (dx, dy), _response = cv2.phaseCorrelate(reference.astype(np.float32), current.astype(np.float32), window)
    return float(np.hypot(dx, dy)) / float(reference.shape[1])


@dataclass(frozen=True)
class HealthLimits:
    offline_after_s: float = 20.0
    frozen_after_s: float = 10.0
    covered_after_s: float = 5.0
    defocus_after_s: float = 10.0
    moved_after_s: float = 10.0
    recover_after_s: float = 3.0
    dark_luma: float = 20.0
    uniform_std: float = 6.0
    defocus_ratio: float = 0.3
    moved_fraction: float = 0.05
    frozen_delta: int = 12
    reference_after_s: float = 5.0
    """A healthy view is taken as the reference after it has been seen this long."""


@dataclass(frozen=True)
class HealthChange:
    state: str
    previous: str | None
    since_s: float
    detail: str


class Watchdog:
    """Per-camera health from frame metrics; feed ``frame`` per frame and ``tick`` on a timer."""

    def __init__(self, limits: HealthLimits | None = None) -> None:
        self.limits = limits or HealthLimits()
        self.state: str | None = None
        self.reference: FrameMetrics | None = None
        self._last_frame_s: float | None = None
        self._started_s: float | None = None
        self._last_change: np.ndarray | None = None
        self._unchanged_since: float | None = None
        self._candidate: tuple[str, float, str] | None = None
        self._healthy_since: float | None = None

    def set_reference(self, metrics: FrameMetrics) -> None:
        self.reference = metrics

    def tick(self, now_s: float) -> HealthChange | None:
        """Call regularly: reports ``offline`` when frames stopped arriving."""
        if self.state == "ended":
            return None  # a file read to its end sends no more frames, and that is no fault
        if self._started_s is None:
            self._started_s = now_s
        last = self._last_frame_s if self._last_frame_s is not None else self._started_s
        if now_s - last >= self.limits.offline_after_s and self.state != "offline":
            return self._become("offline", last, f"no frame for {now_s - last:.0f} s")
        return None

    def frame(self, metrics: FrameMetrics, now_s: float) -> HealthChange | None:
        if self._started_s is None:
            self._started_s = now_s
        back = self.state == "offline" or (
            self._last_frame_s is not None and now_s - self._last_frame_s >= self.limits.offline_after_s
        )
        self._last_frame_s = now_s
        last = self._last_change
        if (
            back  # frames after an outage are new: the picture has not been "unchanged" through it
            or last is None
            or last.shape != metrics.grey.shape
            or (int(cv2.absdiff(last, metrics.grey).max()) > self.limits.frozen_delta)
        ):
            self._last_change = metrics.grey
            self._unchanged_since = now_s
        verdict, detail, since_hint, hold = self._judge(metrics, now_s)
        if verdict == "online":
            self._candidate = None
            if self._healthy_since is None:
                self._healthy_since = now_s
            if self.reference is None and now_s - self._healthy_since >= self.limits.reference_after_s:
                self.reference = metrics
            if self.state != "online" and (
                self.state in (None, "offline") or now_s - self._healthy_since >= self.limits.recover_after_s
            ):
                return self._become("online", self._healthy_since, detail)
            return None
        self._healthy_since = None
        if self._candidate is None or self._candidate[0] != verdict:
            self._candidate = (verdict, since_hint, detail)
        state, since, _ = self._candidate
        if state != self.state and now_s - since >= hold:
            return self._become(state, since, detail)
        return None

    def _judge(self, m: FrameMetrics, now_s: float) -> tuple[str, str, float, float]:
        """(verdict, detail, since when it is true, how long it must hold)."""
        lim = self.limits
        if m.luma_mean < lim.dark_luma:
            return "covered", f"mean brightness {m.luma_mean:.0f}/255", now_s, lim.covered_after_s
        if m.luma_std < lim.uniform_std:
            return "covered", f"uniform picture (contrast {m.luma_std:.1f})", now_s, lim.covered_after_s
        unchanged_since = self._unchanged_since if self._unchanged_since is not None else now_s
        if now_s - unchanged_since >= lim.frozen_after_s:
            return "frozen", f"picture unchanged for {now_s - unchanged_since:.0f} s", unchanged_since, 0.0
        ref = self.reference
        if ref is not None:
            if ref.sharpness > 0 and m.sharpness < lim.defocus_ratio * ref.sharpness:
                detail = f"sharpness {m.sharpness:.0f} vs {ref.sharpness:.0f} in the reference"
                return "defocused", detail, now_s, lim.defocus_after_s
            shift = view_shift(ref.grey, m.grey)
            if shift > lim.moved_fraction:
                return "moved", f"view shifted by {shift:.0%} of the width", now_s, lim.moved_after_s
        return "online", "frames arriving", now_s, 0.0

    def end(self, now_s: float) -> HealthChange | None:
        """A finite source (``loop: false``) was read to its end: ``ended``, once."""
        if self.state == "ended":
            return None
        return self._become("ended", now_s, "the file was read to its end (loop: false)")

    def unreachable(self, now_s: float, detail: str) -> HealthChange | None:
        """The source could not be opened: report ``offline`` at once if it was never seen."""
        if self.state is not None:
            return None  # a camera that worked gets ``offline_after_s`` to come back
        return self._become("offline", now_s, detail)

    def _become(self, state: str, since: float, detail: str) -> HealthChange:
        change = HealthChange(state=state, previous=self.state, since_s=since, detail=detail)
        self.state = state
        self._candidate = None
        return change
