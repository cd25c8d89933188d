"""A camera watching an interrogation where one officer walks out: the real agent process sees
it, raises `understaffed` with evidence, clears it when the officer is back, and ships the clip —
the event naming it, and the snapshot and the clip themselves as signed file messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from casewatch.simulation.scene import INTERROGATION_ZONES, interrogation_scene, write_video
from protocol.files import decode_file
from protocol.signing import Keyring
from tests.agent_process import AgentProcess, agent_config
from tests.brokers import Mosquitto, mosquitto_binary
from tests.test_agent_process import KEY, decode_all, everything
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian's mosquitto (.ci/run installs it)"),
]


def test_officer_leaves_the_interrogation_room(tmp_path: Path, onnx_weights: Path) -> None:
    video = write_video(interrogation_scene(34.0, leave_at=5.0, back_at=18.0), tmp_path / "room.mp4", fps=10)
    zones = [
        {"id": z.id, "role": z.role, "polygon": [list(p) for p in z.polygon]} for z in INTERROGATION_ZONES
    ]
    broker = Mosquitto(tmp_path / "broker", mosquitto_binary() or "")
    broker.workdir.mkdir()
    broker.start()
    hub = everything(broker).subscribe("casewatch/c1/box-01/files")
    config = agent_config(
        tmp_path, broker.port, key=KEY,
        cameras=[{"id": "cam-int-1", "room": "int-1", "fps": 5, "zones": zones,
                  "source": {"type": "file", "path": str(video), "loop": False, "pace": True}}],
        timing={"condition_start_s": 2, "condition_end_s": 3, "stats_interval_s": 5},
        vision={"clip_before_s": 4, "clip_after_s": 4},
    )  # fmt: skip
    agent = AgentProcess(config, tmp_path / "agent.log")
    try:
        agent.start()

        def kinds() -> list[str]:
            return [e.kind for e in decode_all(hub.messages)]

        assert wait_until(lambda: "condition.end" in kinds() and "evidence.clip" in kinds(), 75), kinds()
        assert wait_until(lambda: len([t for t, _, _ in hub.messages if t.endswith("/files")]) >= 2, 20)
        agent.terminate()
    finally:
        agent.stop()
        broker.stop()
    events = decode_all(hub.messages)
    officers = [e.data.count for e in events if e.kind == "occupancy" and e.subject.zone == "officers"]  # type: ignore[attr-defined]
    assert officers[:3] == [2, 1, 2]
    start = next(e for e in events if e.kind == "condition.start")
    end = next(e for e in events if e.kind == "condition.end")
    clip = next(e for e in events if e.kind == "evidence.clip")
    assert start.data.condition == "understaffed"  # type: ignore[attr-defined]
    facts = start.data.facts  # type: ignore[attr-defined]
    assert (facts.officers, facts.required_officers, facts.detainees) == (1, 2, 1)
    assert end.data.condition_id == start.data.condition_id == clip.data.condition_id  # type: ignore[attr-defined]
    assert start.data.evidence.snapshot and start.data.evidence.clip_id == clip.data.clip_id  # type: ignore[attr-defined]
    assert 8_000 <= end.data.duration_ms <= 20_000  # type: ignore[attr-defined]  # out from ~7 s to ~19 s
    assert (tmp_path / "data" / clip.data.path).stat().st_size == clip.data.size_bytes  # type: ignore[attr-defined]
    ring = Keyring({"box-01": KEY.encode()})
    files = {
        f.path: f.body
        for f in (
            decode_file(p, ring, center="c1", agent="box-01")
            for t, p, _ in hub.messages
            if t.endswith("/files")
        )
    }
    assert set(files) == {start.data.evidence.snapshot, clip.data.path}  # type: ignore[attr-defined]
    for path, body in files.items():
        assert body == (tmp_path / "data" / path).read_bytes()
    seqs = [e.seq for e in events]
    assert sorted(set(seqs)) == list(range(1, max(seqs) + 1))
