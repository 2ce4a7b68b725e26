"""Rewards, redemptions, expiry runs, leaderboards, erasure (issue 6)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 08:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "lot_moves",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("posting_id", sa.BigInteger(), nullable=False),
        sa.Column("lot_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "posting_id", "lot_id", name=op.f("pk_lot_moves")),
    )
    # What a posting took from a lot is history, like the posting itself.
    op.execute(
        "CREATE TRIGGER lot_moves_append_only BEFORE UPDATE OR DELETE ON lot_moves "
        "FOR EACH ROW EXECUTE FUNCTION tanpu_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER lot_moves_no_truncate BEFORE TRUNCATE ON lot_moves FOR EACH STATEMENT EXECUTE FUNCTION tanpu_refuse_change()"
    )
    op.create_table(
        "rewards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fulfilment", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.BigInteger(), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_rewards_points_positive")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_rewards_stock_not_negative")),
        sa.ForeignKeyConstraint(["region"], ["regions.code"], name=op.f("fk_rewards_region_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rewards")),
        sa.UniqueConstraint("seq", name=op.f("uq_rewards_seq")),
    )
    op.create_table(
        "redemptions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("hold_posting_id", sa.BigInteger(), nullable=False),
        sa.Column("release_posting_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["reward_id"], ["rewards.id"], name=op.f("fk_redemptions_reward_id_rewards")),
        sa.PrimaryKeyConstraint("user_id", "id", name=op.f("pk_redemptions")),
    )
    op.create_index("ix_redemptions_citizen", "redemptions", ["user_id", sa.literal_column("seq DESC")], unique=False)
    op.create_index("ix_redemptions_id", "redemptions", ["id"], unique=True)
    op.create_index("ix_redemptions_status_seq", "redemptions", ["status", sa.literal_column("seq DESC")], unique=False)
    op.create_index(op.f("ix_redemptions_reward_id"), "redemptions", ["reward_id"], unique=False)
    op.create_table(
        "reward_codes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("redemption_id", sa.Uuid(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["reward_id"], ["rewards.id"], name=op.f("fk_reward_codes_reward_id_rewards")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_codes")),
        sa.UniqueConstraint("reward_id", "code", name=op.f("uq_reward_codes_reward_id_code")),
    )
    op.create_index(
        "ix_reward_codes_free", "reward_codes", ["reward_id", "id"], unique=False, postgresql_where=sa.text("redemption_id IS NULL")
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_index("ix_reward_codes_free", table_name="reward_codes", postgresql_where=sa.text("redemption_id IS NULL"))
    op.drop_table("reward_codes")
    op.drop_index(op.f("ix_redemptions_reward_id"), table_name="redemptions")
    op.drop_index("ix_redemptions_status_seq", table_name="redemptions")
    op.drop_index("ix_redemptions_id", table_name="redemptions")
    op.drop_index("ix_redemptions_citizen", table_name="redemptions")
    op.drop_table("redemptions")
    op.drop_table("rewards")
    op.execute("DROP TRIGGER lot_moves_no_truncate ON lot_moves")
    op.execute("DROP TRIGGER lot_moves_append_only ON lot_moves")
    op.drop_table("lot_moves")
