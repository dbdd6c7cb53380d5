"""snapshots: snapshots, camera requests, and the realms' OAuth clients

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-22 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _realm_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["realm_id"], ["realms.id"], name=op.f(f"fk_{table}_realm_id_realms"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _realm_fk("oauth_clients"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_clients")),
    )
    op.create_index(op.f("ix_oauth_clients_realm_id"), "oauth_clients", ["realm_id"], unique=False)

    op.create_table(
        "snapshots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.String(length=128), nullable=True),
        sa.Column("interaction_id", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("session_type", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=True),
        sa.Column("requester_user_id", sa.Uuid(), nullable=False),
        sa.Column("requester_endpoint_id", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("user_endpoint_id", sa.String(length=128), nullable=False),
        sa.Column("related_snapshot_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("snapshot_acquired", sa.Boolean(), nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("approval_succeeded", sa.Boolean(), nullable=True),
        sa.Column("mime_type", sa.String(length=128), nullable=True),
        sa.Column("suffix", sa.String(length=16), nullable=True),
        sa.Column("blob_key", sa.String(length=512), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _realm_fk("snapshots"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
    )
    op.create_index(
        "ix_snapshots_interaction", "snapshots", ["realm_id", "interaction_id", "created_at"], unique=False
    )

    op.create_table(
        "snapshot_camera_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("request_type", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("session_type", sa.String(length=16), nullable=False),
        sa.Column("requester_user_id", sa.Uuid(), nullable=False),
        sa.Column("requester_endpoint_id", sa.String(length=128), nullable=False),
        sa.Column("target_user_id", sa.Uuid(), nullable=False),
        sa.Column("target_endpoint_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=True),
        sa.Column("additional_information", sa.String(length=1024), nullable=True),
        _realm_fk("snapshot_camera_requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot_camera_requests")),
    )
    op.create_index(
        op.f("ix_snapshot_camera_requests_realm_id"), "snapshot_camera_requests", ["realm_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("snapshot_camera_requests")
    op.drop_table("snapshots")
    op.drop_table("oauth_clients")
