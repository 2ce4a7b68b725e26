"""The green-product catalogue and merchants' stores, as stored.

Lists are oldest first and paged by (created_at, id): a new row lands after
every page already read, so paging never skips or repeats one.
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

Key = tuple[datetime, uuid.UUID]


@dataclass(frozen=True)
class Certification:
    scheme: str
    number: str
    valid_until: date


@dataclass(frozen=True)
class Product:
    id: uuid.UUID
    merchant_id: uuid.UUID
    sku: str
    name: str
    category: str
    carbon_g_per_unit: int
    certification: Certification
    active: bool
    created_at: datetime
    updated_at: datetime

    @property
    def key(self) -> Key:
        return self.created_at, self.id

    def patchable(self) -> dict[str, Any]:
        """The values of the columns PATCH may change, by column."""
        return {
            "name": self.name,
            "category": self.category,
            "carbon_g_per_unit": self.carbon_g_per_unit,
            "cert_scheme": self.certification.scheme,
            "cert_number": self.certification.number,
            "cert_valid_until": self.certification.valid_until,
            "active": self.active,
        }

    def document(self) -> dict[str, Any]:
        """The product as the API shows it and the audit log keeps it (JSON-ready)."""
        return {
            "id": str(self.id),
            "merchant_id": str(self.merchant_id),
            "sku": self.sku,
            "name": self.name,
            "category": self.category,
            "carbon_g_per_unit": self.carbon_g_per_unit,
            "certification": {
                "scheme": self.certification.scheme,
                "number": self.certification.number,
                "valid_until": self.certification.valid_until.isoformat(),
            },
            "active": self.active,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class Store:
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    region: str
    active: bool
    created_at: datetime

    @property
    def key(self) -> Key:
        return self.created_at, self.id

    def document(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "merchant_id": str(self.merchant_id),
            "name": self.name,
            "region": self.region,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
        }


_PRODUCT_COLUMNS = (
    "id, merchant_id, sku, name, category, carbon_g_per_unit, cert_scheme, cert_number, cert_valid_until, "
    "active, created_at, updated_at"
)
_STORE_COLUMNS = "id, merchant_id, name, region, active, created_at"

# What PATCH may change, by column: never the merchant or the sku (a purchase names a product by them).
PRODUCT_PATCHABLE = frozenset(
    {"name", "category", "carbon_g_per_unit", "cert_scheme", "cert_number", "cert_valid_until", "active"}
)


def _product(row: Any) -> Product:
    return Product(
        id=row.id,
        merchant_id=row.merchant_id,
        sku=row.sku,
        name=row.name,
        category=row.category,
        carbon_g_per_unit=row.carbon_g_per_unit,
        certification=Certification(row.cert_scheme, row.cert_number, row.cert_valid_until),
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _store(row: Any) -> Store:
    return Store(
        id=row.id, merchant_id=row.merchant_id, name=row.name, region=row.region, active=row.active, created_at=row.created_at
    )


async def active_partner_kind(session: AsyncSession, partner_id: uuid.UUID) -> str | None:
    kind = await session.scalar(text("SELECT kind FROM partners WHERE id = :p AND disabled_at IS NULL"), {"p": partner_id})
    return None if kind is None else str(kind)


async def region_exists(session: AsyncSession, region: str) -> bool:
    return await session.scalar(text("SELECT 1 FROM regions WHERE code = :r"), {"r": region}) is not None


async def insert_product(
    session: AsyncSession,
    *,
    product_id: uuid.UUID,
    merchant_id: uuid.UUID,
    sku: str,
    name: str,
    category: str,
    carbon_g_per_unit: int,
    certification: Certification,
) -> Product | None:
    """The new product, or None when its id or its (merchant, sku) is taken (nothing is changed then)."""
    row = (
        await session.execute(
            text(
                "INSERT INTO green_products "  # noqa: S608
                "(id, merchant_id, sku, name, category, carbon_g_per_unit, cert_scheme, cert_number, cert_valid_until) "
                "VALUES (:id, :m, :sku, :name, :category, :carbon, :scheme, :number, :valid_until) "
                f"ON CONFLICT DO NOTHING RETURNING {_PRODUCT_COLUMNS}"
            ),
            {
                "id": product_id,
                "m": merchant_id,
                "sku": sku,
                "name": name,
                "category": category,
                "carbon": carbon_g_per_unit,
                "scheme": certification.scheme,
                "number": certification.number,
                "valid_until": certification.valid_until,
            },
        )
    ).first()
    return None if row is None else _product(row)


async def product_for_update(session: AsyncSession, product_id: uuid.UUID) -> Product | None:
    """The product, locked until the transaction ends, so the audit's `before` is what the update replaced."""
    row = (
        await session.execute(
            text(f"SELECT {_PRODUCT_COLUMNS} FROM green_products WHERE id = :id FOR UPDATE"),  # noqa: S608
            {"id": product_id},
        )
    ).first()
    return None if row is None else _product(row)


