"""media: session media metadata, labels, properties, annotations and multipart upload state

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("pk", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("realm_id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.String(length=24), nullable=False),
        sa.Column("session_pk", _BIGINT_PK, nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("labels", _JSON, nullable=False),
        sa.Column("properties", _JSON, nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_bytes", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=True),
        sa.Column("content_key", sa.String(length=512), nullable=True),
        sa.Column("content_parts", _JSON, nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("thumbnail_status", sa.String(length=16), nullable=False),
        sa.Column("thumbnail_error", sa.String(length=1000), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_by", sa.Uuid(), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_media_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["realm_id"], ["realms.id"], name=op.f("fk_media_realm_id_realms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["session_pk"], ["sessions.pk"], name=op.f("fk_media_session_pk_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_media")),
        sa.UniqueConstraint("realm_id", "id", name="uq_media_realm_id"),
    )
    op.create_index("ix_media_session_pk", "media", ["session_pk", "pk"])
    op.create_index("ix_media_session_filename", "media", ["session_pk", "filename", "pk"])
    op.create_index("ix_media_session_created", "media", ["session_pk", "created_at", "pk"])
    op.create_index("ix_media_session_modified", "media", ["session_pk", "modified_at", "pk"])
    op.create_table(
        "media_annotations",
        sa.Column("media_pk", _BIGINT_PK, nullable=False),
        sa.Column("annotation_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_pk"], ["media.pk"], name=op.f("fk_media_annotations_media_pk_media"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("media_pk", "annotation_id", name=op.f("pk_media_annotations")),
    )
    op.create_table(
        "media_labels",
        sa.Column("media_pk", _BIGINT_PK, nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_pk"], ["media.pk"], name=op.f("fk_media_labels_media_pk_media"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("media_pk", "label", name=op.f("pk_media_labels")),
    )
    op.create_index("ix_media_labels_label", "media_labels", ["label", "media_pk"])
    op.create_table(
        "media_properties",
        sa.Column("media_pk", _BIGINT_PK, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_pk"], ["media.pk"], name=op.f("fk_media_properties_media_pk_media"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("media_pk", "key", name=op.f("pk_media_properties")),
    )
    op.create_index("ix_media_properties_lookup", "media_properties", ["key", "value", "media_pk"])
    op.create_table(
        "media_uploads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("media_pk", _BIGINT_PK, nullable=False),
        sa.Column("chunk_total", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["media_pk"], ["media.pk"], name=op.f("fk_media_uploads_media_pk_media"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_uploads")),
    )
    op.create_index(op.f("ix_media_uploads_media_pk"), "media_uploads", ["media_pk"])
    op.create_table(
        "media_upload_chunks",
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("blob_key", sa.String(length=512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["media_uploads.id"],
            name=op.f("fk_media_upload_chunks_upload_id_media_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", "chunk_index", name=op.f("pk_media_upload_chunks")),
    )


def downgrade() -> None:
    op.drop_table("media_upload_chunks")
    op.drop_index(op.f("ix_media_uploads_media_pk"), table_name="media_uploads")
    op.drop_table("media_uploads")
    op.drop_index("ix_media_properties_lookup", table_name="media_properties")
    op.drop_table("media_properties")
    op.drop_index("ix_media_labels_label", table_name="media_labels")
    op.drop_table("media_labels")
    op.drop_table("media_annotations")
    for name in ("modified", "created", "filename", "pk"):
        op.drop_index(f"ix_media_session_{name}", table_name="media")
    op.drop_table("media")
