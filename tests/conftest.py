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
    """The verified YOLOv8n weights, provisioned like `casewatch models pull` does."""
    from detectors.models import ModelStore

    return ModelStore().pull("yolov8n").path


@pytest.fixture(scope="session")
def ultralytics_assets() -> Path:
    import ultralytics

    return Path(ultralytics.__file__).parent / "assets"
