"""Bank links, consents, change feed, webhook outbox, bank activities (issue 5)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 08:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Every ledger writer (awards, bonuses, refunds, redemptions, expiry, adjustments) inserts its
# entries in one statement: this statement-level trigger adds the bank events for the citizens
# with a live link that consented to the change feed, in that same statement, so the outbox is
# written in the ledger change's own transaction without any writer knowing about banks.
BANK_EVENTS_FROM_ENTRIES = """
CREATE FUNCTION tanpu_bank_events_from_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bank_events (partner_id, link_id, user_id, kind, points, carbon_g, scenario, posting_id,
                             activity_id, occurred_at)
    SELECT l.partner_id, l.id, e.user_id, e.kind, e.points, e.carbon_g, e.scenario, e.posting_id,
           e.activity_id, e.posted_at
    FROM new_entries e
    JOIN bank_links l ON l.user_id = e.user_id AND l.revoked_at IS NULL AND 'changes:read' = ANY(l.scopes)
    WHERE e.account = 'citizen'
    ORDER BY e.id, l.id;
    RETURN NULL;
END $$
"""

# The feed is append-only but for its sequence number, given once by the sequencer.
BANK_EVENTS_GUARD = """
CREATE FUNCTION tanpu_bank_events_seq_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.seq IS NOT NULL OR NEW.seq IS NULL
       OR (NEW.id, NEW.partner_id, NEW.link_id, NEW.user_id, NEW.kind, NEW.points, NEW.carbon_g, NEW.scenario,
           NEW.posting_id, NEW.activity_id, NEW.occurred_at, NEW.created_at)
          IS DISTINCT FROM
          (OLD.id, OLD.partner_id, OLD.link_id, OLD.user_id, OLD.kind, OLD.points, OLD.carbon_g, OLD.scenario,
           OLD.posting_id, OLD.activity_id, OLD.occurred_at, OLD.created_at) THEN
        RAISE EXCEPTION 'bank_events rows are append-only; only an unset seq may be set'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$
"""


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("partners", sa.Column("webhook_secret", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_table(
        "bank_link_codes",
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("link_id", sa.Uuid(), nullable=True),
        sa.Column("customer_ref", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"], name=op.f("fk_bank_link_codes_partner_id_partners")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_bank_link_codes_user_id_users")),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_bank_link_codes")),
    )
    op.create_index("ix_bank_link_codes_user_id", "bank_link_codes", ["user_id"], unique=False)
    op.create_table(
        "bank_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("customer_ref", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"], name=op.f("fk_bank_links_partner_id_partners")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_bank_links_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_links")),
    )
    op.create_index("ix_bank_links_partner_id", "bank_links", ["partner_id"], unique=False)
    op.create_index("ix_bank_links_user_id", "bank_links", ["user_id"], unique=False)
    op.create_index(
        "uq_bank_links_live_customer",
        "bank_links",
        ["partner_id", "customer_ref"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_index(
        "uq_bank_links_live_user", "bank_links", ["partner_id", "user_id"], unique=True, postgresql_where=sa.text("revoked_at IS NULL")
    )
    op.create_table(
        "bank_consents",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String()), nullable=False),
        sa.Column("by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_consents")),
    )
    op.create_index("ix_bank_consents_link_id", "bank_consents", ["link_id"], unique=False)
    op.create_index("ix_bank_consents_user_id", "bank_consents", ["user_id"], unique=False)
    op.create_table(
        "bank_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("carbon_g", sa.BigInteger(), nullable=False),
        sa.Column("scenario", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("posting_id", sa.BigInteger(), nullable=True),
        sa.Column("activity_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_events")),
    )
    op.create_index("ix_bank_events_partner_id_occurred_at", "bank_events", ["partner_id", "occurred_at"], unique=False)
    op.create_index(
        "ix_bank_events_partner_id_seq", "bank_events", ["partner_id", "seq"], unique=False, postgresql_where=sa.text("seq IS NOT NULL")
    )
    op.create_index("ix_bank_events_unsequenced", "bank_events", ["id"], unique=False, postgresql_where=sa.text("seq IS NULL"))
    op.create_index("uq_bank_events_seq", "bank_events", ["seq"], unique=True, postgresql_where=sa.text("seq IS NOT NULL"))
    op.create_table(
        "webhook_deliveries",
        sa.Column("event_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("link_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.Uuid(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_pending",
        "webhook_deliveries",
        ["link_id", "seq"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_webhook_deliveries_status", "webhook_deliveries", ["status"], unique=False)
    op.execute(BANK_EVENTS_FROM_ENTRIES)
    op.execute(
        "CREATE TRIGGER entries_bank_events AFTER INSERT ON entries REFERENCING NEW TABLE AS new_entries "
        "FOR EACH STATEMENT EXECUTE FUNCTION tanpu_bank_events_from_entries()"
    )
    op.execute(BANK_EVENTS_GUARD)
    op.execute(
        "CREATE TRIGGER bank_events_seq_once BEFORE UPDATE ON bank_events FOR EACH ROW EXECUTE FUNCTION tanpu_bank_events_seq_once()"
    )
    # the consent record is append-only, like the ledger and the audit log
    op.execute(
        "CREATE TRIGGER bank_consents_append_only BEFORE UPDATE OR DELETE ON bank_consents "
        "FOR EACH ROW EXECUTE FUNCTION tanpu_refuse_change()"
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("DROP TRIGGER bank_consents_append_only ON bank_consents")
    op.execute("DROP TRIGGER bank_events_seq_once ON bank_events")
    op.execute("DROP FUNCTION tanpu_bank_events_seq_once()")
    op.execute("DROP TRIGGER entries_bank_events ON entries")
    op.execute("DROP FUNCTION tanpu_bank_events_from_entries()")
    op.drop_index("ix_webhook_deliveries_status", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_pending", table_name="webhook_deliveries", postgresql_where=sa.text("status = 'pending'"))
    op.drop_table("webhook_deliveries")
    op.drop_index("uq_bank_events_seq", table_name="bank_events", postgresql_where=sa.text("seq IS NOT NULL"))
    op.drop_index("ix_bank_events_unsequenced", table_name="bank_events", postgresql_where=sa.text("seq IS NULL"))
    op.drop_index("ix_bank_events_partner_id_seq", table_name="bank_events", postgresql_where=sa.text("seq IS NOT NULL"))
    op.drop_index("ix_bank_events_partner_id_occurred_at", table_name="bank_events")
    op.drop_table("bank_events")
    op.drop_index("ix_bank_consents_user_id", table_name="bank_consents")
    op.drop_index("ix_bank_consents_link_id", table_name="bank_consents")
    op.drop_table("bank_consents")
    op.drop_index("uq_bank_links_live_user", table_name="bank_links", postgresql_where=sa.text("revoked_at IS NULL"))
    op.drop_index("uq_bank_links_live_customer", table_name="bank_links", postgresql_where=sa.text("revoked_at IS NULL"))
    op.drop_index("ix_bank_links_user_id", table_name="bank_links")
    op.drop_index("ix_bank_links_partner_id", table_name="bank_links")
    op.drop_table("bank_links")
    op.drop_index("ix_bank_link_codes_user_id", table_name="bank_link_codes")
    op.drop_table("bank_link_codes")
    op.drop_column("partners", "webhook_secret")
