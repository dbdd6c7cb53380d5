"""insight scans: scan events from gateways, event export tasks, job configurations

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-22 05:52:04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insight_event_exports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("start_millis", sa.BigInteger(), nullable=False),
        sa.Column("end_millis", sa.BigInteger(), nullable=False),
        sa.Column("blob_key", sa.String(length=512), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["realm_id"],
            ["realms.id"],
            name=op.f("fk_insight_event_exports_realm_id_realms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insight_event_exports")),
    )
    op.create_table(
        "insight_job_configs",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("job_name", sa.String(length=128), nullable=False),
        sa.Column("start_barcode", sa.String(length=256), nullable=False),
        sa.Column("end_barcode", sa.String(length=256), nullable=False),
        sa.Column(
            "gateway_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["realm_id"],
            ["realms.id"],
            name=op.f("fk_insight_job_configs_realm_id_realms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_insight_job_configs")),
        sa.UniqueConstraint("id", name=op.f("uq_insight_job_configs_id")),
        sa.UniqueConstraint("realm_id", "job_name", name="uq_insight_job_configs_realm_name"),
    )
    with op.batch_alter_table("insight_job_configs", schema=None) as batch_op:
        batch_op.create_index("ix_insight_job_configs_realm_seq", ["realm_id", "seq"], unique=False)

    op.create_table(
        "insight_scan_events",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("scan_code", sa.Text(), nullable=False),
        sa.Column("scan_duration", sa.Float(), nullable=True),
        sa.Column("scan_decode_symbology", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("device_battery", sa.Integer(), nullable=True),
        sa.Column("device_firmware", sa.String(length=64), nullable=True),
        sa.Column("device_temperature", sa.Float(), nullable=True),
        sa.Column("metrics_worker_steps", sa.BigInteger(), nullable=True),
        sa.Column("gateway_id", sa.Uuid(), nullable=False),
        sa.Column("gateway_usecase", sa.String(length=128), nullable=False),
        sa.Column("gateway_station", sa.String(length=128), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["realm_id"],
            ["realms.id"],
            name=op.f("fk_insight_scan_events_realm_id_realms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_insight_scan_events")),
        sa.UniqueConstraint("realm_id", "event_id", name="uq_insight_scan_events_realm_event"),
    )
    with op.batch_alter_table("insight_scan_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_insight_scan_events_realm_created", ["realm_id", "created", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_insight_scan_events_realm_gateway_created",
            ["realm_id", "gateway_id", "created", "seq"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("insight_scan_events", schema=None) as batch_op:
        batch_op.drop_index("ix_insight_scan_events_realm_gateway_created")
        batch_op.drop_index("ix_insight_scan_events_realm_created")

    op.drop_table("insight_scan_events")
    with op.batch_alter_table("insight_job_configs", schema=None) as batch_op:
        batch_op.drop_index("ix_insight_job_configs_realm_seq")

    op.drop_table("insight_job_configs")
    op.drop_table("insight_event_exports")
