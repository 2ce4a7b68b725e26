"""Entries: a BRIN index on posted_at, for the reports over a period

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21 17:30:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_index(
        "ix_entries_posted_at",
        "entries",
        ["posted_at"],
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
    )


def downgrade() -> None:
    op.drop_index("ix_entries_posted_at", table_name="entries", postgresql_using="brin")
