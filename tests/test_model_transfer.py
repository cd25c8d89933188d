"""An edge box takes its model from the hub it reports to: a real hub over HTTP, requests signed
with the agent's key, a manifest signed back, the file checked by sha256 — and every way to get
it wrong refused with a reason (wrong key, stale or replayed request, forged manifest, a file
swapped on the shelf, names that try to leave the folder)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from detectors.models import MODELS, HubSource, ModelStore, pull_from_hub
from foundation.errors import ModelError
from protocol.errors import SignatureError, UnknownAgentError
from protocol.model_transfer import (
    MAX_SKEW_MS,
    ModelFile,
    decode_manifest,
    manifest,
    request_headers,
    verify_request,
)
from protocol.signing import Keyring, key_from_text, new_key
from tests.agent_process import CASEWATCH
from tests.api_helpers import ApiHub, api_hub, now_ms

MODEL = "yolov8n-320.onnx"


@pytest.fixture
def hub(tmp_path: Path, mqtt_broker: Any) -> Iterator[ApiHub]:
    shelf = tmp_path / "models"
    shelf.mkdir()
    (shelf / MODEL).write_bytes(os.urandom(200_000))
    (shelf / "notes.txt").write_text("not a model")
    (tmp_path / "hub.yaml.secret").write_text("outside the shelf")
    with api_hub(tmp_path, mqtt_broker, models={"dir": str(shelf)}) as running:
        yield running


def source(hub: ApiHub, key: str | None = None, agent: str | None = None) -> HubSource:
    return HubSource(hub.base, agent or hub.feed.agent, key_from_text(key or hub.feed.key_text), timeout_s=10)


def test_a_signed_request_is_tied_to_its_agent_path_and_time() -> None:
    key = key_from_text(new_key())
    ring = Keyring({"box-01": key})
    headers = request_headers("box-01", key, "GET", "/api/v1/models", 1_000_000)
    assert verify_request(headers, "GET", "/api/v1/models", ring, 1_000_000 + MAX_SKEW_MS) == "box-01"
    with pytest.raises(SignatureError, match="does not match"):
        verify_request(headers, "GET", "/api/v1/models/x.onnx", ring, 1_000_000)  # replayed elsewhere
    with pytest.raises(SignatureError, match="more than 300 s"):
        verify_request(headers, "GET", "/api/v1/models", ring, 1_000_001 + MAX_SKEW_MS)
    with pytest.raises(UnknownAgentError):
        verify_request({**headers, "X-Casewatch-Agent": "box-99"}, "GET", "/api/v1/models", ring, 1_000_000)
    with pytest.raises(SignatureError, match="not a number"):
        verify_request({}, "GET", "/api/v1/models", ring, 1_000_000)


def test_a_manifest_is_believed_only_with_the_agents_key() -> None:
    key, other = key_from_text(new_key()), key_from_text(new_key())
    files = [ModelFile(name=MODEL, sha256="a" * 64, size=3)]
    doc = manifest("box-01", files, key, 5).model_dump()
    assert decode_manifest(doc, "box-01", Keyring({"box-01": key})).files == files
    with pytest.raises(SignatureError):
        decode_manifest(doc, "box-01", Keyring({"box-01": other}))
    with pytest.raises(SignatureError):
        decode_manifest(
            {**doc, "files": [{**doc["files"][0], "sha256": "b" * 64}]}, "box-01", Keyring({"box-01": key})
        )
    with pytest.raises(SignatureError, match="is for"):
        decode_manifest(doc, "box-02", Keyring({"box-02": key}))
    with pytest.raises(SignatureError, match="not a model manifest"):
        decode_manifest({"files": "../../etc"}, "box-01", Keyring({"box-01": key}))


def test_the_agent_pulls_its_model_and_the_bytes_are_checked(hub: ApiHub, tmp_path: Path) -> None:
    shelf = tmp_path / "models"
    expected = hashlib.sha256((shelf / MODEL).read_bytes()).hexdigest()
    pulled = pull_from_hub(source(hub), MODEL, tmp_path / "edge")
    assert pulled.source == "hub" and pulled.sha256 == expected
    assert (tmp_path / "edge" / MODEL).read_bytes() == (shelf / MODEL).read_bytes()
    assert [p.name for p in (tmp_path / "edge").iterdir()] == [MODEL]  # no partial left behind

    with pytest.raises(ModelError, match="not the pinned one"):
        pull_from_hub(source(hub), MODEL, tmp_path / "pinned", pin="0" * 64)
    assert not (tmp_path / "pinned" / MODEL).exists()
    with pytest.raises(ModelError, match=r"the hub offers: yolov8n-320\.onnx"):
        pull_from_hub(source(hub), "yolov8n-640.onnx", tmp_path / "edge")
    with pytest.raises(ModelError, match="refused box-01's signature"):
        pull_from_hub(source(hub, key=new_key()), MODEL, tmp_path / "wrong-key")
    with pytest.raises(ModelError, match="refused box-99's signature"):
        pull_from_hub(source(hub, agent="box-99"), MODEL, tmp_path / "unknown")
    with pytest.raises(ModelError, match="not a model file name"):
        pull_from_hub(source(hub), "../hub.yaml.secret", tmp_path / "edge")


def test_a_known_pt_is_held_to_its_published_hash(hub: ApiHub, tmp_path: Path) -> None:
    (tmp_path / "models" / "yolov8n.pt").write_bytes(b"an impostor with the official name")
    with pytest.raises(ModelError, match="not the pinned one"):
        pull_from_hub(source(hub), "yolov8n.pt", tmp_path / "edge")
    assert MODELS["yolov8n"].filename == "yolov8n.pt"


def test_a_file_swapped_on_the_shelf_after_the_manifest_is_refused(
    hub: ApiHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import detectors.models as models

    real_get = models._hub_get

    def swap_then_get(hub_source: HubSource, path: str, now: int) -> Any:
        if path.endswith(MODEL):  # between the manifest and the download
            (tmp_path / "models" / MODEL).write_bytes(os.urandom(200_000))
        return real_get(hub_source, path, now)

    monkeypatch.setattr(models, "_hub_get", swap_then_get)
    with pytest.raises(ModelError, match="the manifest says 200000 bytes"):
        pull_from_hub(source(hub), MODEL, tmp_path / "edge")
    assert not (tmp_path / "edge" / MODEL).exists()


def test_the_routes_refuse_strangers_and_paths_out_of_the_folder(hub: ApiHub) -> None:
    anonymous = hub.anonymous()
    assert anonymous.get("/api/v1/models").status_code == 401
    assert hub.client("admin").get("/api/v1/models").status_code == 401  # people do not pull models
    key = key_from_text(hub.feed.key_text)
    for name in ("notes.txt", "..%2Fhub.yaml.secret", ".hidden.onnx"):
        path = f"/api/v1/models/{name}"
        reply = anonymous.get(path, headers=request_headers(hub.feed.agent, key, "GET", path, now_ms()))
        assert reply.status_code in (401, 404), (name, reply.status_code)
        assert b"outside the shelf" not in reply.content
    stale = request_headers(hub.feed.agent, key, "GET", "/api/v1/models", now_ms() - MAX_SKEW_MS - 60_000)
    assert anonymous.get("/api/v1/models", headers=stale).status_code == 401
    fresh = request_headers(hub.feed.agent, key, "GET", "/api/v1/models", now_ms())
    doc = anonymous.get("/api/v1/models", headers=fresh).json()
    assert [f["name"] for f in doc["files"]] == [MODEL]


def test_models_pull_from_hub_on_the_command_line(hub: ApiHub, tmp_path: Path) -> None:
    (tmp_path / "edge.key").write_text(hub.feed.key_text)
    config = {
        "center": "c1", "agent": hub.feed.agent, "signing": {"key_file": "edge.key"},
        "mqtt": {"host": "127.0.0.1", "port": 1}, "storage": {"dir": str(tmp_path / "data")},
        "rooms": [{"id": "int-1", "name": "讯问室1", "type": "interrogation"}],
    }  # fmt: skip
    path = tmp_path / "center.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    command = [CASEWATCH, "models", "pull", "--from-hub", hub.base, "--config", str(path),
               "--dir", str(tmp_path / "cache")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "来源 source: hub" in done.stdout
    assert ModelStore(tmp_path / "cache").resolve_for("yolov8n", "onnx", 320).is_file()
    (tmp_path / "edge.key").write_text(new_key())
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 1 and "refused" in refused.stderr
    missing = subprocess.run(command[:5], capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2 and "--config" in missing.stderr


def test_hub_without_a_model_folder_offers_nothing(tmp_path: Path, mqtt_broker: Any) -> None:
    with api_hub(tmp_path, mqtt_broker) as running:
        path = "/api/v1/models"
        headers = request_headers(
            running.feed.agent, key_from_text(running.feed.key_text), "GET", path, now_ms()
        )
        reply = httpx.get(running.base + path, headers=headers, timeout=10)
        assert reply.status_code == 200 and reply.json()["files"] == []
