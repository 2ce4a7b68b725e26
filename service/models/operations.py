"""Idempotency records and the audit log."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Identity, Index, SmallInteger, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from service.models.base import timestamp


class IdempotencyRecord(SQLModel, table=True):
    """A write under an `Idempotency-Key`: claimed in the write's own transaction, answered with it."""

    __tablename__ = "idempotency_records"

    scope: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    request_hash: str
    status_code: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    # The exact bytes of the first answer (text, not jsonb, which would reorder keys).
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=timestamp(server_now=True))


class AuditRecord(SQLModel, table=True):
    """Who changed what, when, from what to what. Append-only (a trigger refuses edits)."""

    __tablename__ = "audit_log"
    # the auditor's questions: the history of one thing, and a period
    __table_args__ = (
        Index("ix_audit_log_target_kind_target_id_id", "target_kind", "target_id", "id"),
        Index("ix_audit_log_at", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True))
    at: datetime = Field(sa_column=timestamp(server_now=True))
    actor_kind: str
    actor_id: uuid.UUID | None = None
    action: str = Field(index=True)
    target_kind: str
    target_id: str
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    request_id: str | None = None
