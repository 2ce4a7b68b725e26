"""Imports: when their last chunk was stored, so an upload whose sender died can be failed

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 14:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("imports", sa.Column("received_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_imports_receiving", "imports", ["received_at"], unique=False, postgresql_where=sa.text("status = 'receiving'"))


def downgrade() -> None:
    op.drop_index("ix_imports_receiving", table_name="imports", postgresql_where=sa.text("status = 'receiving'"))
    op.drop_column("imports", "received_at")
