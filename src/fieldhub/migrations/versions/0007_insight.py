"""insight: user profiles, consents, gateways, provisioning tokens, scanners, device configs

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-22 05:26:25.380701
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insight_device_configs",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("config_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("blob_key", sa.String(length=512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["realm_id"],
            ["realms.id"],
            name=op.f("fk_insight_device_configs_realm_id_realms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_insight_device_configs")),
        sa.UniqueConstraint("realm_id", "config_id", name="uq_insight_device_configs_realm_id"),
    )
    op.create_table(
        "insight_gateways",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("thing_name", sa.String(length=64), nullable=False),
        sa.Column("usecase", sa.String(length=128), nullable=False),
        sa.Column("station", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("manufacturer", sa.String(length=128), nullable=True),
        sa.Column("firmware", sa.String(length=64), nullable=True),
        sa.Column("registration", sa.String(length=16), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["realm_id"], ["realms.id"], name=op.f("fk_insight_gateways_realm_id_realms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_insight_gateways")),
        sa.UniqueConstraint("id", name=op.f("uq_insight_gateways_id")),
        sa.UniqueConstraint("realm_id", "name", name="uq_insight_gateways_realm_name"),
        sa.UniqueConstraint("thing_name", name="uq_insight_gateways_thing_name"),
    )
    with op.batch_alter_table("insight_gateways", schema=None) as batch_op:
        batch_op.create_index("ix_insight_gateways_realm_seq", ["realm_id", "seq"], unique=False)

    op.create_table(
        "insight_scanners",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("battery", sa.Integer(), nullable=True),
        sa.Column("firmware", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("manufacturer", sa.String(length=128), nullable=True),
        sa.Column("last_gateway_id", sa.Uuid(), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["realm_id"], ["realms.id"], name=op.f("fk_insight_scanners_realm_id_realms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_insight_scanners")),
        sa.UniqueConstraint("realm_id", "serial", name="uq_insight_scanners_realm_serial"),
    )
    with op.batch_alter_table("insight_scanners", schema=None) as batch_op:
        batch_op.create_index("ix_insight_scanners_realm_seq", ["realm_id", "seq"], unique=False)

    op.create_table(
        "insight_consents",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("agreed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_insight_consents_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_insight_consents")),
    )
    with op.batch_alter_table("insight_consents", schema=None) as batch_op:
        batch_op.create_index("ix_insight_consents_user_type", ["user_id", "type", "seq"], unique=False)

    op.create_table(
        "insight_password_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_insight_password_links_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_insight_password_links")),
    )
    with op.batch_alter_table("insight_password_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_insight_password_links_user_id"), ["user_id"], unique=False)

    op.create_table(
        "insight_provisioning_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["insight_gateways.id"],
            name=op.f("fk_insight_provisioning_tokens_gateway_id_insight_gateways"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["realm_id"],
            ["realms.id"],
            name=op.f("fk_insight_provisioning_tokens_realm_id_realms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_insight_provisioning_tokens")),
        sa.UniqueConstraint("gateway_id", name=op.f("uq_insight_provisioning_tokens_gateway_id")),
    )
    with op.batch_alter_table("insight_provisioning_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_insight_provisioning_tokens_realm_id"), ["realm_id"], unique=False
        )

    op.create_table(
        "insight_user_profiles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("language", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_insight_user_profiles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_insight_user_profiles")),
    )


def downgrade() -> None:
    op.drop_table("insight_user_profiles")
    with op.batch_alter_table("insight_provisioning_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insight_provisioning_tokens_realm_id"))

    op.drop_table("insight_provisioning_tokens")
    with op.batch_alter_table("insight_password_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insight_password_links_user_id"))

    op.drop_table("insight_password_links")
    with op.batch_alter_table("insight_consents", schema=None) as batch_op:
        batch_op.drop_index("ix_insight_consents_user_type")

    op.drop_table("insight_consents")
    with op.batch_alter_table("insight_scanners", schema=None) as batch_op:
        batch_op.drop_index("ix_insight_scanners_realm_seq")

    op.drop_table("insight_scanners")
    with op.batch_alter_table("insight_gateways", schema=None) as batch_op:
        batch_op.drop_index("ix_insight_gateways_realm_seq")

    op.drop_table("insight_gateways")
    op.drop_table("insight_device_configs")
