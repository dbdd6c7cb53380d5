"""outbox events carry the topics they are published to instead of an audience of user ids

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # Events recorded before this revision were never published (no publisher existed) and name
    # no topics; they are history, not news, so they are marked published rather than replayed
    # to subscribers days late.
    op.execute(sa.text("UPDATE outbox_events SET published_at = created_at WHERE published_at IS NULL"))
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topics", _JSON, nullable=False, server_default=sa.text("'[]'")))
        batch_op.drop_column("audience")
    # The default only filled the existing rows; new rows always name their topics.
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.alter_column("topics", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audience", _JSON, nullable=False, server_default=sa.text("'[]'")))
        batch_op.drop_column("topics")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.alter_column("audience", server_default=None)
