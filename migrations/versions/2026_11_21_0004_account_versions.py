"""Citizen account versions for optimistic awards, and the function that refuses a stale write

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 07:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("citizen_accounts", sa.Column("version", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
    # Called by the one statement that writes an award: when fewer account rows
    # were still at the versions the award was evaluated on than expected, the
    # whole statement fails with serialization_failure and the award is evaluated again.
    op.execute(
        """
        CREATE FUNCTION tanpu_expect_accounts(expected bigint, actual bigint) RETURNS bigint
        LANGUAGE plpgsql AS $$
        BEGIN
            IF expected <> actual THEN
                RAISE EXCEPTION 'stale award: % of % citizen accounts changed since they were read',
                    expected - actual, expected USING ERRCODE = 'serialization_failure';
            END IF;
            RETURN actual;
        END $$
        """
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("DROP FUNCTION tanpu_expect_accounts(bigint, bigint)")
    op.drop_column("citizen_accounts", "version")
