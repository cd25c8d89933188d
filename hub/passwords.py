"""Console passwords: PBKDF2-SHA256 hashes in ``pbkdf2_sha256$iterations$salt$hash`` form.

Standard library only, so a hash can be made on any box: ``casewatch hub hash-password``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

SCHEME = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000
HASH_PATTERN = r"^pbkdf2_sha256\$[0-9]{4,8}\$[A-Za-z0-9_-]{16,}\$[A-Za-z0-9_-]{43}$"
_HASH_RE = re.compile(HASH_PATTERN)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def is_password_hash(text: str) -> bool:
    return bool(_HASH_RE.match(text))


def verify_password(password: str, stored: str) -> bool:
    if not is_password_hash(stored):
        return False
    _, iterations, salt, digest = stored.split("$")
    actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), _unb64(salt), int(iterations))
    return hmac.compare_digest(actual, _unb64(digest))
