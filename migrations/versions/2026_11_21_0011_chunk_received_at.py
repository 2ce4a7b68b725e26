"""Import chunks remember when they arrived; indexes that 0005 and 0006 gained after they landed

An import's lines are judged for the reporting window at the time they were received, not when a
worker gets to them. 0005 (audit_log) and 0006 (redemptions) were edited after they had landed,
so a database migrated before those edits lacks their indexes: they are made here if missing
(a landed migration is never edited again; tests/service/test_migrations.py pins them).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21 22:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column(
        "import_chunks",
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_audit_log_target_kind_target_id_id ON audit_log (target_kind, target_id, id)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_audit_log_at ON audit_log (at)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_redemptions_status_seq ON redemptions (status, seq DESC)")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_column("import_chunks", "received_at")
