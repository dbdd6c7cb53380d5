"""Signing keys, kept in the data directory and created on first use.

Creation is race-free across processes sharing the data dir: the file is written to a temporary
name and linked into place; a process that loses the race reads the winner's file.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def create_exclusively(path: Path, content: bytes) -> bytes:
    """Writes ``content`` to ``path`` unless it exists; returns what ends up in ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race; use its file
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path.read_bytes()


class SigningKey:
    """The realm-independent RSA key that signs access tokens, with its RFC 7638 thumbprint as kid."""

    algorithm = "RS256"

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        public_jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.public_key))
        thumbprint_input = json.dumps(
            {k: public_jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True
        ).encode()
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(thumbprint_input).digest()).rstrip(b"=").decode()
        self.public_jwk = {**public_jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    @classmethod
    def load_or_create(cls, directory: Path) -> SigningKey:
        path = directory / "keys" / "jwt-signing-key.pem"
        if path.exists():
            pem = path.read_bytes()
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = create_exclusively(
                path,
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
        private_key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        return cls(private_key)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [self.public_jwk]}
