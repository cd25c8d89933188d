"""An edge box takes its model from the hub it reports to: a real hub over HTTP, requests signed
with the agent's key, a manifest signed back, the file checked by sha256 — and every way to get
it wrong refused with a reason (wrong key, stale or replayed request, forged manifest, a file
swapped on the shelf, names that try to leave the folder)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import subprocess
import threading
import time
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
    SignedRequest,
    decode_manifest,
    manifest,
    request_headers,
    verify_request,
)
from protocol.signing import Keyring, key_from_text, new_key
from tests.agent_process import CASEWATCH
from tests.api_helpers import ApiHub, api_hub, now_ms
from tests.secret_files import write_secret

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
    assert verify_request(headers, "GET", "/api/v1/models", ring, 1_000_000 + MAX_SKEW_MS) == SignedRequest(
        "box-01", 1_000_000
    )
    with pytest.raises(SignatureError, match="does not match"):
        verify_request(headers, "GET", "/api/v1/models/x.onnx", ring, 1_000_000)  # replayed elsewhere
    with pytest.raises(SignatureError, match="more than 300 s"):
        verify_request(headers, "GET", "/api/v1/models", ring, 1_000_001 + MAX_SKEW_MS)
    with pytest.raises(UnknownAgentError):
        verify_request({**headers, "X-Casewatch-Agent": "box-99"}, "GET", "/api/v1/models", ring, 1_000_000)
    with pytest.raises(SignatureError, match="not a number"):
        verify_request({}, "GET", "/api/v1/models", ring, 1_000_000)


def test_a_manifest_is_believed_only_with_the_agents_key_and_for_this_request() -> None:
    key, other = key_from_text(new_key()), key_from_text(new_key())
    files = [ModelFile(name=MODEL, sha256="a" * 64, size=3)]
    doc = manifest(SignedRequest("box-01", 4), files, key, 5).model_dump()
    ring = Keyring({"box-01": key})
    assert decode_manifest(doc, "box-01", ring, request_ts=4).files == files
    with pytest.raises(SignatureError):
        decode_manifest(doc, "box-01", Keyring({"box-01": other}), request_ts=4)
    with pytest.raises(SignatureError):
        forged = {**doc, "files": [{**doc["files"][0], "sha256": "b" * 64}]}
        decode_manifest(forged, "box-01", ring, request_ts=4)
    with pytest.raises(SignatureError, match="is for"):
        decode_manifest(doc, "box-02", Keyring({"box-02": key}), request_ts=4)
    with pytest.raises(SignatureError, match="not a model manifest"):
        decode_manifest({"files": "../../etc"}, "box-01", ring, request_ts=4)
    with pytest.raises(SignatureError, match="answers a request of 4"):  # an old one, replayed
        decode_manifest(doc, "box-01", ring, request_ts=9)


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
    (tmp_path / "edge" / MODEL).write_bytes(b"the model this box runs today")
    with pytest.raises(ModelError):
        pull_from_hub(source(hub, key=new_key()), MODEL, tmp_path / "edge")
    assert (tmp_path / "edge" / MODEL).read_bytes() == b"the model this box runs today"  # kept
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
    with pytest.raises(ModelError, match=r"received sha256 [0-9a-f]{64}, the manifest says"):
        pull_from_hub(source(hub), MODEL, tmp_path / "edge")
    assert not (tmp_path / "edge" / MODEL).exists()


def test_the_routes_refuse_strangers_and_paths_out_of_the_folder(hub: ApiHub) -> None:
    anonymous = hub.anonymous()
    assert anonymous.get("/api/v1/models").status_code == 401
    assert hub.client("admin").get("/api/v1/models").status_code == 401  # people do not pull models
    key = key_from_text(hub.feed.key_text)
    wrong = request_headers(hub.feed.agent, key_from_text(new_key()), "GET", "/api/v1/models", now_ms())
    unknown = request_headers("box-99", key, "GET", "/api/v1/models", now_ms())
    answers = [anonymous.get("/api/v1/models", headers=h) for h in (wrong, unknown)]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json() == answers[1].json()  # the answer does not say which agent ids exist
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
    write_secret(tmp_path / "edge.key", hub.feed.key_text)
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
    write_secret(tmp_path / "edge.key", new_key())
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 1 and "refused" in refused.stderr
    missing = subprocess.run(command[:5], capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2 and "--config" in missing.stderr
    mixed = subprocess.run([*command, "--onnx", "--imgsz", "640"], capture_output=True, text=True, timeout=60)
    assert mixed.returncode == 2 and "--onnx --imgsz" in mixed.stderr  # the agent's file names the model
    config["model"] = {"path": str(tmp_path / "mine.onnx")}
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    (tmp_path / "mine.onnx").write_bytes(b"x")
    pinned = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert pinned.returncode == 2 and "model.path" in pinned.stderr
    config["model"] = {"dir": "models-here"}  # the cache the agent reads, relative to its file
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    write_secret(tmp_path / "edge.key", hub.feed.key_text)
    into_dir = subprocess.run(command[:7], capture_output=True, text=True, timeout=120, check=False)
    assert into_dir.returncode == 0, into_dir.stderr
    assert (tmp_path / "models-here" / MODEL).is_file()


def test_hub_without_a_model_folder_offers_nothing(tmp_path: Path, mqtt_broker: Any) -> None:
    with api_hub(tmp_path, mqtt_broker) as running:
        path = "/api/v1/models"
        headers = request_headers(
            running.feed.agent, key_from_text(running.feed.key_text), "GET", path, now_ms()
        )
        reply = httpx.get(running.base + path, headers=headers, timeout=10)
        assert reply.status_code == 200 and reply.json()["files"] == []


class FakeHub:
    """A hub that signs its manifests right but misbehaves on purpose (hostile or broken path)."""

    def __init__(self, key: bytes, behaviour: str, body: bytes = b"x" * 1000) -> None:
        self.key, self.behaviour, self.body = key, behaviour, body
        self.seen_headers: list[dict[str, str]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.seen_headers.append(dict(self.headers))
                if self.path == "/api/v1/models":
                    fake.manifest(self)
                else:
                    fake.file(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def manifest(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        if self.behaviour == "redirect":
            handler.send_response(302)
            handler.send_header("Location", self.url + "/elsewhere")
            handler.end_headers()
            return
        if self.behaviour == "nested":
            payload = b"[" * 200_000
        else:
            asked = int(handler.headers["X-Casewatch-Time"])
            if self.behaviour == "replay":
                asked -= 30 * 86_400_000  # a genuine manifest recorded a month ago
            entry = ModelFile(name=MODEL, sha256=hashlib.sha256(self.body).hexdigest(), size=len(self.body))
            payload = (
                manifest(SignedRequest("box-01", asked), [entry], self.key, asked).model_dump_json().encode()
            )
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def file(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        if self.behaviour == "flood":  # says nothing of its length, then never stops
            handler.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(64):
                    handler.wfile.write(b"\0" * (1 << 20))
            return
        if self.behaviour == "stall":
            handler.send_header("Content-Length", str(len(self.body)))
            handler.end_headers()
            handler.wfile.write(self.body[:10])
            handler.wfile.flush()
            time.sleep(3)
            return
        handler.send_header("Content-Length", str(len(self.body)))
        handler.end_headers()
        handler.wfile.write(self.body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("replay", "answers a request of"),
        ("redirect", "redirects are refused"),
        ("nested", "not trustworthy"),
        ("flood", "more than the 1000 bytes"),
        ("stall", "timed out"),
    ],
)
def test_a_hostile_or_broken_hub_is_a_clear_model_error(tmp_path: Path, behaviour: str, reason: str) -> None:
    key = key_from_text(new_key())
    fake = FakeHub(key, behaviour)
    try:
        (tmp_path / MODEL).write_bytes(b"the model in use")
        with pytest.raises(ModelError, match=reason):
            pull_from_hub(HubSource(fake.url, "box-01", key, timeout_s=1), MODEL, tmp_path)
        assert (tmp_path / MODEL).read_bytes() == b"the model in use"
        assert [p.name for p in tmp_path.iterdir()] == [MODEL]  # no partial download left
    finally:
        fake.close()


def test_a_well_behaved_fake_hub_is_accepted_so_the_cases_above_are_not_vacuous(tmp_path: Path) -> None:
    key = key_from_text(new_key())
    fake = FakeHub(key, "fine")
    try:
        pulled = pull_from_hub(HubSource(fake.url, "box-01", key, timeout_s=5), MODEL, tmp_path)
        assert pulled.path.read_bytes() == b"x" * 1000
    finally:
        fake.close()


def test_urls_that_are_not_http_and_folders_that_cannot_be_made_are_model_errors(tmp_path: Path) -> None:
    key = key_from_text(new_key())
    with pytest.raises(ModelError, match="must start with http"):
        pull_from_hub(HubSource("127.0.0.1:8080", "box-01", key), MODEL, tmp_path)
    fake = FakeHub(key, "fine")
    try:
        (tmp_path / "a-file").write_text("")
        with pytest.raises(ModelError, match=r"NotADirectoryError|FileExistsError"):
            pull_from_hub(
                HubSource(fake.url, "box-01", key, timeout_s=5), MODEL, tmp_path / "a-file" / "models"
            )
    finally:
        fake.close()


def test_a_model_replaced_in_place_with_its_old_size_and_mtime_is_hashed_again(tmp_path: Path) -> None:
    from hub.model_shelf import ModelShelf

    shelf = ModelShelf(tmp_path)
    path = tmp_path / MODEL
    path.write_bytes(b"a" * 100)
    before = shelf.files()[0].sha256
    stat = path.stat()
    replacement = tmp_path / "new.tmp"
    replacement.write_bytes(b"b" * 100)
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as `cp -p` keeps it
    os.replace(replacement, path)
    after = shelf.files()[0].sha256
    assert after != before and after == hashlib.sha256(b"b" * 100).hexdigest()
