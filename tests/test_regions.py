"""Region detection planning and merging (detectors/regions.py), without a model: which crops,
how often, and how the crops' boxes join the whole frame's."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.config import DetectionTuning
from detectors.detection import Detection
from detectors.regions import Crop, RegionPlanner, RegionPolicy, crop_grid, merge_boxes


def box(x: float, y2: float, height: float = 100.0, confidence: float = 0.8) -> Detection:
    """A person whose feet are at (x, y2)."""
    return Detection(x - height / 4, y2 - height, x + height / 4, y2, confidence)


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720), (2560, 1440), (3840, 2160), (1000, 1000)])
def test_the_crops_cover_every_pixel_of_a_large_frame(size: tuple[int, int]) -> None:
    width, height = size
    crops = crop_grid(width, height, 640)
    covered = np.zeros((height, width), bool)
    for crop in crops:
        assert crop.x >= 0 and crop.y >= 0 and crop.x + crop.width <= width and crop.y + crop.height <= height
        assert crop.width == crop.height == 640
        covered[crop.y : crop.y + crop.height, crop.x : crop.x + crop.width] = True
    assert covered.all()


@pytest.mark.parametrize("size", [(768, 432), (640, 360), (480, 270), (900, 900)])
def test_a_frame_not_much_larger_than_a_crop_gets_none(size: tuple[int, int]) -> None:
    assert crop_grid(*size, 640) == []


def test_a_box_cut_by_an_inner_crop_edge_is_dropped_one_on_the_frame_edge_kept() -> None:
    crop = Crop(640, 0, 640, 640)  # the top middle crop of a 1920x1080 frame
    assert crop.to_frame(Detection(0.0, 100, 40, 300, 0.9), 1920, 1080) is None  # cut on the left
    assert crop.to_frame(Detection(600, 500, 640, 640, 0.9), 1920, 1080) is None  # right and bottom
    kept = crop.to_frame(Detection(100, 0.0, 140, 80, 0.9), 1920, 1080)  # the frame's top edge
    assert kept == Detection(740, 0.0, 780, 80, 0.9)


def test_the_first_frame_looks_at_every_crop_then_the_budget_holds() -> None:
    planner = RegionPlanner(RegionPolicy(crop_px=640, crops_per_frame=0.25, keep_s=5.0))
    first = planner.plan(1920, 1080, 0)
    assert sorted(first, key=lambda c: (c.y, c.x)) == crop_grid(1920, 1080, 640) and len(first) == 6
    looked: list[Crop] = []
    for n in range(1, 41):
        planner.note_motion(np.ones((90, 160), bool))  # motion everywhere: every crop is due
        looked += planner.plan(1920, 1080, n * 200)
    assert len(looked) == 10  # 40 frames x 0.25
    assert {looked.count(c) for c in first} <= {1, 2}  # the one waiting longest goes first


def test_still_crops_with_fresh_results_are_not_looked_at_again_until_half_keep() -> None:
    planner = RegionPlanner(RegionPolicy(crop_px=640, crops_per_frame=1.0, keep_s=4.0))
    for crop in planner.plan(1920, 1080, 0):
        planner.record(crop, [], 0)
    still = np.zeros((90, 160), bool)
    planned = []
    for t in range(200, 2000, 200):
        planner.note_motion(still)
        planned += planner.plan(1920, 1080, t)
    assert planned == []
    planner.note_motion(still)
    assert len(planner.plan(1920, 1080, 2000)) == 1  # 2 s old = keep/2: refreshed, one per frame


def test_motion_makes_only_the_crop_it_falls_in_due() -> None:
    planner = RegionPlanner(RegionPolicy(crop_px=640, crops_per_frame=1.0, keep_s=60.0))
    for crop in planner.plan(1920, 1080, 0):
        planner.record(crop, [], 0)
    mask = np.zeros((90, 160), bool)
    mask[80:85, 150:155] = True  # bottom right corner of the frame
    planner.note_motion(mask)
    assert planner.plan(1920, 1080, 200) == [Crop(1280, 440, 640, 640)]


def test_a_kept_box_counts_until_someone_fresh_is_near_or_it_expires() -> None:
    planner = RegionPlanner(RegionPolicy(crop_px=640, crops_per_frame=0.25, keep_s=5.0))
    crops = planner.plan(1920, 1080, 0)
    top_left = next(c for c in crops if c.x == 0 and c.y == 0)
    far = Detection(300, 200, 320, 260, 0.7)  # a small far person, in crop pixels
    walker = Detection(100, 300, 160, 520, 0.9)
    planner.record(top_left, [far, walker], 0)
    assert len(planner.merge([], 0)) == 2
    # 1 s later the whole frame sees the walker 40 px further on: the kept walker is that person
    moved = Detection(140, 300, 200, 520, 0.9)
    merged = planner.merge([moved], 1000)
    assert sorted(merged, key=lambda d: d.x1) == [moved, far]
    assert set(planner.merge([], 5000)) == {far, walker}
    assert planner.merge([], 5001) == []


def test_what_the_whole_frame_and_a_crop_both_saw_is_one_person() -> None:
    whole = box(500, 400, 150, 0.6)
    from_crop = box(503, 402, 148, 0.85)
    part = Detection(whole.x1 + 5, whole.y1 + 5, whole.x2 - 5, whole.y1 + 60, 0.5)  # inside the other
    assert merge_boxes([whole, from_crop, part]) == [from_crop]
    assert len(merge_boxes([box(500, 400), box(700, 400)])) == 2


def test_a_new_frame_size_starts_over_with_every_crop() -> None:
    planner = RegionPlanner(RegionPolicy())
    assert len(planner.plan(1920, 1080, 0)) == 6
    assert len(planner.plan(1280, 720, 200)) == 4
    assert planner.plan(640, 360, 400) == [] and planner.merge([box(10, 10)], 400) == [box(10, 10)]


def test_the_config_default_is_regions_and_full_turns_them_off() -> None:
    assert DetectionTuning().policy() == RegionPolicy(crop_px=640, crops_per_frame=0.25, keep_s=5.0)
    assert DetectionTuning(mode="full").policy() is None
