"""Configuration files: the demo ones load; bad ones report every problem with file:line:column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import AgentConfig, cross_check
from casewatch.cli import load
from foundation.configfile import load_config, parse_config
from foundation.errors import ConfigError
from hub.config import HubConfig
from hub.config import cross_check as hub_cross_check
from tests.conftest import REPO
from tests.secret_files import write_secret

GOOD_AGENT = """\
center: c1
agent: box-01
signing: {key: "${CW_KEY}"}
storage: {dir: /tmp/cw}
rooms:
  - {id: int-1, name: 讯问室1, type: interrogation}
cameras:
  - id: cam-1
    room: int-1
    source: {type: rtsp, url: "rtsp://10.0.0.5/cam"}
"""
ENV = {"CW_KEY": "k" * 32}


def agent(text: str, env: dict[str, str] | None = None) -> AgentConfig:
    return parse_config(
        text, AgentConfig, name="center.yaml", env=ENV if env is None else env, cross_check=cross_check
    )


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        agent(text, env)
    return [str(issue) for issue in info.value.issues]


@pytest.mark.parametrize("name", ["center-demo.yaml", "hub-demo.yaml"])
def test_demo_configs_are_valid(name: str) -> None:
    cfg = load(REPO / "configs" / name)
    assert cfg.center == "demo-center"


def test_defaults_are_filled_in() -> None:
    cfg = agent(GOOD_AGENT)
    assert cfg.model.imgsz == 320
    assert cfg.mqtt.port == 1883
    assert cfg.rooms[0].required_officers() == 2  # interrogation: 刑诉法 第118条
    assert cfg.cameras[0].zones[0].id == "room"  # whole frame when no zones are given
    assert cfg.signing.key_bytes() == b"k" * 32


def test_three_mistakes_are_all_reported_with_lines() -> None:
    text = GOOD_AGENT.replace("type: interrogation", "type: interogation")
    text = text.replace("    room: int-1\n", "    room: int-9\n")
    text = text.replace('url: "rtsp://10.0.0.5/cam"', 'url: "rtsp://10.0.0.5/cam", colour: red')
    found = problems(text)
    assert len(found) == 3, found
    assert (
        found[0].startswith("center.yaml:6:") and "rooms[0].type" in found[0] and "'interogation'" in found[0]
    )
    assert found[1].startswith("center.yaml:9:") and "cameras[0].room" in found[1] and "'int-9'" in found[1]
    assert found[2].startswith("center.yaml:10:") and "cameras[0].source.colour" in found[2]
    assert "unknown key" in found[2]


def test_missing_key_points_at_its_parent() -> None:
    found = problems(GOOD_AGENT.replace("storage: {dir: /tmp/cw}\n", ""))
    assert found == ["center.yaml:1:1: storage: required key is missing"]


def test_missing_key_inside_a_union_member_is_named_plainly() -> None:
    found = problems(GOOD_AGENT.replace('{type: rtsp, url: "rtsp://10.0.0.5/cam"}', "{type: rtsp}"))
    assert found == ["center.yaml:10:13: cameras[0].source.url: required key is missing"]


def test_yaml_syntax_error_has_a_location() -> None:
    found = problems(GOOD_AGENT + "  - broken: [unclosed\n")
    assert len(found) == 1 and found[0].startswith("center.yaml:") and "valid YAML" in found[0]


def test_duplicate_yaml_keys_are_reported() -> None:
    found = problems(GOOD_AGENT.replace("agent: box-01\n", "agent: box-01\nagent: box-02\n"))
    assert any(f.startswith("center.yaml:3:1: agent: duplicate key") for f in found)


def test_environment_interpolation_and_defaults() -> None:
    text = GOOD_AGENT.replace("storage: {dir: /tmp/cw}", 'storage: {dir: "${CW_DIR:-/var/lib/cw}"}')
    assert str(agent(text).storage.dir) == "/var/lib/cw"
    assert str(agent(text, {**ENV, "CW_DIR": "/srv/cw"}).storage.dir) == "/srv/cw"
    literal = GOOD_AGENT.replace("name: 讯问室1", "name: 'a$${b}'")
    assert agent(literal).rooms[0].name == "a${b}"


def test_missing_environment_variable_is_reported_where_used() -> None:
    found = problems(GOOD_AGENT, env={})
    assert any(
        f.startswith("center.yaml:3:16: signing.key: environment variable CW_KEY is not set") for f in found
    )


def test_secret_from_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    write_secret(tmp_path / "keys" / "box.key", "x" * 40 + "\n")
    write_secret(tmp_path / "mqtt.pass", "s3cret\n")
    text = GOOD_AGENT.replace('signing: {key: "${CW_KEY}"}', "signing: {key_file: keys/box.key}")
    text += "mqtt: {username: box-01, password_file: mqtt.pass}\n"
    (tmp_path / "center.yaml").write_text(text)
    cfg = load_config(tmp_path / "center.yaml", AgentConfig, env={})
    assert cfg.signing.key_bytes() == b"x" * 40
    assert cfg.mqtt.password_value() == "s3cret"
    assert "s3cret" not in repr(cfg)


def test_secret_problems(tmp_path: Path) -> None:
    write_secret(tmp_path / "short.key", "abc\n")
    text = GOOD_AGENT.replace('signing: {key: "${CW_KEY}"}', "signing: {key_file: short.key}")
    text += "mqtt: {password: x, password_file: nowhere.pass}\n"
    (tmp_path / "center.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "center.yaml", AgentConfig, env={})
    text_issues = str(info.value)
    assert "signing.key_file: at least 16 characters" in text_issues.replace("a signing key needs ", "")
    assert "mqtt.password_file: file does not exist" in text_issues


def test_reserved_agent_id_and_bad_polygon() -> None:
    text = GOOD_AGENT.replace("agent: box-01", "agent: registry")
    text += "    zones: [{id: z, polygon: [[0, 0], [0.5, 0.5], [1, 1]]}]\n"
    found = problems(text)
    assert any("agent: 'registry' is reserved" in f for f in found)
    assert any("zones[0].polygon: polygon has no area" in f for f in found)


def test_unknown_driver_lists_the_known_ones() -> None:
    found = problems(GOOD_AGENT + "devices:\n  - {id: wb, driver: nope, port: loop://}\n")
    assert found == [
        "center.yaml:12:22: devices[0].driver: unknown driver (known: dossier-cabinet, wristband-jsonl, "
        "wristband-mqtt, wristband-rs485) (got 'nope')"
    ]


def test_driver_options_are_checked_by_the_driver() -> None:
    text = GOOD_AGENT + (
        "devices:\n  - id: wb\n    driver: wristband-rs485\n    port: loop://\n"
        "    options:\n      anchors: {'10': {room: int-1}, '20': {rooom: x}}\n      margin_db: -1\n"
    )
    found = problems(text)
    assert len(found) == 3, found
    assert found[0].startswith("center.yaml:16:44: devices[0].options.anchors.20.room: Field required")
    assert found[1].startswith("center.yaml:16:52: devices[0].options.anchors.20.rooom: Extra inputs")
    assert any("devices[0].options.margin_db" in f and "greater than or equal to 0" in f for f in found)


def test_vendor_camera_urls() -> None:
    text = GOOD_AGENT.replace(
        '{type: rtsp, url: "rtsp://10.0.0.5/cam"}',
        "{type: hikvision, host: 10.0.0.5, channel: 3, password: 'p@ss:w/rd'}",
    )
    source = agent(text).cameras[0].source
    assert source.url() == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.5:554/Streaming/Channels/302"
    text = text.replace("hikvision", "dahua").replace("channel: 3", "channel: 3, stream: main")
    assert agent(text).cameras[0].source.url().endswith("/cam/realmonitor?channel=3&subtype=0")


def test_hub_config_problems() -> None:
    text = """\
