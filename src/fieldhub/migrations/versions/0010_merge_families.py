"""merge the family branches (media, attachments, snapshots, insight, background tasks)

Each family's first migration branched from 0003 while they were built side by side; from here
on there is one head again, and a new migration revises this one.

Revision ID: 0010
Revises: 0004, 0005, 0006, 0008, 0009
Create Date: 2026-11-22 06:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010"
down_revision: tuple[str, ...] = ("0004", "0005", "0006", "0008", "0009")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
