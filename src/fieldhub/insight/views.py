"""The spec's JSON shapes of the family's rows (times in milliseconds since the epoch)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from fieldhub.insight.models import DeviceConfig, Gateway, Scanner
from fieldhub.insight.permissions import role_of
from fieldhub.insight.service_gateways import connectivity_status
from fieldhub.insight.service_users import UserView


def millis(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def gateway_json(gateway: Gateway, *, now: dt.datetime, active_seconds: int) -> dict[str, Any]:
    return {
        "id": str(gateway.id),
        "model": gateway.model,
        "manufacturer": gateway.manufacturer,
        "class": "gateway",
        "type": gateway.type,
        "firmware": gateway.firmware,
        "created": millis(gateway.created_at),
        "last_updated": millis(gateway.updated_at),
        "usecase": gateway.usecase,
        "station": gateway.station,
        "thing_name": gateway.thing_name,
        "name": gateway.name,
        "connectivity_status": connectivity_status(gateway, now=now, active_seconds=active_seconds),
    }


def _stamp(view: UserView, kind: str) -> dict[str, Any] | None:
    consent = view.consents.get(kind)
    return {"version": consent.version, "timestamp": millis(consent.agreed_at)} if consent else None


def user_json(view: UserView) -> dict[str, Any]:
    user, profile = view.user, view.profile
    role = role_of(is_admin=user.is_admin)
    return {
        "id": str(user.id),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email or user.username,
        "created": millis(user.created_at),
        "last_updated": millis(profile.updated_at if profile else user.created_at),
        "language": profile.language if profile else None,
        "roles": [role.name],
        "permissions": list(role.permissions),
        "consent_general_terms": _stamp(view, "TERMS_AND_CONDITIONS_AGREEMENT"),
        "consent_privacy_policy": _stamp(view, "PRIVACY_POLICY"),
    }


def scanner_json(scanner: Scanner) -> dict[str, Any]:
    return {
        "id": scanner.serial,
        "class": "device",
        "created": millis(scanner.created_at),
        "last_activity_time": millis(scanner.last_activity_at) if scanner.last_activity_at else None,
        "last_updated": millis(scanner.updated_at),
        "battery": scanner.battery,
        "firmware": scanner.firmware,
        "model": scanner.model,
        "manufacturer": scanner.manufacturer,
        "status": scanner.status,
    }


def config_json(config: DeviceConfig) -> dict[str, Any]:
    return {
        "id": config.config_id,
        "class": "device_config",
        "name": config.name,
        "last_modified": millis(config.updated_at),
        "created": millis(config.created_at),
        "file_size": config.size,
    }


def listing(
    request: Request,
    items: Sequence[dict[str, Any]],
    *,
    next_token: str | None,
    description: str,
    **query: Any,
) -> dict[str, Any]:
    """The spec's ``{items, links, metadata}`` page; ``links.next`` repeats the other parameters."""
    next_link = None
    if next_token is not None:
        next_link = f"{request.url.path}?{urlencode({**query, 'next_token': next_token})}"
    return {
        "items": list(items),
        "links": {"next": next_link},
        "metadata": {"description": description, "size": len(items), "filters": []},
    }
