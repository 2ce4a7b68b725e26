"""Bank integration: link codes, consented links, the consent record, the change feed and webhook deliveries.

- `bank_link_codes`: a short-lived, single-use code a citizen gives a bank (only its hash is kept).
- `bank_links`: a citizen's consented link to one bank, with the scopes consented to; revoked, never deleted.
- `bank_consents`: every grant and revocation (who, which bank, which scopes, when, why). Append-only.
- `bank_events`: the change feed and the webhook outbox in one table. Ledger events are written by a
  trigger on `entries`, in the very statement that writes the entries, for every writer; `seq` is
  given later, in commit order, by the sequencer (service/usecases/bank_feed.py).
- `webhook_deliveries`: one per sequenced event of a bank with a webhook URL: lease, attempts,
  backoff, dead letter.
"""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, Identity, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from service.models.base import timestamp


class BankLinkCode(SQLModel, table=True):
    __tablename__ = "bank_link_codes"
    __table_args__ = (Index("ix_bank_link_codes_user_id", "user_id"),)

    code_hash: str = Field(primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id")
    partner_id: uuid.UUID = Field(foreign_key="partners.id")
    scopes: list[str] = Field(sa_column=Column(ARRAY(String), nullable=False))
    created_at: datetime = Field(sa_column=timestamp())
    expires_at: datetime = Field(sa_column=timestamp())
    used_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    link_id: uuid.UUID | None = None
    customer_ref: str | None = None


class BankLink(SQLModel, table=True):
    __tablename__ = "bank_links"
    __table_args__ = (
        Index("ix_bank_links_user_id", "user_id"),
        Index("ix_bank_links_partner_id", "partner_id"),
        # one live link per citizen and bank, and per bank customer
        Index("uq_bank_links_live_user", "partner_id", "user_id", unique=True, postgresql_where=text("revoked_at IS NULL")),
        Index(
            "uq_bank_links_live_customer", "partner_id", "customer_ref", unique=True, postgresql_where=text("revoked_at IS NULL")
        ),
    )

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id")
    partner_id: uuid.UUID = Field(foreign_key="partners.id")
    customer_ref: str
    scopes: list[str] = Field(sa_column=Column(ARRAY(String), nullable=False))
    created_at: datetime = Field(sa_column=timestamp())
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    revoked_by: str | None = None


class BankConsent(SQLModel, table=True):
    __tablename__ = "bank_consents"
    __table_args__ = (Index("ix_bank_consents_user_id", "user_id"), Index("ix_bank_consents_link_id", "link_id"))

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True))
    link_id: uuid.UUID
    user_id: uuid.UUID
    partner_id: uuid.UUID
    action: str
    """granted | revoked"""
    scopes: list[str] = Field(sa_column=Column(ARRAY(String), nullable=False))
    by: str
    """citizen | erasure | superseded"""
    at: datetime = Field(sa_column=timestamp())


class BankEvent(SQLModel, table=True):
    __tablename__ = "bank_events"
    __table_args__ = (
        Index("uq_bank_events_seq", "seq", unique=True, postgresql_where=text("seq IS NOT NULL")),
        Index("ix_bank_events_partner_id_seq", "partner_id", "seq", postgresql_where=text("seq IS NOT NULL")),
        Index("ix_bank_events_unsequenced", "id", postgresql_where=text("seq IS NULL")),
        Index("ix_bank_events_partner_id_occurred_at", "partner_id", "occurred_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True))
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    partner_id: uuid.UUID
    link_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    carbon_g: int = Field(sa_column=Column(BigInteger, nullable=False))
    scenario: str | None = None
    posting_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    activity_id: uuid.UUID | None = None
    occurred_at: datetime = Field(sa_column=timestamp())
    created_at: datetime = Field(sa_column=timestamp(server_now=True))


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_pending", "link_id", "seq", postgresql_where=text("status = 'pending'")),
        Index("ix_webhook_deliveries_status", "status"),
    )

    event_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    partner_id: uuid.UUID
    link_id: uuid.UUID
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str
    """pending | delivered | dead"""
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    next_attempt_at: datetime = Field(sa_column=timestamp())
    deadline_at: datetime = Field(sa_column=timestamp())
    leased_until: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    lease_token: uuid.UUID | None = None
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    dead_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    created_at: datetime = Field(sa_column=timestamp())