center: c1
signing: {key: "${CW_KEY}"}
store: {path: hub.db}
agents:
  - {id: box-01, key: "${CW_KEY}"}
  - {id: box-01, key: "${CW_KEY}"}
users:
  - {username: ops, role: operator, password_hash: plain-text}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, HubConfig, name="hub.yaml", env=ENV, cross_check=hub_cross_check)
    found = [str(i) for i in info.value.issues]
    assert any(f.startswith("hub.yaml:6:") and "agents[1].id: duplicate id" in f for f in found)
    assert any(f.startswith("hub.yaml:8:") and "password_hash" in f and "hash-password" in f for f in found)
    assert any("users: at least one user needs role admin" in f for f in found)


def test_json_schema_of_both_files() -> None:
    for model in (AgentConfig, HubConfig):
        schema = model.model_json_schema()
        assert schema["additionalProperties"] is False
        json.dumps(schema)


def test_vision_section_becomes_service_settings() -> None:
    from detectors.vision import settings_from_config

    text = (
        GOOD_AGENT
        + "vision: {recheck_s: 1.5, inertia_s: 4, offline_after_s: 8, clip_before_s: 6, clip_after_s: 9}\n"
    )
    settings = settings_from_config(agent(text).vision)
    assert settings.policy.recheck_s == 1.5 and settings.policy.inertia_s == 4
    assert settings.health.offline_after_s == 8
    assert settings.ring_seconds == 6 + 9 + 5
    assert problems(GOOD_AGENT + "vision: {recheck_s: 0}\n")[0].endswith("greater than 0 (got 0)")


