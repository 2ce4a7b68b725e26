"""Activities and what the award pipeline keeps beside them.

- `activities`: every report, awarded or not, with its breakdown (keyed by citizen).
- `activity_keys`: a partner's `external_id` → the activity and the exact first answer;
  the unique key that makes every partner write idempotent.
- `fingerprints`: one real-world act, credited once whoever reports it.
- `daily_usage`: points per citizen, local day and cap family (caps are exact
  because the pipeline holds the citizen's account row while it counts); a refund
  takes its reversed base points off again.
- `daily_steps`: the step count already credited for a day.
- `expiry_lots`: one lot per award posting, consumed oldest first by redemptions.
- `identities`, `stations`: member references bound by citizens; recycling stations.
"""

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Date, Identity, Index, PrimaryKeyConstraint, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from service.models.base import timestamp


class Activity(SQLModel, table=True):
    __tablename__ = "activities"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        Index("ix_activities_id", "id", unique=True),
        Index("ix_activities_user_id_occurred_at", "user_id", "occurred_at"),
    )

    user_id: uuid.UUID
    id: uuid.UUID
    partner_id: uuid.UUID | None = None
    external_id: str | None = None
    scenario: str
    family: str
    status: str
    reason: str | None = None
    region: str
    occurred_at: datetime = Field(sa_column=timestamp())
    reported_at: datetime = Field(sa_column=timestamp())
    carbon_g: int = Field(sa_column=Column(BigInteger, nullable=False))
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    bonus_points: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default=text("0")))
    methodology_id: str | None = None
    fingerprint: str | None = None
    station_id: uuid.UUID | None = None
    measurements: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    breakdown: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))


class ActivityKey(SQLModel, table=True):
    __tablename__ = "activity_keys"
    __table_args__ = (PrimaryKeyConstraint("partner_id", "external_id"),)

    partner_id: uuid.UUID
    external_id: str
    user_id: uuid.UUID
    activity_id: uuid.UUID
    request_hash: str
    status_code: int
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=timestamp(server_now=True))


class Fingerprint(SQLModel, table=True):
    __tablename__ = "fingerprints"
    __table_args__ = (PrimaryKeyConstraint("user_id", "fingerprint"),)

    user_id: uuid.UUID
    fingerprint: str
    activity_id: uuid.UUID
    partner_id: uuid.UUID | None = None


class DailyUsage(SQLModel, table=True):
    __tablename__ = "daily_usage"
    __table_args__ = (PrimaryKeyConstraint("user_id", "day", "family"),)

    user_id: uuid.UUID
    day: date = Field(sa_column=Column(Date, nullable=False))
    family: str
    points: int = Field(sa_column=Column(BigInteger, nullable=False))


class DailySteps(SQLModel, table=True):
    __tablename__ = "daily_steps"
    __table_args__ = (PrimaryKeyConstraint("user_id", "day"),)

    user_id: uuid.UUID
    day: date = Field(sa_column=Column(Date, nullable=False))
    steps: int


class ExpiryLot(SQLModel, table=True):
    __tablename__ = "expiry_lots"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        Index("ix_expiry_lots_open", "user_id", "expires_at", postgresql_where=text("remaining > 0")),
        Index("ix_expiry_lots_due", "expires_at", postgresql_where=text("remaining > 0")),
    )

    user_id: uuid.UUID
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(always=False), nullable=False))
    posting_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    earned_at: datetime = Field(sa_column=timestamp())
    expires_at: datetime = Field(sa_column=timestamp())
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    remaining: int = Field(sa_column=Column(BigInteger, nullable=False))


class Identity_(SQLModel, table=True):
    """A member reference (transit card token, bike account, membership number) bound by a citizen."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("partner_id", "ref"), Index("ix_identities_user_id", "user_id"))

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id")
    partner_id: uuid.UUID = Field(foreign_key="partners.id")
    kind: str
    ref: str
    created_at: datetime = Field(sa_column=timestamp(server_now=True))


class Station(SQLModel, table=True):
    __tablename__ = "stations"

    id: uuid.UUID = Field(primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partners.id", index=True)
    name: str
    region: str = Field(foreign_key="regions.code")
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true")))
    created_at: datetime = Field(sa_column=timestamp(server_now=True))


class TravelImport(SQLModel, table=True):
    """A partner's NDJSON file of trips, received in chunks and awarded chunk by chunk.

    Each chunk is awarded and marked done in one transaction, and every line is
    idempotent on its external_id, so a killed import resumes and awards each
    line at most once.
    """

    __tablename__ = "imports"
    __table_args__ = (Index("ix_imports_receiving", "received_at", postgresql_where=text("status = 'receiving'")),)

    id: uuid.UUID = Field(primary_key=True)
    partner_id: uuid.UUID = Field(foreign_key="partners.id", index=True)
    status: str
    chunks_total: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    chunks_done: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    lines_total: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    lines_done: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    awarded: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    capped: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    rejected: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    duplicates: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    failed: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    errors: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb"))
    )
    lease_until: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    received_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    """When the upload was last heard from (every 30 s or so): one silent for long has lost its sender."""
    created_at: datetime = Field(sa_column=timestamp(server_now=True))
    finished_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))


class ImportChunk(SQLModel, table=True):
    """Up to a few thousand raw lines of an import, deleted once awarded."""

    __tablename__ = "import_chunks"
    __table_args__ = (PrimaryKeyConstraint("import_id", "seq"),)

    import_id: uuid.UUID
    seq: int
    first_line: int
    lines: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime | None = Field(default=None, sa_column=timestamp(server_now=True))
    """When the lines arrived: they are judged for the reporting window as of then."""
