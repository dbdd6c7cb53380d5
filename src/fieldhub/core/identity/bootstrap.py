"""First-start bootstrap: realm ``demo``, application ``Demo`` (number 1) and the realm admin ``admin``."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from fieldhub.core.errors import InvalidInput
from fieldhub.core.identity.service import MIN_PASSWORD_LENGTH, IdentityService

DEMO_REALM = "demo"
DEMO_APPLICATION = "Demo"
ADMIN_USERNAME = "admin"
PASSWORD_FILE = "admin-password.txt"  # noqa: S105 - a file name, not a password


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    realm: str
    application_id: str
    username: str
    #: Set only when the password was generated, so that it can be shown once.
    generated_password: str | None
    password_file: Path | None


def bootstrap_if_empty(
    identity: IdentityService, *, data_dir: Path, admin_password: str
) -> BootstrapResult | None:
    """Creates the demo realm on an empty database; does nothing (returns None) otherwise."""
    if identity.repo.any_realm_exists():
        return None
    if admin_password and len(admin_password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"FIELDHUB_ADMIN_PASSWORD must be at least {MIN_PASSWORD_LENGTH} characters")
    realm = identity.create_realm(name=DEMO_REALM)
    application = identity.create_application(realm=realm, name=DEMO_APPLICATION)
    password = admin_password or secrets.token_urlsafe(18)
    identity.create_user(realm=realm, username=ADMIN_USERNAME, password=password, is_admin=True)
    password_file = None
    if not admin_password:
        password_file = data_dir / PASSWORD_FILE
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
    return BootstrapResult(
        realm=realm.name,
        application_id=application.id,
        username=ADMIN_USERNAME,
        generated_password=None if admin_password else password,
        password_file=password_file,
    )
