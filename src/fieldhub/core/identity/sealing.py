"""Secrets sealed at rest: encrypted with a key kept in the data directory.

Some secrets must stay recoverable (an HMAC can only be checked with the secret itself), so they
cannot be hashed like passwords.  They are stored as Fernet tokens (AES-128-CBC with an
HMAC-SHA256 tag), whose key lives in ``<data dir>/keys/secrets.fernet``, created on first use
with mode 0600 and race-free across processes (see :func:`create_exclusively`).  A stolen
database without the data directory reveals no secret.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from fieldhub.core.identity.keys import create_exclusively

KEY_FILE = Path("keys") / "secrets.fernet"


class SealingKeyMismatch(Exception):
    """A sealed secret does not open with this data directory's key (tampered, or another key)."""


class SecretSealer:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "SecretSealer(<key hidden>)"

    @classmethod
    def load_or_create(cls, data_dir: Path) -> SecretSealer:
        path = data_dir / KEY_FILE
        key = path.read_bytes() if path.exists() else create_exclusively(path, Fernet.generate_key())
        return cls(key.strip())

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def unseal(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SealingKeyMismatch(
                "sealed secret cannot be opened with this data directory's key"
            ) from None
