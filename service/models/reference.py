"""Reference data loaded from seeds/: regions, methodology versions, recycling categories."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from service.models.base import timestamp


class Region(SQLModel, table=True):
    __tablename__ = "regions"

    code: str = Field(primary_key=True)
    name: str
    name_zh: str


class Methodology(SQLModel, table=True):
    """One version of the factors; `document` holds factors, bounds and caps as the seed file has them.

    Numbers in the document are decimal strings, so nothing on the way to a
    point is ever a float.
    """

    __tablename__ = "methodologies"

    id: str = Field(primary_key=True)
    region: str = Field(index=True)
    effective_from: datetime = Field(sa_column=timestamp())
    rate_points_per_g: str
    document: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime = Field(sa_column=timestamp(server_now=True))


class RecyclingCategory(SQLModel, table=True):
    __tablename__ = "recycling_categories"

    code: str = Field(primary_key=True)
    name: str
    name_zh: str


class LevelThreshold(SQLModel, table=True):
    """Citizen levels by lifetime carbon saved."""

    __tablename__ = "levels"

    level: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str
    name_zh: str
    min_carbon_g: int = Field(sa_column=Column(BigInteger, nullable=False))
