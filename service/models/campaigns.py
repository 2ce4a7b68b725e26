"""Campaigns and their spend.

The spend of a campaign is split over `campaign_budget_shards` (each with its
share of the budget as `cap`), so concurrent awards during a season update
different rows instead of all queueing on one; an award takes its bonus from
one shard or several, and a shard never goes past its cap, so the campaign
never goes past its budget. `campaign_citizen_spend` is what each citizen got
from a campaign (its per-citizen cap), keyed by citizen like the ledger.
"""

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, Column, Integer, PrimaryKeyConstraint, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel

from service.models.base import timestamp


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: uuid.UUID = Field(primary_key=True)
    code: str | None = Field(default=None, unique=True, description="A stable name for seeded campaigns")
    name: str
    regions: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    scenarios: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    starts_at: datetime = Field(sa_column=timestamp())
    ends_at: datetime = Field(sa_column=timestamp())
    multiplier: str | None = None
    bonus: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    merchant_ids: list[uuid.UUID] | None = Field(default=None, sa_column=Column(ARRAY(UUID(as_uuid=True)), nullable=True))
    store_ids: list[uuid.UUID] | None = Field(default=None, sa_column=Column(ARRAY(UUID(as_uuid=True)), nullable=True))
    categories: list[str] | None = Field(default=None, sa_column=Column(ARRAY(Text), nullable=True))
    per_citizen_cap: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    budget: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    stacking: str
    status: str = Field(index=True)
    created_at: datetime = Field(sa_column=timestamp(server_now=True))
    updated_at: datetime = Field(sa_column=timestamp(server_now=True))


class CampaignBudgetShard(SQLModel, table=True):
    __tablename__ = "campaign_budget_shards"
    __table_args__ = (PrimaryKeyConstraint("campaign_id", "shard"),)

    campaign_id: uuid.UUID = Field(foreign_key="campaigns.id")
    shard: int = Field(sa_column=Column(Integer, nullable=False))
    cap: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    spent: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class CampaignCitizenSpend(SQLModel, table=True):
    __tablename__ = "campaign_citizen_spend"
    __table_args__ = (PrimaryKeyConstraint("user_id", "campaign_id"),)

    user_id: uuid.UUID
    campaign_id: uuid.UUID
    spent: int = Field(sa_column=Column(BigInteger, nullable=False))