async def update_product(session: AsyncSession, product_id: uuid.UUID, changes: dict[str, Any]) -> Product:
    unknown = set(changes) - PRODUCT_PATCHABLE
    if unknown or not changes:
        raise ValueError(f"not columns a product update may change: {sorted(unknown) or 'none given'}")
    assignments = ", ".join(f"{column} = :{column}" for column in sorted(changes))
    row = (
        await session.execute(
            text(
                f"UPDATE green_products SET {assignments}, updated_at = now() "  # noqa: S608
                f"WHERE id = :id RETURNING {_PRODUCT_COLUMNS}"
            ),
            {"id": product_id, **changes},
        )
    ).one()
    return _product(row)


def _where(columns: list[str], after: Key | None) -> str:
    """Equality on each filtered column (named like its parameter) and, past the first page, after the cursor's key."""
    conditions = [f"{column} = :{column}" for column in columns]
    if after is not None:
        conditions.append("(created_at, id) > (:after_at, :after_id)")
    return ("WHERE " + " AND ".join(conditions) + " ") if conditions else ""


async def list_products(
    session: AsyncSession,
    *,
    merchant_id: uuid.UUID | None,
    sku: str | None,
    active: bool | None,
    after: Key | None,
    limit: int,
) -> list[Product]:
    params: dict[str, Any] = {
        k: v for k, v in {"merchant_id": merchant_id, "sku": sku, "active": active}.items() if v is not None
    }
    where = _where(list(params), after)
    if after is not None:
        params |= {"after_at": after[0], "after_id": after[1]}
    rows = await session.execute(
        text(f"SELECT {_PRODUCT_COLUMNS} FROM green_products {where}ORDER BY created_at, id LIMIT :limit"),  # noqa: S608
        params | {"limit": limit},
    )
    return [_product(r) for r in rows]


async def insert_store(
    session: AsyncSession, *, store_id: uuid.UUID, merchant_id: uuid.UUID, name: str, region: str
) -> Store | None:
    """The new store, or None when its id is taken (the demo seed's fixed ids)."""
    row = (
        await session.execute(
            text(
                "INSERT INTO stores (id, merchant_id, name, region) VALUES (:id, :m, :n, :r) "  # noqa: S608
                f"ON CONFLICT (id) DO NOTHING RETURNING {_STORE_COLUMNS}"
            ),
            {"id": store_id, "m": merchant_id, "n": name, "r": region},
        )
    ).first()
    return None if row is None else _store(row)


async def store(session: AsyncSession, store_id: uuid.UUID) -> Store | None:
    row = (
        await session.execute(text(f"SELECT {_STORE_COLUMNS} FROM stores WHERE id = :id"), {"id": store_id})  # noqa: S608
    ).first()
    return None if row is None else _store(row)


async def list_stores(
    session: AsyncSession, *, merchant_id: uuid.UUID | None, region: str | None, after: Key | None, limit: int
) -> list[Store]:
    params: dict[str, Any] = {k: v for k, v in {"merchant_id": merchant_id, "region": region}.items() if v is not None}
    where = _where(list(params), after)
    if after is not None:
        params |= {"after_at": after[0], "after_id": after[1]}
    rows = await session.execute(
        text(f"SELECT {_STORE_COLUMNS} FROM stores {where}ORDER BY created_at, id LIMIT :limit"),  # noqa: S608
        params | {"limit": limit},
    )
    return [_store(r) for r in rows]
