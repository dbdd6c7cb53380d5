"""attachments: API users (a realm user's sealed HMAC secret)

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-22 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment_api_users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("sealed_secret", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["realm_id"],
            ["realms.id"],
            name=op.f("fk_attachment_api_users_realm_id_realms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_attachment_api_users_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment_api_users")),
        sa.UniqueConstraint("user_id", name=op.f("uq_attachment_api_users_user_id")),
        sa.UniqueConstraint("username", name=op.f("uq_attachment_api_users_username")),
    )
    op.create_index(
        op.f("ix_attachment_api_users_realm_id"), "attachment_api_users", ["realm_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_attachment_api_users_realm_id"), table_name="attachment_api_users")
    op.drop_table("attachment_api_users")
