"""The ledger tables. Every key starts with the citizen's id, so the tables can be
distributed by citizen (Citus) without changing a query.

- `citizen_accounts`: one row per citizen, the account and its running totals,
  updated in the same transaction as the entries (and checked against them).
- `system_accounts`: issuance per scenario, campaigns, redemption, expiry,
  adjustment. They have no balance row: their balances are sums of entries,
  so no award ever waits on a shared hot row.
- `postings` and `entries`: append-only (triggers refuse UPDATE and DELETE).
  Each posting belongs to one citizen and its entries sum to zero.
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKeyConstraint,
    Index,
    PrimaryKeyConstraint,
    Sequence,
    String,
    text,
)
from sqlmodel import Field, SQLModel

from service.models.base import timestamp

posting_id_seq = Sequence("postings_id_seq")
entry_id_seq = Sequence("entries_id_seq")


class CitizenAccount(SQLModel, table=True):
    __tablename__ = "citizen_accounts"

    user_id: uuid.UUID = Field(primary_key=True, foreign_key="users.id")
    balance: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0")))
    lifetime_earned: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0")))
    lifetime_spent: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0")))
    carbon_g_total: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0")))
    # Bumped by every posting: an award evaluated on what it read at version v is
    # written only if the row is still at v (optimistic), else evaluated again.
    version: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0")))
    updated_at: datetime = Field(sa_column=timestamp(server_now=True))


class SystemAccount(SQLModel, table=True):
    __tablename__ = "system_accounts"

    code: str = Field(primary_key=True)
    kind: str
    created_at: datetime = Field(sa_column=timestamp(server_now=True))


class Posting(SQLModel, table=True):
    __tablename__ = "postings"
    __table_args__ = (PrimaryKeyConstraint("user_id", "id"),)

    user_id: uuid.UUID
    id: int = Field(sa_column=Column(BigInteger, posting_id_seq, server_default=posting_id_seq.next_value(), nullable=False))
    kind: str
    posted_at: datetime = Field(sa_column=timestamp())
    carbon_g: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    scenario: str | None = None
    activity_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    reverses_posting_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    memo: str | None = None
    created_by: str | None = None
    digest: str = Field(sa_column=Column(String(64), nullable=False))


class Entry(SQLModel, table=True):
    __tablename__ = "entries"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        ForeignKeyConstraint(["user_id", "posting_id"], ["postings.user_id", "postings.id"]),
        # The citizen's statement, newest first: one index range per page.
        Index(
            "ix_entries_citizen_statement",
            "user_id",
            text("id DESC"),
            postgresql_where=text("account = 'citizen'"),
        ),
        Index("ix_entries_posting", "user_id", "posting_id"),
        Index("ix_entries_reverses", "user_id", "reverses_entry_id", postgresql_where=text("reverses_entry_id IS NOT NULL")),
        # Reports over a period: entries are written in posted_at order, so a block range index
        # finds a day's entries among millions for a few kB, and costs the award path next to nothing.
        Index(
            "ix_entries_posted_at",
            "posted_at",
            postgresql_using="brin",
            postgresql_with={"autosummarize": "on"},
        ),
    )

    user_id: uuid.UUID
    id: int = Field(sa_column=Column(BigInteger, entry_id_seq, server_default=entry_id_seq.next_value(), nullable=False))
    posting_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    leg: int
    account: str
    kind: str
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    carbon_g: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    scenario: str | None = None
    activity_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    reverses_entry_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    posted_at: datetime = Field(sa_column=timestamp())
