"""Camera source plugins: the demo's drawn room is one the command line registers; the product
knows only the registry. Mistakes in a plugin camera are reported at their line like any other,
relative paths are relative to the agent's file, and an agent given a plugin nobody registered
refuses to start instead of failing every second."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import AgentConfig, cross_check
from casewatch.simulation.scene_camera import SceneCapture, register
from detectors import sources
from detectors.config import PluginSource
from detectors.sources import CameraError, open_capture, plugin_options
from foundation.configfile import parse_config
from foundation.errors import ConfigError
from tests.conftest import REPO

HEAD = """\
center: c1
agent: box-01
signing: {key: "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"}
storage: {dir: /tmp/cw}
rooms:
  - {id: int-1, name: 讯问室1, type: interrogation}
cameras:
  - id: cam-1
    room: int-1
    source:
      type: plugin
"""


@pytest.fixture(autouse=True)
def scene_registered() -> None:
    register()


def load(text: str, base: Path | None = None) -> AgentConfig:
    return parse_config(text, AgentConfig, name="center.yaml", cross_check=cross_check, base_dir=base)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text)
    return [str(issue) for issue in info.value.issues]


def test_mistakes_in_a_plugin_camera_are_named_at_their_line() -> None:
    assert problems(HEAD + "      name: nope\n") == [
        "center.yaml:12:13: cameras[0].source.name: unknown camera source plugin (known: scene) (got 'nope')"
    ]
    found = problems(HEAD + "      name: scene\n      bogus: 1\n      options: {camera: cam-int-1}\n")
    assert found[0].startswith("center.yaml:13:7: cameras[0].source.bogus: unknown key"), found
    assert any("cameras[0].source.options.scenario: Field required" in f for f in found), found
    found = problems(HEAD + "      name: scene\n      options: [1, 2]\n")
    assert found[0].startswith(
        "center.yaml:13:16: cameras[0].source.options: Input should be a valid dict"
    ), found
    found = problems(HEAD + "      name: scene\n      options: {scenario: s.yaml, camera: c, rate: 99}\n")
    assert len(found) == 1 and found[0].startswith("center.yaml:13:"), found
    assert "cameras[0].source.options.rate" in found[0] and "less than or equal to 30" in found[0]


def test_relative_scene_paths_are_relative_to_the_agents_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "scenario.yaml").write_text((REPO / "configs" / "scenarios" / "interrogation.yaml").read_text())
    cfg = load(
        HEAD + "      name: scene\n      options: {scenario: scenario.yaml, camera: cam-int-1}\n", folder
    )
    monkeypatch.chdir(tmp_path)  # systemd runs the agent elsewhere than the file
    source = cfg.cameras[0].source
    assert isinstance(source, PluginSource)
    assert plugin_options(source).scenario == folder / "scenario.yaml"
    opened = open_capture(source)
    assert isinstance(opened.capture, SceneCapture) and opened.live
    ok, frame = opened.capture.retrieve()
    assert ok and frame.shape[2] == 3


def test_an_agent_given_an_unregistered_plugin_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.runtime import Agent

    cfg = load(
        HEAD.replace("/tmp/cw", str(tmp_path))
        + "      name: scene\n      options: {scenario: /x.yaml, camera: c}\n"
    )
    monkeypatch.setattr(sources, "_PLUGINS", {})  # as in a process where nothing registered it
    with pytest.raises(CameraError, match="unknown camera source plugin 'scene'"):
        Agent(cfg, detector=object())  # type: ignore[arg-type]  # never reached: refused first
