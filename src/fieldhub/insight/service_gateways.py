"""Gateways (connectivity devices): registry, optimistic updates and the provisioning flow."""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from fieldhub.core.errors import Conflict, InvalidInput, NotFound
from fieldhub.core.identity.throttle import LoginThrottle
from fieldhub.core.pagination import Cursor, Page
from fieldhub.insight.models import Gateway, ProvisioningToken
from fieldhub.insight.provisioning import gateway_authority, gateway_bundle
from fieldhub.insight.repository import InsightRepository, UnscopedInsightRepository
from fieldhub.insight.service_users import hash_token

#: ``Gateway.registration`` values; ``connectivity_status`` is derived from them (docs/insight.md).
NOT_REGISTERED, REGISTERING, REGISTERED = "NOT_REGISTERED", "REGISTERING", "REGISTERED"
#: Failed provisioning attempts are counted per client address under this throttle "realm".
PROVISIONING_THROTTLE = "insight-provisioning"
THING_NAME = re.compile(r"^gw-[0-9a-f]{32}$")
PROVISIONING_REFUSED = "The provisioning token is invalid, expired or already used"


def connectivity_status(gateway: Gateway, *, now: dt.datetime, active_seconds: int) -> str:
    """NOT_REGISTERED until prepared, REGISTERING until its first message, then ACTIVE while the
    last message is recent and INACTIVE after that."""
    if gateway.last_seen_at is not None:
        recent = now - gateway.last_seen_at <= dt.timedelta(seconds=active_seconds)
        return "ACTIVE" if recent else "INACTIVE"
    return NOT_REGISTERED if gateway.registration == NOT_REGISTERED else REGISTERING


@dataclass(frozen=True, slots=True)
class GatewayFields:
    name: str
    usecase: str
    station: str


@dataclass(frozen=True, slots=True)
class GatewayChanges:
    name: str | None = None
    usecase: str | None = None
    station: str | None = None


@dataclass(frozen=True, slots=True)
class Preparation:
    gateway: Gateway
    token: str
    expires_at: dt.datetime


