"""Green purchases: merchants' stores, the certified green-product catalogue, refunds.

A purchase itself is an activity (scenario `purchase.green`, keyed by the
merchant's `order_id` in `activity_keys`); its lines are in the activity's
measurements and breakdown, and its postings name each line (`sku:<sku>`).
`refund_lines` counts what has been refunded per order line, so a refund can
never return more than was bought.
"""

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Column, Date, Index, PrimaryKeyConstraint, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from service.models.base import timestamp


class Store(SQLModel, table=True):
    __tablename__ = "stores"

    id: uuid.UUID = Field(primary_key=True)
    merchant_id: uuid.UUID = Field(foreign_key="partners.id", index=True)
    name: str
    region: str = Field(foreign_key="regions.code")
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true")))
    created_at: datetime = Field(sa_column=timestamp(server_now=True))


class GreenProduct(SQLModel, table=True):
    """A merchant's certified green product: what one unit saves, and the certificate that says so."""

    __tablename__ = "green_products"
    __table_args__ = (UniqueConstraint("merchant_id", "sku"),)

    id: uuid.UUID = Field(primary_key=True)
    merchant_id: uuid.UUID = Field(foreign_key="partners.id")
    sku: str
    name: str
    category: str
    carbon_g_per_unit: int = Field(sa_column=Column(BigInteger, nullable=False))
    cert_scheme: str
    cert_number: str
    cert_valid_until: date = Field(sa_column=Column(Date, nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true")))
    created_at: datetime = Field(sa_column=timestamp(server_now=True))
    updated_at: datetime = Field(sa_column=timestamp(server_now=True))


class Refund(SQLModel, table=True):
    """A merchant's refund, idempotent on (merchant, refund_id), with its exact first answer."""

    __tablename__ = "refunds"
    __table_args__ = (
        PrimaryKeyConstraint("partner_id", "refund_id"),
        Index("ix_refunds_user_id_activity_id", "user_id", "activity_id"),
    )

    partner_id: uuid.UUID
    refund_id: str
    order_id: str
    user_id: uuid.UUID
    activity_id: uuid.UUID
    request_hash: str
    status_code: int
    response: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=timestamp(server_now=True))


class RefundLine(SQLModel, table=True):
    __tablename__ = "refund_lines"
    __table_args__ = (
        PrimaryKeyConstraint("partner_id", "refund_id", "sku"),
        Index("ix_refund_lines_user_id_activity_id", "user_id", "activity_id"),
    )

    partner_id: uuid.UUID
    refund_id: str
    sku: str
    user_id: uuid.UUID
    activity_id: uuid.UUID
    quantity: int = Field(sa_column=Column(BigInteger, nullable=False))
