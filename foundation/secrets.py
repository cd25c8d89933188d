"""Secrets handled as secrets: no file others can read, no shipped demo key or password in use.

The demo ships its keys (``configs/keys/demo-*.key``) and a demo login so that ``make demo`` runs
on a fresh clone; copied into a real deployment they are a master key anyone can download. So a
config whose ``center`` is not the demo's (``demo-center``) is refused — by ``config check`` and at
start — when it uses one of those keys or the demo password, or names a secret file (key, password,
PIN, session secret, TLS key) that users other than the owner and group can read or write; the
message says how to fix it and never shows the secret. Group-readable files (``0640``, group
``casewatch``) are allowed.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Iterable
from pathlib import Path

DEMO_CENTER = "demo-center"
DEMO_KEY_DIGESTS = frozenset(
    {
        "7e1c6de5fe820032b8618d0f33836eba6a1748ef6ecc94025a4d69ecc2582049",
        "5183cb0701dd1eff2fc6f7205d7a204b796860c26cc6e56a13051787834a10be",
    }
)
"""sha256 of the key bytes of ``configs/keys/demo-*.key`` (a test keeps these in step)."""
DEMO_PASSWORD_HASHES = frozenset(
    {"pbkdf2_sha256$600000$xF591ADOVzv-v6WdOYCMEg$hn1QUitVT_3snSZFHk-vl6iF7LrhCbAqheRIWdbJ0rY"}
)
"""The demo login's hash as shipped in ``configs/hub-demo.yaml`` (``demo`` / ``demo-password``)."""


def key_digest(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()


def is_demo_key(key: bytes) -> bool:
    return key_digest(key) in DEMO_KEY_DIGESTS


def open_to_others(path: Path) -> int | None:
    """The file's mode when users other than owner and group may read or write it, else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & (stat.S_IROTH | stat.S_IWOTH) else None


def file_problems(paths: Iterable[Path]) -> list[str]:
    problems = []
    for path in dict.fromkeys(paths):
        mode = open_to_others(path)
        if mode is not None:
            problems.append(
                f"secret file {path} can be read by every user (mode {mode:04o}): chmod 600 {path} "
                "(or 640 with the casewatch group)"
            )
    return problems


def deployment_problems(
    center: str,
    secret_files: Iterable[Path],
    keys: Iterable[tuple[str, Iterable[bytes]]],
    password_hashes: Iterable[tuple[str, str]] = (),
) -> list[str]:
    """Everything wrong with how a non-demo config keeps its secrets (empty for the demo)."""
    if center == DEMO_CENTER:
        return []
    problems = file_problems(secret_files)
    problems += [demo_key_problem(where) for where, found in keys if any(is_demo_key(k) for k in found)]
    problems += [
        f"{who} uses the demo password shipped with casewatch: set a new one with "
        "`casewatch hub hash-password`"
        for who, digest in password_hashes
        if digest in DEMO_PASSWORD_HASHES
    ]
    return problems


def demo_key_problem(where: str) -> str:
    return (
        f"{where} is the demo key shipped with casewatch (configs/keys/demo-*.key), known to anyone: "
        "make one with `casewatch keygen --output FILE`"
    )
