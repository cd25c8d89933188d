"""What a camera is in a configuration file, and how the vision runs: the models of the agent
file's ``cameras:``, ``vision:`` and ``model:`` sections (docs/configuration.md). They live here,
with what runs them; ``agent.config`` composes them into the whole file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from detectors.regions import RegionPolicy
from foundation.settings import ConfigPath, Key, SecretFile, Settings, read_secret

ZoneRole = Literal["officers", "detainee_seat", "door", "exit", "area", "ignore"]


def _fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        hint = " — a pixel? divide x by the image width and y by its height" if value > 1 else ""
        raise ValueError(f"{value:g}: zone points are fractions of the image's width and height, 0–1{hint}")
    return value


Fraction = Annotated[float, AfterValidator(_fraction)]
Point = tuple[Fraction, Fraction]


class Zone(Settings):
    id: Key
    role: ZoneRole = "area"
    polygon: list[Point] = Field(
        ..., min_length=3, max_length=64, description="[x, y] pairs in 0..1 of width and height."
    )

    @field_validator("polygon")
    @classmethod
    def _has_area(cls, polygon: list[Point]) -> list[Point]:
        twice_area = sum(
            x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True)
        )
        if abs(twice_area) < 1e-6:
            raise ValueError("polygon has no area (points in a line?)")
        return polygon


WHOLE_FRAME: list[Point] = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


class FileSource(Settings):
    type: Literal["file"]
    path: ConfigPath
    loop: bool = True
    pace: bool = Field(True, description="Play at the file's fps (false: as fast as possible).")


class RtspSource(Settings):
    type: Literal["rtsp"]
    url: Annotated[str, Field(pattern=r"^rtsps?://")]
    open_timeout_s: float = Field(10.0, gt=0, le=120)
    read_timeout_s: float = Field(10.0, gt=0, le=120)


class _VendorSource(Settings):
    host: str
    port: int = Field(554, ge=1, le=65535)
    channel: int = Field(1, ge=1, le=512)
    stream: Literal["main", "sub"] = Field("sub", description="Use substreams for analysis.")
    username: str = "admin"
    password: SecretStr | None = None
    password_file: SecretFile | None = None
    open_timeout_s: float = Field(10.0, gt=0, le=120)
    read_timeout_s: float = Field(10.0, gt=0, le=120)

    def _credentials(self) -> str:
        password = read_secret(self.password, self.password_file)
        user = quote(self.username, safe="")
        return f"{user}:{quote(password, safe='')}@" if password else f"{user}@"


class HikvisionSource(_VendorSource):
    type: Literal["hikvision"]

    def url(self) -> str:
        stream = 1 if self.stream == "main" else 2
        return (
            f"rtsp://{self._credentials()}{self.host}:{self.port}/Streaming/Channels/{self.channel}0{stream}"
        )


class DahuaSource(_VendorSource):
    type: Literal["dahua"]

    def url(self) -> str:
        subtype = 0 if self.stream == "main" else 1
        return (
            f"rtsp://{self._credentials()}{self.host}:{self.port}"
            f"/cam/realmonitor?channel={self.channel}&subtype={subtype}"
        )


class UsbSource(Settings):
    type: Literal["usb"]
    index: int = Field(0, ge=0, le=63)


class PluginSource(Settings):
    """A camera whose frames a registered plugin makes (``detectors.sources.register_source_plugin``).

    A plain agent registers none; the command line registers the demo's drawn room as ``scene``
    (docs/demo.md), so a file naming it runs under ``casewatch agent`` and is refused elsewhere."""

    type: Literal["plugin"]
    name: Key = Field(..., description="The registered plugin (`scene`: the demo's drawn room).")
    options: dict[str, Any] = Field(default_factory=dict, description="The plugin's own settings.")
    _base_dir: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _remember_config_folder(self, info: ValidationInfo) -> PluginSource:
        """Relative paths among ``options`` are relative to the config file, like every other path."""
        base = (info.context or {}).get("base_dir")
        self._base_dir = Path(base) if base is not None else None
        return self

    @property
    def base_dir(self) -> Path | None:
        return self._base_dir


CameraSource = Annotated[
    FileSource | RtspSource | HikvisionSource | DahuaSource | UsbSource | PluginSource,
    Field(discriminator="type"),
]


class Camera(Settings):
    id: Key
    room: Key
    name: str | None = Field(None, max_length=64)
    source: CameraSource
    fps: float = Field(5.0, gt=0, le=60, description="Frames per second analysed.")
    zones: list[Zone] = Field(default_factory=lambda: [Zone(id="room", role="area", polygon=WHOLE_FRAME)])


class ModelSettings(Settings):
    name: Literal["yolov8n"] = Field("yolov8n", description="A model from `casewatch models pull`.")
    format: Literal["onnx", "pt"] = Field(
        "onnx", description="onnx: ONNX Runtime, no PyTorch at run time (CPU boxes); pt: Ultralytics/PyTorch."
    )
    path: ConfigPath | None = Field(None, description="A local .pt or .onnx instead of `name`.")
    dir: ConfigPath | None = Field(
        None,
        description="The model cache: where `casewatch models pull --from-hub --config` puts the file and "
        "the agent looks for it (default: $CASEWATCH_MODELS, else ~/.cache/casewatch/models).",
    )
    imgsz: int = Field(320, ge=160, le=1280, multiple_of=32)
    confidence: float = Field(0.4, gt=0, lt=1)
    device: str = Field("cpu", description="cpu, or cuda:0 where a GPU exists (pt only).")
    threads: int = Field(
        1, ge=1, le=64, description="ONNX Runtime threads; the rest of the cores decode video."
    )

    @field_validator("path")
    @classmethod
    def _model_file(cls, value: Any) -> Any:
        if value is not None and value.suffix not in (".pt", ".onnx"):
            raise ValueError("model path must end in .pt or .onnx")
        return value


class DetectionTuning(Settings):
    """Where the model looks in a frame (docs/vision.md, "Region detection")."""

    mode: Literal["regions", "full"] = Field(
        "regions",
        description="regions: the whole frame and, for frames at least 1.5 × crop_px on their long side, "
        "square crops of it; full: the whole frame only.",
    )
    crop_px: int = Field(640, ge=160, le=4096, description="Side of a crop in the camera's pixels.")
    crops_per_frame: float = Field(
        0.25,
        gt=0,
        le=16,
        description="Crops looked at per detected frame on average: 0.25 adds at most a quarter of a "
        "model run per frame (a camera's first frame looks at every crop once).",
    )
    keep_s: float = Field(
        5.0, gt=0, le=60, description="A crop's detections count this long after it was looked at."
    )

    def policy(self) -> RegionPolicy | None:
        if self.mode == "full":
            return None
        return RegionPolicy(crop_px=self.crop_px, crops_per_frame=self.crops_per_frame, keep_s=self.keep_s)


class VisionTuning(Settings):
    """How the cameras are analysed; the defaults suit a 2–4 core box."""

    recheck_s: float = Field(
        3.0, gt=0, le=60, description="Re-detect an occupied zone this often without motion."
    )
    idle_recheck_s: float = Field(15.0, gt=0, le=600, description="Re-detect an empty view this often.")
    inertia_s: float = Field(2.0, ge=0, le=60, description="A zone count changes after holding this long.")
    offline_after_s: float = Field(20.0, gt=0, le=600, description="No frame this long: offline.")
    frozen_after_s: float = Field(10.0, gt=0, le=600, description="Identical frames this long: frozen.")
    covered_after_s: float = Field(5.0, gt=0, le=600, description="Dark or uniform this long: covered.")
    defocus_after_s: float = Field(10.0, gt=0, le=600)
    moved_after_s: float = Field(10.0, gt=0, le=600)
    clip_before_s: float = Field(10.0, ge=0, le=60, description="Seconds of video kept before an incident.")
    clip_after_s: float = Field(10.0, ge=0, le=120, description="Seconds recorded after an incident.")
    detection: DetectionTuning = Field(default_factory=DetectionTuning)
