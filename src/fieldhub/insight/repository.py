"""Every query of the Insight family, each scoped to the customer's realm."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.orm import Session

from fieldhub.core.identity.models import Realm, User
from fieldhub.core.pagination import Cursor, Page, SortKey, keyset_page
from fieldhub.insight.models import (
    Consent,
    DeviceConfig,
    Gateway,
    PasswordLink,
    ProvisioningToken,
    Scanner,
    UserProfile,
)

GATEWAY_ORDER = SortKey("created", Gateway.seq, "int", descending=False)
SCANNER_ORDER = SortKey("created", Scanner.seq, "int", descending=False)
#: Usernames are unique within a realm, so the name alone orders and keys a page of users.
USER_ORDER = SortKey("username", User.username, "str", descending=False)


class InsightRepository:
    def __init__(self, session: Session, *, realm_id: uuid.UUID) -> None:
        self.session = session
        self.realm_id = realm_id

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    # users --------------------------------------------------------------------------------
    def users_after(self, username: str | None, limit: int) -> list[User]:
        query = select(User).where(User.realm_id == self.realm_id)
        if username is not None:
            query = query.where(User.username > username)
        return list(self.session.scalars(query.order_by(User.username).limit(limit)))

    def user(self, user_id: uuid.UUID) -> User | None:
        return self.session.scalars(
            select(User).where(User.realm_id == self.realm_id, User.id == user_id)
        ).one_or_none()

    def email_taken(self, email: str) -> bool:
        query = select(User.id).where(
            User.realm_id == self.realm_id,
            or_(func.lower(User.email) == email, func.lower(User.username) == email),
        )
        return self.session.scalars(query.limit(1)).first() is not None

    def profiles(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, UserProfile]:
        rows = self.session.scalars(select(UserProfile).where(UserProfile.user_id.in_(user_ids)))
        return {row.user_id: row for row in rows}

    def latest_consents(self, user_ids: Sequence[uuid.UUID]) -> dict[tuple[uuid.UUID, str], Consent]:
        newest = (
            select(func.max(Consent.seq))
            .where(Consent.user_id.in_(user_ids))
            .group_by(Consent.user_id, Consent.type)
        )
        rows = self.session.scalars(select(Consent).where(Consent.seq.in_(newest)))
        return {(row.user_id, row.type): row for row in rows}

    def consents(self, user_id: uuid.UUID, types: Sequence[str]) -> Sequence[Consent]:
        return self.session.scalars(
            select(Consent).where(Consent.user_id == user_id, Consent.type.in_(types)).order_by(Consent.seq)
        ).all()

    def delete_user(self, user: User) -> None:
        # The foreign keys cascade to the user's refresh tokens, grants, profile and consents.
        self.session.execute(delete(User).where(User.id == user.id, User.realm_id == self.realm_id))
        self.session.expunge(user)

    def forget_password_links(self, user_id: uuid.UUID) -> None:
        self.session.execute(delete(PasswordLink).where(PasswordLink.user_id == user_id))

    # gateways -----------------------------------------------------------------------------
    def _gateways(self) -> Select[Gateway]:
        return select(Gateway).where(Gateway.realm_id == self.realm_id)

    def gateway_page(self, *, limit: int, cursor: Cursor | None) -> Page:
        return keyset_page(
            self.session,
            self._gateways(),
            sort=GATEWAY_ORDER,
            tiebreak=Gateway.seq,
            limit=limit,
            cursor=cursor,
            row_value=lambda row: row.seq,
            row_key=lambda row: row.seq,
            scope=str(self.realm_id),
        )

    def gateway(self, gateway_id: uuid.UUID) -> Gateway | None:
        return self.session.scalars(self._gateways().where(Gateway.id == gateway_id)).one_or_none()

    def gateway_by_thing_name(self, thing_name: str) -> Gateway | None:
        return self.session.scalars(self._gateways().where(Gateway.thing_name == thing_name)).one_or_none()

    def gateway_by_name(self, name: str) -> Gateway | None:
        return self.session.scalars(self._gateways().where(Gateway.name == name)).one_or_none()

    def gateway_names_taken(self, names: Sequence[str]) -> list[str]:
        return list(
            self.session.scalars(
                self._gateways().with_only_columns(Gateway.name).where(Gateway.name.in_(names))
            )
        )

    # provisioning -------------------------------------------------------------------------
    def has_provisioning_token(self, gateway_id: uuid.UUID) -> bool:
        query = select(ProvisioningToken.token_hash).where(ProvisioningToken.gateway_id == gateway_id)
        return self.session.scalars(query).first() is not None

    # scanners -----------------------------------------------------------------------------
    def scanner_page(self, *, limit: int, cursor: Cursor | None) -> Page:
        return keyset_page(
            self.session,
            select(Scanner).where(Scanner.realm_id == self.realm_id),
            sort=SCANNER_ORDER,
            tiebreak=Scanner.seq,
            limit=limit,
            cursor=cursor,
            row_value=lambda row: row.seq,
            row_key=lambda row: row.seq,
            scope=str(self.realm_id),
        )

    def scanner(self, serial: str) -> Scanner | None:
        return self.session.scalars(
            select(Scanner).where(Scanner.realm_id == self.realm_id, Scanner.serial == serial)
        ).one_or_none()

    # device configs -----------------------------------------------------------------------
    def device_configs(self) -> Sequence[DeviceConfig]:
        return self.session.scalars(
            select(DeviceConfig).where(DeviceConfig.realm_id == self.realm_id).order_by(DeviceConfig.seq)
        ).all()

    def device_config(self, config_id: str) -> DeviceConfig | None:
        return self.session.scalars(
            select(DeviceConfig).where(
                DeviceConfig.realm_id == self.realm_id, DeviceConfig.config_id == config_id
            )
        ).one_or_none()


class UnscopedInsightRepository:
    """The few lookups that find the realm rather than start from it (login discovery, tokens)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def realm(self, realm_id: uuid.UUID) -> Realm | None:
        return self.session.get(Realm, realm_id)

    def realm_by_name(self, name: str) -> Realm | None:
        return self.session.scalars(select(Realm).where(Realm.name == name)).one_or_none()

    def claim_provisioning_token(self, token_hash: str, now: dt.datetime) -> ProvisioningToken | None:
        """Marks the token used; None unless it existed, was unused and unexpired.

        One conditional UPDATE: of two concurrent claims, PostgreSQL re-checks the second against
        the first's committed row and SQLite serialises the writers, so exactly one wins.
        """
        claimed = self.session.execute(
            update(ProvisioningToken)
            .where(
                ProvisioningToken.token_hash == token_hash,
                ProvisioningToken.used_at.is_(None),
                ProvisioningToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(ProvisioningToken.token_hash)
        ).first()
        if claimed is None:
            return None
        return self.session.get(ProvisioningToken, token_hash, populate_existing=True)

    def gateway(self, gateway_id: uuid.UUID) -> Gateway | None:
        return self.session.scalars(select(Gateway).where(Gateway.id == gateway_id)).one_or_none()

    def password_link(self, token_hash: str) -> PasswordLink | None:
        return self.session.get(PasswordLink, token_hash)

    def user(self, user_id: uuid.UUID) -> User | None:
        return self.session.get(User, user_id)
