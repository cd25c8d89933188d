"""A package's manifest: every file's size and sha256, signed with the hub's key, and its check.

The manifest (``manifest.json`` in the archive) names the package, the person, the centre, when
and why it was built, the log's head at that moment (``chain``: pos and hash, what ``hub verify
--anchor`` checks a store against) and each file with its size and sha256. ``sig`` is the
HMAC-SHA256 of its canonical JSON without ``sig`` under the hub's key (protocol/signing.py). The
hub also logs the manifest's own sha256 in a ``package.built`` record, so the archive handed over
is tied to a row of the tamper-evident log.

``verify`` checks an archive offline: the manifest is there and well formed, the archive holds
exactly the files it lists (no more, no fewer, no path leaving the archive), each with the listed
size and digest, and — given the hub's key(s) — the signature. HMAC means whoever can check the
signature could also make one: the log row, anchored off the hub's disk, is the stronger tie.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocol.canonical import canonical_bytes, without
from protocol.signing import SIG_FIELD, signature

MANIFEST = "manifest.json"
KIND = "casewatch.package"
VERSION = 1


def digest_file(path: Path) -> dict[str, Any]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            sha.update(block)
            size += len(block)
    return {"sha256": sha.hexdigest(), "size": size}


def make_manifest(meta: Mapping[str, Any], files: Mapping[str, dict[str, Any]], key: bytes) -> bytes:
    """The signed manifest's bytes (canonical JSON): ``meta`` plus ``files`` {name: {sha256, size}}."""
    body = {**meta, "kind": KIND, "v": VERSION, "files": dict(sorted(files.items()))}
    return canonical_bytes({**body, SIG_FIELD: signature(body, key)})


@dataclass
class Verdict:
    manifest: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    signature: str = "not checked (no key given: the files match the manifest, nothing more)"
    manifest_sha256: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(archive: Path, keys: Sequence[bytes] = ()) -> Verdict:
    """Check a package archive (``.zip``) or an unpacked package folder."""
    verdict = Verdict()
    try:
        if archive.is_dir():  # the hub's own package folder: its state and the agents' answers aside
            names = {
                p.relative_to(archive).as_posix() for p in archive.rglob("*")
                if p.is_file() and p.relative_to(archive).as_posix() != "state.json"
                and not p.relative_to(archive).as_posix().startswith("listed/") and not p.name.startswith(".")
            }  # fmt: skip
            _check(verdict, names, lambda name: (archive / name).open("rb"), keys)
        else:
            with zipfile.ZipFile(archive) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
                names = {i.filename for i in infos}
                if len(names) != len(infos):
                    verdict.problems.append("the archive holds a name twice")
                _check(verdict, names, zf.open, keys)
    except (OSError, zipfile.BadZipFile, ValueError, NotImplementedError, RuntimeError, EOFError) as exc:
        verdict.problems.append(f"cannot read {archive}: {exc}")
    return verdict


def _check(verdict: Verdict, names: set[str], opener: Any, keys: Sequence[bytes]) -> None:
    if MANIFEST not in names:
        verdict.problems.append(f"no {MANIFEST}")
        return
    with opener(MANIFEST) as source:
        raw = source.read(4 << 20)
    verdict.manifest_sha256 = hashlib.sha256(raw).hexdigest()
    try:
        manifest = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        verdict.problems.append(f"{MANIFEST} is not JSON: {exc}")
        return
    if (
        not isinstance(manifest, dict)
        or manifest.get("kind") != KIND
        or not isinstance(manifest.get("files"), dict)
    ):
        verdict.problems.append(f"{MANIFEST} is not a casewatch package manifest")
        return
    verdict.manifest = manifest
    listed: dict[str, Any] = manifest["files"]
    for name in sorted(names - set(listed) - {MANIFEST}):
        verdict.problems.append(f"{name}: in the archive but not in the manifest")
    for name, entry in sorted(listed.items()):
        if name.startswith("/") or "\\" in name or ".." in name.split("/") or name == MANIFEST:
            verdict.problems.append(f"{name}: not a path inside the package")
        elif name not in names:
            verdict.problems.append(f"{name}: listed but missing")
        else:
            _check_file(verdict, name, entry, opener)
    _check_signature(verdict, manifest, keys)


def _check_file(verdict: Verdict, name: str, entry: Any, opener: Any) -> None:
    sha, size = hashlib.sha256(), 0
    try:
        with opener(name) as source:
            for block in iter(lambda: source.read(1 << 20), b""):
                sha.update(block)
                size += len(block)
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, EOFError, zlib.error) as exc:
        # the zip's own CRC caught the change first, or an entry this cannot read (method, encryption)
        verdict.problems.append(f"{name}: damaged ({exc})")
        return
    verdict.checked_files += 1
    if not isinstance(entry, dict) or entry.get("sha256") != sha.hexdigest() or entry.get("size") != size:
        verdict.problems.append(f"{name}: its bytes do not match the manifest (sha256 or size differ)")


def _check_signature(verdict: Verdict, manifest: dict[str, Any], keys: Iterable[bytes]) -> None:
    keys = list(keys)
    if not keys:
        return
    sig = manifest.get(SIG_FIELD)
    body = without(manifest, SIG_FIELD)
    if isinstance(sig, str) and any(signature(body, key) == sig for key in keys):
        verdict.signature = "valid (the hub's key)"
    else:
        verdict.signature = "INVALID"
        verdict.problems.append("the manifest's signature does not verify with the hub's key")


def manifest_sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
