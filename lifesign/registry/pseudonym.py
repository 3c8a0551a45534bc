"""Pseudonyms: a keyed hash of the normalised ID number.

HMAC-SHA256 with a per-installation secret, truncated to 128 bits and written as 32 hex
characters. The secret is created on first use in the home's ``secrets`` folder with mode 0600;
losing it means every pseudonym changes, so it is never regenerated if it exists.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from lifesign.errors import ConfigurationError, Location

SECRET_FILE = "pseudonym.key"
SECRET_BYTES = 32
PSEUDONYM_BYTES = 16  # 128 bits kept


def load_or_create_secret(secrets_dir: Path) -> bytes:
    """Read the pseudonym secret, creating it (0600, folder 0700) if it does not exist."""
    path = secrets_dir / SECRET_FILE
    secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    if not path.exists():
        key = secrets.token_bytes(SECRET_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key.hex().encode("ascii"))
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(
            "the pseudonym secret is readable by others",
            f"its mode is {mode:o}; run chmod 600 on it",
            Location(file=str(path)),
        )
    text = path.read_text("ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigurationError(
            "the pseudonym secret is unreadable", "it must be hex", Location(file=str(path))
        ) from None
    if len(key) < 16:
        raise ConfigurationError(
            "the pseudonym secret is too short",
            "it must hold at least 128 bits",
            Location(file=str(path)),
        )
    return key


class Pseudonymizer:
    """Turns normalised ID numbers into pseudonyms with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("a pseudonym secret needs at least 128 bits")
        self._hmac = hmac.new(secret, digestmod=hashlib.sha256)

    @classmethod
    def for_home(cls, secrets_dir: Path) -> Pseudonymizer:
        return cls(load_or_create_secret(secrets_dir))

    def pseudonym(self, normalised_id: str) -> str:
        mac = self._hmac.copy()
        mac.update(normalised_id.encode("ascii"))
        return mac.digest()[:PSEUDONYM_BYTES].hex()
