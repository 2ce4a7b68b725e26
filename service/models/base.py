"""Shared column helpers and the naming convention (set before any table is declared)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, text
from sqlmodel import SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp(*, nullable: bool = False, server_now: bool = False, **kw: Any) -> Any:
    """A timestamptz column (times are stored in UTC)."""
    return Column(
        DateTime(timezone=True),
        nullable=nullable,
        server_default=text("now()") if server_now else None,
        **kw,
    )