class GatewayService:
    def __init__(self, *, session: Session, realm_id: uuid.UUID) -> None:
        self.repo = InsightRepository(session, realm_id=realm_id)
        self.realm_id = realm_id

    def page(self, *, limit: int, cursor: Cursor | None) -> Page:
        return self.repo.gateway_page(limit=limit, cursor=cursor)

    def get(self, *, reference: str) -> Gateway:
        """By id (a UUID) or by thing name."""
        try:
            gateway = self.repo.gateway(uuid.UUID(reference))
        except ValueError:
            # Only names of the form fieldhub makes are looked up (never text PostgreSQL rejects).
            is_thing_name = THING_NAME.match(reference) is not None
            gateway = self.repo.gateway_by_thing_name(reference) if is_thing_name else None
        if gateway is None:
            raise NotFound("Gateway not found")
        return gateway

    def create(self, *, gateways: Sequence[GatewayFields], now: dt.datetime) -> list[Gateway]:
        """All or nothing: one taken or repeated name and none is created."""
        names = [fields.name for fields in gateways]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise Conflict(f"Gateway name {repeated[0]!r} appears more than once")
        taken = self.repo.gateway_names_taken(names)
        if taken:
            raise Conflict(f"Gateway {sorted(taken)[0]!r} already exists")
        rows = []
        for fields in gateways:
            gateway_id = uuid.uuid4()
            rows.append(
                Gateway(
                    id=gateway_id,
                    realm_id=self.realm_id,
                    name=fields.name,
                    thing_name=f"gw-{gateway_id.hex}",  # matches THING_NAME
                    usecase=fields.usecase,
                    station=fields.station,
                    type="stationary",
                    registration=NOT_REGISTERED,
                    created_at=now,
                    updated_at=now,
                )
            )
        try:
            with self.repo.session.begin_nested():
                self.repo.session.add_all(rows)
        except IntegrityError:
            # A concurrent request took one of the names between the check and the insert.
            raise Conflict("A gateway with one of these names already exists") from None
        return rows

    def change(
        self, *, reference: str, changes: GatewayChanges, expected_version: int | None, now: dt.datetime
    ) -> Gateway:
        """Applies ``changes`` unless the gateway changed meanwhile (409, nothing written).

        ``expected_version`` is the ETag the client read; without one the update still only
        applies to the version this request read (SQLAlchemy's version check).
        """
        gateway = self.get(reference=reference)
        if expected_version is not None and expected_version != gateway.version:
            raise Conflict("The gateway was modified concurrently; read it again")
        if (
            changes.name is not None
            and changes.name != gateway.name
            and self.repo.gateway_by_name(changes.name)
        ):
            raise Conflict(f"Gateway {changes.name!r} already exists")
        updates = {key: value for key, value in asdict(changes).items() if value is not None}
        if all(getattr(gateway, key) == value for key, value in updates.items()):
            return gateway
        for key, value in updates.items():
            setattr(gateway, key, value)
        gateway.updated_at = now
        try:
            with self.repo.session.begin_nested():
                self.repo.session.flush()
        except StaleDataError:
            raise Conflict("The gateway was modified concurrently; read it again") from None
        except IntegrityError:
            raise Conflict(f"Gateway {changes.name!r} already exists") from None
        return gateway

    def prepare_provisioning(self, *, gateway: Gateway, now: dt.datetime, ttl_seconds: int) -> Preparation:
        """Issues the gateway's one provisioning token; a second call is a 409."""
        if gateway.registration != NOT_REGISTERED or self.repo.has_provisioning_token(gateway.id):
            raise Conflict("Provisioning of this gateway was already prepared")
        token = secrets.token_urlsafe(32)
        expires_at = now + dt.timedelta(seconds=ttl_seconds)
        gateway.registration = REGISTERING
        gateway.updated_at = now
        try:
            with self.repo.session.begin_nested():
                self.repo.add(
                    ProvisioningToken(
                        token_hash=hash_token(token),
                        gateway_id=gateway.id,
                        realm_id=self.realm_id,
                        created_at=now,
                        expires_at=expires_at,
                    )
                )
        except (IntegrityError, StaleDataError):
            raise Conflict("Provisioning of this gateway was already prepared") from None
        return Preparation(gateway=gateway, token=token, expires_at=expires_at)

    def resolve(self, *, gateway_id: str | None, gateway_name: str | None) -> Gateway:
        if (gateway_id is None) == (gateway_name is None):
            raise InvalidInput("gateways: give each gateway either gateway_id or gateway_name")
        if gateway_id is not None:
            try:
                found = self.repo.gateway(uuid.UUID(gateway_id))
            except ValueError:
                raise InvalidInput("gateways: gateway_id must be a UUID") from None
        else:
            found = self.repo.gateway_by_name(gateway_name or "")
        if found is None:
            raise NotFound(f"Gateway {gateway_id or gateway_name!r} not found")
        return found


@dataclass(frozen=True, slots=True)
class Provisioned:
    gateway: Gateway
    pkcs12: bytes


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str


class ProvisioningService:
    """The gateway's own call: spends its token and receives its certificate, exactly once."""

    def __init__(
        self, *, session: Session, throttle: LoginThrottle, data_dir: Path, certificate_days: int
    ) -> None:
        self.repo = UnscopedInsightRepository(session)
        self._throttle = throttle
        self._data_dir = data_dir
        self._days = certificate_days

    def provision(self, *, token: str, client_address: str, now: dt.datetime) -> Provisioned | Refused:
        """A refusal is returned, not raised, so that the caller commits the failure count."""
        self._throttle.check(
            realm=PROVISIONING_THROTTLE, username=client_address, client_address=client_address, now=now
        )
        token_hash = hash_token(token)
        claimed = self.repo.claim_provisioning_token(token_hash, now)
        gateway = self.repo.gateway(claimed.gateway_id) if claimed is not None else None
        if claimed is None or gateway is None or not hmac.compare_digest(claimed.token_hash, token_hash):
            self._throttle.record_failure(
                realm=PROVISIONING_THROTTLE, username=client_address, client_address=client_address, now=now
            )
            return Refused(PROVISIONING_REFUSED)
        authority = gateway_authority(self._data_dir, realm_id=gateway.realm_id)
        bundle = gateway_bundle(authority, thing_name=gateway.thing_name, days=self._days)
        gateway.registration = REGISTERED
        gateway.updated_at = now
        self.repo.session.flush()
        return Provisioned(gateway=gateway, pkcs12=bundle)
