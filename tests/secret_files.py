"""Secret files as an integrator must keep them: readable by the owner only (foundation/secrets.py
refuses a key that every user can read)."""

from __future__ import annotations

from pathlib import Path


def write_secret(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path
