"""argon2id password hashing."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this when the user does not exist keeps the response time the same, so a
    caller cannot learn which usernames exist by timing the login.  Made on first use, not at
    import: hashing takes a deliberate fraction of a second that every CLI command would pay.
    """
    return _hasher.hash("fieldhub-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
