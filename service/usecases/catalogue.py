"""Administration of the green-product catalogue and of merchants' stores, audited.

The API and the demo seed go through these; a seed passes its fixed ids and no actor
(the audit then names the `system`), and finds its rows already there on a second run.
"""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service import audit
from service.problems import ProblemError
from service.repositories import catalogue as catalogue_repo
from service.repositories.catalogue import Certification, Product, Store


async def _check_merchant(session: AsyncSession, merchant_id: uuid.UUID) -> None:
    if await catalogue_repo.active_partner_kind(session, merchant_id) != "merchant":
        raise ProblemError(422, "unknown_partner", f"no active merchant partner {merchant_id}")


async def _audit(
    session: AsyncSession,
    actor_id: uuid.UUID | None,
    action: str,
    target: Product | Store,
    *,
    before: dict[str, Any] | None = None,
) -> None:
    await audit.record(
        session,
        actor_kind="system" if actor_id is None else "admin",
        actor_id=actor_id,
        action=action,
        target_kind=action.split(".")[0],
        target_id=str(target.id),
        before=before,
        after=target.document(),
    )


async def create_product(
    session: AsyncSession,
    *,
    merchant_id: uuid.UUID,
    sku: str,
    name: str,
    category: str,
    carbon_g_per_unit: int,
    certification: Certification,
    actor_id: uuid.UUID | None,
    product_id: uuid.UUID | None = None,
) -> tuple[Product, bool]:
    """The product and whether it was created now. A (merchant, sku) already in the catalogue is a 409;
    a given `product_id` already there is returned as it is (created False)."""
    await _check_merchant(session, merchant_id)
    product = await catalogue_repo.insert_product(
        session,
        product_id=product_id or uuid.uuid4(),
        merchant_id=merchant_id,
        sku=sku,
        name=name.strip(),
        category=category,
        carbon_g_per_unit=carbon_g_per_unit,
        certification=certification,
    )
    if product is None:
        existing = None if product_id is None else await catalogue_repo.product_for_update(session, product_id)
        if existing is not None and (existing.merchant_id, existing.sku) == (merchant_id, sku):
            return existing, False
        raise ProblemError(
            409, "product_exists", f"merchant {merchant_id} already has sku {sku!r}: change it with PATCH", title="Conflict"
        )
    await _audit(session, actor_id, "product.create", product)
    return product, True


async def update_product(
    session: AsyncSession, product_id: uuid.UUID, changes: dict[str, Any], *, actor_id: uuid.UUID
) -> Product:
    """Change the patchable columns given (by column name). Values equal to the stored ones are no
    change: when nothing changes, nothing is written, not even `updated_at` or an audit record."""
    before = await catalogue_repo.product_for_update(session, product_id)
    if before is None:
        raise ProblemError(404, "not_found", f"no green product {product_id}")
    current = before.patchable()
    effective = {column: value for column, value in changes.items() if current[column] != value}
    if not effective:
        return before
    after = await catalogue_repo.update_product(session, product_id, effective)
    await _audit(session, actor_id, "product.update", after, before=before.document())
    return after


async def create_store(
    session: AsyncSession,
    *,
    merchant_id: uuid.UUID,
    name: str,
    region: str,
    actor_id: uuid.UUID | None,
    store_id: uuid.UUID | None = None,
) -> tuple[Store, bool]:
    """The store and whether it was created now (a seed's fixed `store_id` already there: created False)."""
    await _check_merchant(session, merchant_id)
    if not await catalogue_repo.region_exists(session, region):
        raise ProblemError(422, "unknown_region", f"unknown region {region!r}")
    store_id = store_id or uuid.uuid4()
    store = await catalogue_repo.insert_store(
        session, store_id=store_id, merchant_id=merchant_id, name=name.strip(), region=region
    )
    if store is None:
        existing = await catalogue_repo.store(session, store_id)
        assert existing is not None  # the insert only does nothing when the id is taken
        return existing, False
    await _audit(session, actor_id, "store.create", store)
    return store, True
