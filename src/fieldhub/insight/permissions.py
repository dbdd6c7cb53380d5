"""Insight's roles and the permission matrix (docs/insight.md).

Insight roles are the realm's roles: a realm admin holds ADMIN_ROLE, every other user USER_ROLE.
USER_ROLE reads; ADMIN_ROLE also creates and changes users, gateways, scanners and configs.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldhub.core.errors import PermissionDenied
from fieldhub.core.identity.service import Principal

READ_PERMISSIONS = (
    "event.read",
    "gateways.read",
    "devices.read",
    "device_configs.read",
    "users.read",
    "roles.read",
    "job_configs.read",
)
ADMIN_PERMISSIONS = (
    *READ_PERMISSIONS,
    "gateways.create",
    "gateways.update",
    "gateways.provision",
    "devices.update",
    "device_configs.write",
    "device_configs.delete",
    "users.create",
    "users.update",
    "users.delete",
    "job_configs.write",
)


@dataclass(frozen=True, slots=True)
class RoleDefinition:
    name: str
    description: str
    permissions: tuple[str, ...]


ROLES = (
    RoleDefinition(
        "ADMIN_ROLE",
        "Administrator: reads everything, manages users, gateways, scanners and configurations",
        ADMIN_PERMISSIONS,
    ),
    RoleDefinition("USER_ROLE", "User: reads everything of the customer", READ_PERMISSIONS),
)
_BY_NAME = {role.name: role for role in ROLES}


def role_of(*, is_admin: bool) -> RoleDefinition:
    return _BY_NAME["ADMIN_ROLE" if is_admin else "USER_ROLE"]


def require(caller: Principal, permission: str) -> None:
    if permission not in role_of(is_admin=caller.is_admin).permissions:
        raise PermissionDenied(f"Missing permission {permission}")
