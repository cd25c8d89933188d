"""Which anchor (and so which room) a wristband is at: strongest stable anchor with hysteresis.

BLE signal strength jumps by several dB from one packet to the next, and a band near a doorway is
heard by the anchors of both rooms. A band moves to another anchor only when that anchor is
stronger than the current one by ``margin_db`` (smoothed) continuously for ``hold_ms``; anchors not
heard for ``stale_ms`` do not count. A band not heard at all for ``offline_ms`` is offline. Pure.

Smoothing: each anchor's RSSI is an exponential average, ``smoothing`` of the new reading (0.5); a
reading after the anchor was stale starts it afresh. The first position is not the first anchor
heard (a weak anchor through a wall may be heard first): it is decided ``settle_ms`` after the
band's first packet, as the strongest anchor heard in that window — and so is its position when
it is heard again after being offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Band:
    anchor: str | None = None
    rssi: dict[str, float] = field(default_factory=dict)
    heard: dict[str, int] = field(default_factory=dict)
    candidate: str | None = None
    candidate_since: int = 0
    first_heard: int | None = None
    last_heard: int = 0
    online: bool = True


@dataclass(frozen=True)
class AnchorChange:
    band: str
    anchor: str
    previous: str | None
    rssi: int


@dataclass
class BandZones:
    margin_db: float = 6.0
    hold_ms: int = 3000
    stale_ms: int = 5000
    offline_ms: int = 30000
    smoothing: float = 0.5
    settle_ms: int = 1000
    bands: dict[str, _Band] = field(default_factory=dict)

    def sighting(self, band: str, anchor: str, rssi: int, now_ms: int) -> AnchorChange | None:
        state = self.bands.setdefault(band, _Band())
        state.last_heard = now_ms
        state.online = True
        previous = state.rssi.get(anchor)
        fresh = previous is None or now_ms - state.heard.get(anchor, 0) > self.stale_ms
        state.rssi[anchor] = float(rssi) if fresh else previous + self.smoothing * (rssi - previous)  # type: ignore[operator]
        state.heard[anchor] = now_ms
        if state.anchor is None:
            return self._settle(band, state, now_ms)
        current = state.anchor
        current_rssi = state.rssi.get(current, -200.0)
        if now_ms - state.heard.get(current, 0) > self.stale_ms:
            current_rssi = -200.0
        best = max(
            (a for a in state.rssi if a != current and now_ms - state.heard[a] <= self.stale_ms),
            key=lambda a: state.rssi[a],
            default=None,
        )
        if best is None or state.rssi[best] < current_rssi + self.margin_db:
            state.candidate = None
            return None
        if state.candidate != best:
            state.candidate, state.candidate_since = best, now_ms
            return None
        if now_ms - state.candidate_since < self.hold_ms:
            return None
        state.anchor, state.candidate = best, None
        return AnchorChange(band, best, current, round(state.rssi[best]))

    def _settle(self, band: str, state: _Band, now_ms: int) -> AnchorChange | None:
        """The first position: the strongest anchor once the band has been heard for ``settle_ms``."""
        if state.first_heard is None:
            state.first_heard = now_ms
        if now_ms - state.first_heard < self.settle_ms:
            return None
        fresh = [a for a in state.rssi if now_ms - state.heard[a] <= self.stale_ms]
        if not fresh:
            return None
        best = max(fresh, key=lambda a: state.rssi[a])
        state.anchor = best
        return AnchorChange(band, best, None, round(state.rssi[best]))

    def settled(self, now_ms: int) -> list[AnchorChange]:
        """First positions whose window has passed without a packet since (a band heard once)."""
        out = []
        for band, state in self.bands.items():
            if state.anchor is None and state.first_heard is not None and state.rssi:
                change = self._settle(band, state, now_ms)
                if change is not None:
                    out.append(change)
        return out

    def heard(self, band: str, now_ms: int) -> None:
        """Any packet from the band (vitals, battery, a UWB point) proves it is alive."""
        state = self.bands.setdefault(band, _Band())
        state.last_heard = now_ms
        state.online = True

    def silent(self, now_ms: int) -> list[str]:
        """Bands that have just gone unheard for ``offline_ms`` (each reported once)."""
        gone = []
        for band, state in self.bands.items():
            if state.online and now_ms - state.last_heard >= self.offline_ms:
                state.online = False
                # where it is when heard again is settled afresh, like a first position
                state.anchor, state.candidate, state.first_heard = None, None, None
                state.rssi.clear()
                state.heard.clear()
                gone.append(band)
        return gone
