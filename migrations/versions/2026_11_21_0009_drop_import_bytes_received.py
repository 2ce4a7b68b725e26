"""Imports: drop bytes_received, which nothing ever wrote (lines_total is the upload's progress)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 16:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_column("imports", "bytes_received")


def downgrade() -> None:
    op.add_column("imports", sa.Column("bytes_received", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
