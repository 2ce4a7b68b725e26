"""The rewards catalogue and redemptions (issue 6).

- `rewards`: what points buy, with a price, a stock that never goes below zero
  (a CHECK, and every taker decrements it conditionally) and a fulfilment mode.
- `reward_codes`: an uploaded pool of coupon codes, each handed out once.
- `redemptions`: a hold on points and stock that completes or is cancelled.
- `lot_moves`: which lots each posting took points from or gave them back to
  (append-only), so a cancelled hold restores exactly the lots it consumed.
"""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from service.models.base import timestamp


class Reward(SQLModel, table=True):
    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("points > 0", name="points_positive"),
    )

    id: uuid.UUID = Field(primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, Identity(always=True), nullable=False, unique=True))
    name: str
    description: str | None = None
    kind: str
    fulfilment: str
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    stock: int = Field(sa_column=Column(BigInteger, nullable=False))
    region: str | None = Field(default=None, foreign_key="regions.code")
    valid_until: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true")))
    created_at: datetime = Field(sa_column=timestamp(server_now=True))
    updated_at: datetime = Field(sa_column=timestamp(server_now=True))


class RewardCode(SQLModel, table=True):
    __tablename__ = "reward_codes"
    __table_args__ = (
        UniqueConstraint("reward_id", "code"),
        Index("ix_reward_codes_free", "reward_id", "id", postgresql_where=text("redemption_id IS NULL")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True))
    reward_id: uuid.UUID = Field(foreign_key="rewards.id")
    code: str = Field(sa_column=Column(Text, nullable=False))
    redemption_id: uuid.UUID | None = None
    taken_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    created_at: datetime = Field(sa_column=timestamp(server_now=True))


class Redemption(SQLModel, table=True):
    __tablename__ = "redemptions"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "id"),
        Index("ix_redemptions_id", "id", unique=True),
        Index("ix_redemptions_citizen", "user_id", text("seq DESC")),
        Index("ix_redemptions_status_seq", "status", text("seq DESC")),
    )

    user_id: uuid.UUID
    id: uuid.UUID
    seq: int = Field(sa_column=Column(BigInteger, Identity(always=True), nullable=False))
    reward_id: uuid.UUID = Field(foreign_key="rewards.id", index=True)
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str
    code: str | None = None
    hold_posting_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    release_posting_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(sa_column=timestamp())
    completed_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    cancelled_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))


class LotMove(SQLModel, table=True):
    __tablename__ = "lot_moves"
    __table_args__ = (PrimaryKeyConstraint("user_id", "posting_id", "lot_id"),)

    user_id: uuid.UUID
    posting_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    lot_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    points: int = Field(sa_column=Column(BigInteger, nullable=False))