def test_unquoted_anchor_ids_are_refused_with_the_fix() -> None:
    text = GOOD_AGENT + (
        "devices:\n  - id: wb\n    driver: wristband-rs485\n    port: loop://\n"
        "    options:\n      anchors: {4: {room: int-1}, '10': {room: int-1}}\n"
    )
    (found,) = problems(text)
    assert found.startswith(
        "center.yaml:16:16: devices[0].options.anchors: anchor ids are text: write each id exactly as"
    )
    assert "'4'" not in found  # never a converted number as the fix (010 would read as 8)


def test_a_multi_centre_file_refuses_what_would_run_wrongly() -> None:
    """Each refusal names a way a bureau's file would silently misbehave with several workers."""
    from pydantic import ValidationError

    from hub.config import HubConfig
    from protocol.signing import new_key

    base = {
        "center": "county", "signing": {"key": new_key()},
        "store": {"backend": "postgresql", "dsn": "postgresql://db1/cw", "files": "/srv/cw"},
        "mqtt": {"host": "mqtt1"}, "centers": [{"id": "c01"}, {"id": "c02"}],
    }  # fmt: skip
    HubConfig.model_validate(base)
    from hub.passwords import hash_password

    digest = hash_password("x" * 12, iterations=1000)
    user = {"username": "st", "role": "admin", "password_hash": digest, "centers": ["c9"]}
    wrong = {
        "postgresql": {"store": {"path": "hub.db"}},
        "external broker": {"mqtt": None},
        "not at the top": {"agents": [{"id": "box-1", "key": new_key()}]},
        "share_group do not apply": {"workers": {"share_group": "g"}},
        "each centre has its schema": {"store": {**base["store"], "schema": "x"}},  # type: ignore[dict-item]
        "one modem": {"notify": {"sms": {"port": "/dev/ttyUSB0"}}},
        "are not in centers": {"users": [user]},
        "pgpass": {"store": {"backend": "postgresql", "dsn": "postgresql://u:secret@db1/cw", "files": "/x"}},
    }
    for said, change in wrong.items():
        with pytest.raises(ValidationError, match=said):
            HubConfig.model_validate({**base, **change})
