"""Built-in signed URLs: ``/signed/{snapshotId}/{expiration}?signature=``, valid without a token.

The signature is HMAC-SHA256 over the snapshot id and the expiration (Unix seconds) with a secret
kept in the data directory (created once, 0600, shared by every process on that directory).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from pathlib import Path

from fieldhub.core.errors import PermissionDenied
from fieldhub.core.identity.keys import create_exclusively

INVALID_SIGNATURE = "Invalid signature"


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def load_or_create(cls, data_dir: Path) -> UrlSigner:
        path = data_dir / "keys" / "snapshot-url-secret"
        secret = path.read_bytes() if path.exists() else create_exclusively(path, secrets.token_bytes(32))
        return cls(secret)

    def signature(self, snapshot_id: str, expiration: str) -> str:
        message = f"{snapshot_id}/{expiration}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, *, snapshot_id: str, expiration: str, signature: str, now: int) -> uuid.UUID:
        """The snapshot id of an untampered, unexpired URL; anything else is a 403."""
        # Over the texts as received: a changed id or expiration, even to an equivalent spelling,
        # no longer matches.  compare_digest wants ASCII; a non-ASCII signature cannot match.
        expected = self.signature(snapshot_id, expiration)
        if not signature.isascii() or not hmac.compare_digest(expected, signature):
            raise PermissionDenied(INVALID_SIGNATURE)
        if int(expiration) < now:
            raise PermissionDenied("Signed URL has expired")
        return uuid.UUID(snapshot_id)
