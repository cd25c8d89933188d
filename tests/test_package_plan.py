"""What a package asks for and what it is made of (hub/package_plan.py), worked out by hand."""

from __future__ import annotations

from typing import Any

from hub.package_plan import Answers, parts, ranges
from hub.timeline import Stay

T = 1_796_313_600_000
S, M = 1000, 60_000


def entry(start_s: int, length_s: int = 10, digest: str = "a") -> dict[str, Any]:
    return {"name": f"{(T // 1000) + start_s}.mp4", "start": T + start_s * S,
            "end": T + (start_s + length_s) * S - 200, "size": 10, "sha256": digest * 64}  # fmt: skip


def test_each_camera_of_each_stay_is_asked_for_in_pieces_of_ten_minutes() -> None:
    stays = [
        Stay("int-1", T, T + 25 * M),
        Stay("wc-1", T + 25 * M, T + 27 * M),
        Stay("int-1", T + 27 * M, None),
    ]
    owners = {"cam-a": "box-1", "cam-b": "box-2"}
    wanted = ranges("pkg", stays, T + 30 * M, {"int-1": ["cam-a", "cam-b", "cam-x"]}, owners.get)
    spans = [(w.id, w.agent, w.camera, w.stay, (w.start - T) // M, (w.end - T) // M) for w in wanted]
    assert spans == [
        ("pkg-1", "box-1", "cam-a", 0, 0, 10),
        ("pkg-2", "box-1", "cam-a", 0, 10, 20),
        ("pkg-3", "box-1", "cam-a", 0, 20, 25),
        ("pkg-4", "box-2", "cam-b", 0, 0, 10),
        ("pkg-5", "box-2", "cam-b", 0, 10, 20),
        ("pkg-6", "box-2", "cam-b", 0, 20, 25),
        ("pkg-7", "box-1", "cam-a", 2, 27, 30),
        ("pkg-8", "box-2", "cam-b", 2, 27, 30),
    ]  # fmt: skip  (cam-x has no owner; the toilet has no camera)


def test_parts_split_at_holes_are_named_apart_and_missing_segments_are_named() -> None:
    stays = [Stay("int-1", T, T + 60 * S), Stay("int-1", T + 65 * S, T + 90 * S)]  # band lost 5 s
    wanted = ranges("pkg", stays, T + 90 * S, {"int-1": ["cam-a"]}, {"cam-a": "box-1"}.get)
    listed = Answers({
        wanted[0].id: [entry(0), entry(10), entry(40), entry(50), entry(60, digest="b")],  # 20-40 s lost
        wanted[1].id: [entry(60), entry(70), entry(80)],
    })  # fmt: skip
    here = {e["name"] for e in (entry(0), entry(10), entry(40), entry(50), entry(60), entry(70))}

    def present(agent: str, camera: str, e: dict[str, Any]) -> bool:
        return agent == "box-1" and camera == "cam-a" and e["name"] in here and e["sha256"] == "a" * 64

    found, missing = parts(wanted, listed, present)
    assert [(p.stay, (p.start - T) // S, len(p.segments)) for p in found] == [
        (0, 0, 2),
        (0, 40, 2),
        (1, 60, 2),
    ]
    assert len({p.name for p in found}) == 3  # two stays' parts may begin in one segment
    # 60 s was listed twice (once with a digest that does not match): it is in a part, not missing
    assert [m["name"] for m in missing] == [entry(80)["name"]]
