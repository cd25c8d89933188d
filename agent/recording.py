"""Continuous recording at the edge: each camera's stream copied into rolling MP4 segments.

Beside the detection pipeline and independent of it — its own ffmpeg process per camera (Debian's
ffmpeg): the camera's video is copied as sent (``-c copy``, H.264/H.265, never decoded), cut at
keyframes into segments of ``segment_s`` seconds, fragmented MP4 so a segment cut short by a
killed process still plays, named by its first second (agent/segments.py). A file source (the
demo's drawn scene) has no stream to copy: ffmpeg encodes it to H.264 at ``encode_fps``.

The recorder watches the folder. A hole between two segments — ffmpeg ended, the stream stopped
delivering (no new data for ``stall_s``: ffmpeg is killed and started again), the disk was under
``min_free_gb``, or the agent itself was not running — becomes one ``recording.gap`` event with
its start, end and reason once recording is back, so the hub can tell whose custody was not on
camera. Retention deletes the oldest segments beyond ``keep_days`` or the disk budget.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.mp4_media import media_ms
from agent.segments import SEGMENT_PATTERN, Segment, segments, to_delete
from detectors.config import Camera, FileSource, PluginSource, UsbSource
from detectors.sources import redact, source_url
from protocol.clock import Clock
from protocol.data import RecordingGap, RecordingGapReason

log = logging.getLogger(__name__)
FFMPEG = "ffmpeg"
SLACK_MS = 3_000
"""Segments meeting within this are continuous (a file's last write precedes the next file)."""
HEADER_ONLY_BYTES = 1024
"""A segment this small with no readable video is a header ffmpeg wrote before it was stopped."""
MAX_BACKOFF_S = 4.0
"""A camera that went away is tried again at least this often: every second of waiting is a
second of custody off the record once it is back (ffmpeg's own open timeout adds to it)."""


@dataclass(frozen=True)
class RecorderSettings:
    segment_s: int = 10
    stall_s: float = 30.0
    min_free_bytes: int = 2 * 1024**3
    encode_fps: float = 5.0
    open_timeout_s: float = 10.0


def recording_command(
    camera: Camera, folder: Path, settings: RecorderSettings, frame_size: tuple[int, int] | None = None
) -> list[str] | None:
    """ffmpeg's arguments for ``camera``. A plugin source (the demo's drawn scene) has nothing
    ffmpeg can open: given the frames' ``(width, height)`` it reads them raw on stdin (None
    without)."""
    source = camera.source
    if isinstance(source, PluginSource) and frame_size is None:
        return None
    encode = [
        "-an", "-vf", f"fps={settings.encode_fps:g}", "-c:v", "libx264", "-preset", "ultrafast",
        "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", str(max(1, int(settings.encode_fps * 2))),
    ]  # fmt: skip
    if isinstance(source, PluginSource):
        size = f"{frame_size[0]}x{frame_size[1]}" if frame_size else ""
        inputs = [
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgr24",
            "-s",
            size,
            "-r",
            f"{settings.encode_fps:g}",
            "-i",
            "-",
        ]
        codec = encode
    elif isinstance(source, FileSource):
        loop = ["-stream_loop", "-1"] if source.loop else []
        inputs, codec = ["-re", *loop, "-i", str(source.path)], encode
    elif isinstance(source, UsbSource):
        inputs, codec = ["-f", "v4l2", "-i", f"/dev/video{source.index}"], encode
    else:  # RTSP, vendor cameras: the stream as the camera sends it
        timeout_us = str(int(settings.open_timeout_s * 1_000_000))
        inputs = ["-rtsp_transport", "tcp", "-timeout", timeout_us, "-i", source_url(source)]
        codec = ["-map", "0:v:0", "-c", "copy"]
    return [
        FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", *inputs, *codec,
        "-f", "segment", "-segment_time", str(settings.segment_s), "-segment_format", "mp4",
        "-segment_format_options", "movflags=+frag_keyframe+empty_moov+default_base_moof",
        "-reset_timestamps", "1", "-strftime", "1", str(folder / SEGMENT_PATTERN),
    ]  # fmt: skip


class GapWatch:
    """Holes between consecutive segments, with the last reason the recorder noted meanwhile."""

    def __init__(self, last_end_ms: int | None) -> None:
        self.last_end_ms = last_end_ms
        self.reason: RecordingGapReason | None = "agent_down" if last_end_ms is not None else None
        self.detail: str | None = None
        self.noted_ms = 0
        """When the reason was noted: a segment that began before it (the last one, flushed as
        ffmpeg was stopped) does not use it up — the hole comes after it."""

    def failed(self, reason: RecordingGapReason, detail: str, now_ms: int | None = None) -> None:
        if self.reason in (None, "agent_down") or reason == "disk_full":
            self.reason, self.detail = reason, detail[:300]
            self.noted_ms = now_ms if now_ms is not None else int(time.time() * 1000)

    def segment(self, seg: Segment) -> RecordingGap | None:
        gap = None
        if self.last_end_ms is not None and seg.start_ms - self.last_end_ms > SLACK_MS:
            gap = RecordingGap(
                start=self.last_end_ms, end=seg.start_ms, reason=self.reason or "unknown", detail=self.detail
            )
        self.last_end_ms = max(self.last_end_ms or 0, seg.end_ms)
        if gap is not None or seg.start_ms >= self.noted_ms:
            self.reason, self.detail = None, None
        return gap


def listing(folder: Path) -> list[tuple[str, int, float]]:
    out = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    info = entry.stat()
                except OSError:
                    continue
                out.append((entry.name, info.st_size, info.st_mtime))
    except OSError:
        return []
    return out


class CameraRecorder:
    """One camera's ffmpeg, kept running; ``on_gap(camera, gap)`` for each hole found."""

    def __init__(
        self, camera: Camera, folder: Path, settings: RecorderSettings,
        on_gap: Callable[[Camera, RecordingGap], None],
        on_state: Callable[[Camera, str, int], None] = lambda camera, state, since: None,
        frames: Callable[[], np.ndarray | None] | None = None,
    ) -> None:  # fmt: skip
        """``on_state(camera, "recording"|"stopped", since_ms)``: the first segment of this run was
        written (recording is on from its start), or recording stopped. ``frames``: the camera's
        latest frame, for a plugin source (fed to ffmpeg at ``encode_fps``)."""
        self.frames = frames
        self._frozen: np.ndarray | None = None
        self.camera, self.folder, self.settings, self.on_gap = camera, folder, settings, on_gap
        self.on_state = on_state
        self.recording = False
        self.command = recording_command(camera, folder, settings)
        if self.command is None and frames is not None:  # the real size comes with the first frame
            self.command = recording_command(camera, folder, settings, (0, 0))
        self.restarts = 0
        self.segments_done = 0
        self._done: set[str] = set()
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name=f"record-{camera.id}", daemon=True)
        found = segments(camera.id, listing(folder))
        self._done = {s.name for s in found}
        self.watch = GapWatch(found[-1].end_ms if found else None)

    @property
    def running(self) -> bool:
        """Recording (ffmpeg found, the recorder's thread alive)."""
        return self._thread.is_alive()

    def start(self) -> CameraRecorder:
        if self.command is None:
            log.warning("camera %s: a plugin source cannot be recorded by ffmpeg", self.camera.id)
            return self
        if shutil.which(self.command[0]) is None:
            log.error(
                "camera %s: ffmpeg is not installed (apt-get install ffmpeg): not recorded", self.camera.id
            )
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self, now_ms: int | None = None) -> None:
        self._stop.set()
        self._end_process()
        if self._thread.is_alive():
            self._thread.join(10)
        if self.recording:
            self.recording = False
            self.on_state(self.camera, "stopped", now_ms if now_ms is not None else int(time.time() * 1000))

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                free = shutil.disk_usage(self.folder).free
            except OSError as exc:  # the folder vanished (a disk unmounted): said, tried again
                self.watch.failed("disk_full", f"recording folder unusable: {exc}")
                self._stop.wait(10)
                with contextlib.suppress(OSError):
                    self.folder.mkdir(parents=True, exist_ok=True)
                continue
            if free < self.settings.min_free_bytes:
                self.watch.failed("disk_full", f"less than {self.settings.min_free_bytes // 1024**2} MB free")
                self._stop.wait(10)
                continue
            try:
                produced = self._one_run()
                self._scan(final=True)
            except Exception:  # the recorder must outlive anything odd: logged, ffmpeg stopped, again
                log.exception("camera %s: recording run failed; starting again", self.camera.id)
                self._end_process()
                produced = False
            if self._stop.is_set():
                break
            self.restarts += 1
            backoff = 1.0 if produced else min(MAX_BACKOFF_S, backoff * 2)
            self._stop.wait(backoff)

    def _one_run(self) -> bool:
        """ffmpeg until it ends or stalls; True when it wrote at least one segment."""
        assert self.command is not None
        command: list[str] | None = self.command
        first = None
        if self.frames is not None:
            first = self._first_frame()
            if first is None:
                self.watch.failed("stream_lost", "no frames from the camera's source")
                return False
            command = recording_command(
                self.camera, self.folder, self.settings, (first.shape[1], first.shape[0])
            )
            assert command is not None
        assert command is not None
        errors = self.folder / ".ffmpeg.log"
        with errors.open("wb") as sink:
            self._proc = subprocess.Popen(
                command, stdin=subprocess.PIPE if first is not None else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=sink,
            )  # fmt: skip
        if first is not None:
            threading.Thread(target=self._feed, args=(self._proc, first.shape), daemon=True).start()
        before, last_change, last_seen = self.segments_done, time.monotonic(), None
        while self._proc.poll() is None and not self._stop.wait(1.0):
            self._scan(final=False)
            newest = max(listing(self.folder), key=lambda e: (e[0].endswith(".mp4"), e[0]), default=None)
            if newest != last_seen:
                last_seen, last_change = newest, time.monotonic()
            elif time.monotonic() - last_change > self.settings.stall_s:
                self.watch.failed(
                    "stream_lost", f"no video for {self.settings.stall_s:g} s from {self._where()}"
                )
                self._end_process()
        code = self._proc.poll()
        if code is not None and not self._stop.is_set() and self.watch.reason in (None, "agent_down"):
            tail = errors.read_bytes()[-300:].decode(errors="replace").strip()
            self.watch.failed(
                "recorder_exited", f"ffmpeg exited {code}: {tail}" if tail else f"ffmpeg exited {code}"
            )
        self._end_process()
        return self.segments_done > before

    def _first_frame(self) -> np.ndarray | None:
        assert self.frames is not None
        for _ in range(60):  # a source that starts late (the demo's scene before t=0) is waited for
            frame = self.frames()
            if frame is not None and frame is not self._frozen and frame.ndim == 3 and frame.shape[2] == 3:
                return frame
            if self._stop.wait(0.5):
                break
        return None

    def _feed(self, proc: subprocess.Popen[bytes], shape: tuple[int, ...]) -> None:
        """The latest frame to ffmpeg ``encode_fps`` times a second, on a steady clock, until it
        ends; a frame of another size ends the run (the next one starts at the new size)."""
        assert self.frames is not None and proc.stdin is not None
        period, due = 1.0 / self.settings.encode_fps, time.monotonic()
        last: np.ndarray | None = None
        fresh_at = time.monotonic()
        try:
            while proc.poll() is None and not self._stop.is_set():
                frame = self.frames()
                if frame is not None and frame is not last:
                    last, fresh_at = frame, time.monotonic()
                # a source that stopped delivering is not recorded as a frozen picture: ffmpeg gets
                # nothing, the stall is seen and the time is a gap
                if frame is not None and time.monotonic() - fresh_at <= self.settings.stall_s / 2:
                    if frame.shape != shape:
                        break
                    proc.stdin.write(np.ascontiguousarray(frame).tobytes())
                else:
                    self._frozen = last  # the next run waits for a new frame
                due += period
                time.sleep(max(0.0, due - time.monotonic()))
        except (BrokenPipeError, OSError, ValueError):
            pass  # ffmpeg ended: the run's loop notices
        finally:
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()

    def _where(self) -> str:
        return (
            redact(source_url(self.camera.source))
            if not isinstance(self.camera.source, PluginSource)
            else "?"
        )

    def _end_process(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # ffmpeg closes its segment on SIGTERM
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def _scan(self, *, final: bool) -> None:
        """New complete segments, in order: all but the newest while ffmpeg writes it."""
        found = [s for s in segments(self.camera.id, listing(self.folder)) if s.name not in self._done]
        ready = found if final else found[:-1]
        for seg in ready:
            self._done.add(seg.name)
            media = media_ms(self.folder / seg.name)
            if media is None and seg.size < HEADER_ONLY_BYTES:  # opened, never written: not kept
                with contextlib.suppress(OSError):
                    (self.folder / seg.name).unlink()
                continue
            self.segments_done += 1
            if not self.recording:
                self.recording = True
                self.on_state(self.camera, "recording", seg.start_ms)
            for gap in (self.watch.segment(seg), stalled(seg, media)):
                if gap is not None:
                    log.warning(
                        "camera %s: recording missed %d s (%s)",
                        self.camera.id,
                        (gap.end - gap.start) // 1000,
                        gap.reason,
                    )
                    self.on_gap(self.camera, gap)


def stalled(seg: Segment, media: int | None) -> RecordingGap | None:
    """A segment holding fewer seconds of video than of wall time (a camera that stalls without
    dropping the connection): the missing time, placed at the segment's end — where inside the
    segment the video is missing the file does not say."""
    wall = seg.end_ms - seg.start_ms
    if media is None or wall - media <= SLACK_MS:
        return None
    detail = f"{media / 1000:.1f} s of video in {wall / 1000:.1f} s: the camera stalled"
    return RecordingGap(start=seg.start_ms + media, end=seg.end_ms, reason="stream_lost", detail=detail)


class Recorders:
    """Every camera's recorder, and retention over all of them (every minute)."""

    def __init__(
        self, cameras: Sequence[Camera], root: Path, settings: RecorderSettings, *, keep_days: float,
        budget_bytes: int, clock: Clock, on_gap: Callable[[Camera, RecordingGap], None],
        on_state: Callable[[Camera, str, int], None] = lambda camera, state, since: None,
        protected: Callable[[], Sequence[tuple[int, int]]] = list,
        frames: Callable[[str], np.ndarray | None] | None = None,
    ) -> None:  # fmt: skip
        """``protected()``: intervals retention keeps (ranges the hub still asks for);
        ``frames(camera)``: a camera's latest frame, for the sources ffmpeg cannot open."""
        self.root, self.keep_ms, self.budget_bytes, self.clock = (
            root,
            int(keep_days * 86_400_000),
            budget_bytes,
            clock,
        )
        self.recorders = [
            CameraRecorder(c, root / c.id, settings, on_gap, on_state, _frames_of(frames, c)) for c in cameras
        ]
        self.protected = protected
        self.deleted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._retain, name="record-retention", daemon=True)

    def start(self) -> Recorders:
        for recorder in self.recorders:
            recorder.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for recorder in self.recorders:
            recorder.stop(self.clock.now_ms())

    def retain_once(self, protected: Sequence[tuple[int, int]] | None = None) -> int:
        found = [s for r in self.recorders for s in segments(r.camera.id, listing(r.folder))]
        doomed = to_delete(
            found,
            now_ms=self.clock.now_ms(),
            keep_ms=self.keep_ms,
            budget_bytes=self.budget_bytes,
            protected=self.protected() if protected is None else protected,
        )
        for seg in doomed:
            try:
                (self.root / seg.camera / seg.name).unlink()
                self.deleted += 1
            except OSError as exc:
                log.warning("segment %s/%s not deleted: %s", seg.camera, seg.name, exc)
        return len(doomed)

    def _retain(self) -> None:
        while not self._stop.wait(60):
            try:
                self.retain_once()
            except Exception:  # retention must never stop recording
                log.exception("recording retention failed")


def _frames_of(
    frames: Callable[[str], np.ndarray | None] | None, camera: Camera
) -> Callable[[], np.ndarray | None] | None:
    """A plugin camera's frame source (other sources are read by ffmpeg itself)."""
    if frames is None or not isinstance(camera.source, PluginSource):
        return None
    return lambda: frames(camera.id)
