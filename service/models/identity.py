"""Who can sign in: citizens, administrators, partners; one-time codes and refresh tokens."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from service.models.base import timestamp


class User(SQLModel, table=True):
    """A citizen. `phone` is for sign-in only and is removed on erasure."""

    __tablename__ = "users"

    id: uuid.UUID = Field(primary_key=True)
    phone: str | None = Field(default=None, sa_column=Column(String, unique=True, nullable=True))
    region: str = Field(foreign_key="regions.code")
    created_at: datetime = Field(sa_column=timestamp(server_now=True))
    erased_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))


class Admin(SQLModel, table=True):
    __tablename__ = "admins"

    id: uuid.UUID = Field(primary_key=True)
    username: str = Field(sa_column=Column(String, unique=True, nullable=False))
    password_hash: str
    role: str
    created_at: datetime = Field(sa_column=timestamp(server_now=True))
    disabled_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))


class Partner(SQLModel, table=True):
    """A transit, recycling, merchant or bank integration signing in with client credentials."""

    __tablename__ = "partners"

    id: uuid.UUID = Field(primary_key=True)
    kind: str
    name: str
    region: str = Field(foreign_key="regions.code")
    client_id: str = Field(sa_column=Column(String, unique=True, nullable=False))
    client_secret_hash: str
    scopes: list[str] = Field(sa_column=Column(ARRAY(String), nullable=False))
    webhook_url: str | None = None
    webhook_secret: str | None = None
    """The HMAC key of the bank's webhooks: kept in clear because signing needs it (shown once at creation)."""
    created_at: datetime = Field(sa_column=timestamp(server_now=True))
    disabled_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))


class OtpCode(SQLModel, table=True):
    """A one-time sign-in code; only its keyed hash is stored."""

    __tablename__ = "otp_codes"
    __table_args__ = (Index("ix_otp_codes_phone_created_at", "phone", "created_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True))
    phone: str
    code_hash: str
    created_at: datetime = Field(sa_column=timestamp())
    expires_at: datetime = Field(sa_column=timestamp())
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    consumed_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))


class RefreshToken(SQLModel, table=True):
    """One refresh token of a rotation family; the token itself is never stored, only its hash."""

    __tablename__ = "refresh_tokens"

    token_hash: str = Field(primary_key=True)
    family_id: uuid.UUID = Field(index=True)
    subject_kind: str
    subject_id: uuid.UUID
    scope: str
    issued_at: datetime = Field(sa_column=timestamp())
    expires_at: datetime = Field(sa_column=timestamp())
    used_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp(nullable=True))
