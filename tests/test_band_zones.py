from __future__ import annotations

from devices.band_zones import AnchorChange, BandZones


def test_without_settling_the_first_sighting_places_the_band() -> None:
    zones = BandZones(settle_ms=0)
    assert zones.sighting("B1", "10", -60, 0) == AnchorChange("B1", "10", None, -60)


def test_the_first_room_is_the_strongest_anchor_of_the_settling_window_not_the_first_heard() -> None:
    """The detainee stands in the corridor (anchor 20, -55 dBm); the interrogation room's anchor
    (10) hears the band faintly through the wall, and happens to be heard first in the burst."""
    zones = BandZones(settle_ms=1000)
    placed = []
    for t in range(0, 1600, 200):
        for anchor, rssi, skew in (("10", -82, 0), ("20", -55, 1)):
            change = zones.sighting("B1", anchor, rssi, t + skew)
            if change is not None:
                placed.append((t, change))
    assert placed == [(1000, AnchorChange("B1", "20", None, -55))]  # once, after the window


def test_a_band_heard_once_is_placed_at_its_next_packet_after_the_window() -> None:
    zones = BandZones(settle_ms=1000)
    assert zones.sighting("B1", "10", -60, 0) is None
    assert zones.sighting("B1", "10", -62, 2500) == AnchorChange("B1", "10", None, -61)  # smoothed


def test_a_stronger_anchor_must_win_by_the_margin_for_the_hold_time() -> None:
    zones = BandZones(margin_db=6, hold_ms=3000, settle_ms=0)
    zones.sighting("B1", "10", -60, 0)
    changes = []
    for t in range(500, 10_000, 500):
        zones.sighting("B1", "10", -62, t)
        change = zones.sighting("B1", "20", -50, t + 1)
        if change:
            changes.append((t, change))
    assert len(changes) == 1
    t, change = changes[0]
    assert change.anchor == "20" and change.previous == "10" and 3000 <= t <= 4500


def test_doorway_jitter_does_not_move_the_band() -> None:
    zones = BandZones(margin_db=6, hold_ms=3000, settle_ms=0)
    zones.sighting("B1", "10", -60, 0)
    for t in range(500, 30_000, 500):
        zones.sighting("B1", "10", -60 + (t // 500) % 3, t)
        assert zones.sighting("B1", "20", -57 - (t // 500) % 4, t + 1) is None  # within the margin


def test_a_dead_anchor_does_not_hold_the_band() -> None:
    zones = BandZones(margin_db=6, hold_ms=1000, stale_ms=2000, settle_ms=0)
    zones.sighting("B1", "10", -40, 0)
    moved = [zones.sighting("B1", "20", -80, t) for t in range(3000, 6000, 500)]
    assert any(m is not None and m.anchor == "20" for m in moved)


def test_silent_bands_go_offline_once() -> None:
    zones = BandZones(offline_ms=30_000)
    zones.sighting("B1", "10", -60, 0)
    assert zones.silent(29_999) == []
    assert zones.silent(30_000) == ["B1"]
    assert zones.silent(40_000) == []
    zones.sighting("B1", "10", -60, 41_000)
    assert zones.bands["B1"].online


def test_a_band_back_from_offline_is_settled_afresh_not_placed_by_a_weak_anchor() -> None:
    zones = BandZones(settle_ms=1000, offline_ms=30_000, hold_ms=3000)
    zones.sighting("B1", "A", -50, 0)
    assert zones.sighting("B1", "A", -50, 1000) == AnchorChange("B1", "A", None, -50)
    assert zones.silent(31_000) == ["B1"]
    back = [zones.sighting("B1", "W", -88, 40_000), zones.sighting("B1", "A", -50, 40_100)]
    back += [
        zones.sighting("B1", a, r, t) for t in range(40_200, 42_000, 200) for a, r in (("W", -88), ("A", -50))
    ]
    placed = [c for c in back if c is not None]
    assert placed == [AnchorChange("B1", "A", None, -50)]  # never in W's room, even briefly
