from __future__ import annotations

from devices.band_zones import AnchorChange, BandZones


def test_first_sighting_places_the_band() -> None:
    zones = BandZones()
    assert zones.sighting("B1", "10", -60, 0) == AnchorChange("B1", "10", None, -60)


def test_a_stronger_anchor_must_win_by_the_margin_for_the_hold_time() -> None:
    zones = BandZones(margin_db=6, hold_ms=3000)
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
    zones = BandZones(margin_db=6, hold_ms=3000)
    zones.sighting("B1", "10", -60, 0)
    for t in range(500, 30_000, 500):
        zones.sighting("B1", "10", -60 + (t // 500) % 3, t)
        assert zones.sighting("B1", "20", -57 - (t // 500) % 4, t + 1) is None  # within the margin


def test_a_dead_anchor_does_not_hold_the_band() -> None:
    zones = BandZones(margin_db=6, hold_ms=1000, stale_ms=2000)
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
