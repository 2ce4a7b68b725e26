"""Administration of the green-product catalogue and of merchants' stores: what purchases are judged by."""

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StrictBool, StrictInt, model_validator

from service.api.fields import Day
from service.api.schemas import Strict
from service.auth.deps import AnyAdmin, OperatorOrAdmin
from service.deps import SessionDep
from service.pagination import CursorQuery, LimitQuery, capped, decode_key_cursor, encode_key_cursor
from service.problems import problem_responses
from service.repositories import catalogue as catalogue_repo
from service.repositories.catalogue import Certification, Product, Store
from service.usecases import catalogue

router = APIRouter(prefix="/v1/admin", tags=["admin"])

# One unit of the greenest appliance saves at most some hundreds of kg a year; a tonne per unit is a typo.
MAX_CARBON_G_PER_UNIT = 1_000_000

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$", description="The merchant's sku")]


def _plain_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no name needs a control character: refuse them here, not with a 500.
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters")
    return value


PlainText = Annotated[str, AfterValidator(_plain_text)]
Name = Annotated[PlainText, Field(min_length=1, max_length=200)]
RegionCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")]
Category = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[a-z][a-z0-9_-]*$",
        description="A short slug (`lighting`, `appliances`, `refill`): campaigns may filter on it",
    ),
]
CarbonPerUnit = Annotated[
    StrictInt, Field(ge=1, le=MAX_CARBON_G_PER_UNIT, description="Grams CO2e one unit saves, as its certificate states")
]


def _iso_date_text(value: object) -> object:
    # JSON has no dates: a number would be read as a Unix time, which no certificate states.
    if not isinstance(value, str | date):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]


class CertificationIn(Strict):
    scheme: PlainText = Field(min_length=1, max_length=100, description="e.g. China Green Product Certification")
    number: PlainText = Field(min_length=1, max_length=100)
    valid_until: IsoDate = Field(description="The last day a purchase earns by this certificate (Asia/Shanghai)")


class CertificationOut(BaseModel):
    scheme: str
    number: str
    valid_until: Day


class ProductIn(Strict):
    merchant_id: uuid.UUID
    sku: Sku
    name: Name
    category: Category
    carbon_g_per_unit: CarbonPerUnit
    certification: CertificationIn


class ProductPatch(Strict):
    """Only the fields given change; the merchant and the sku never do (create another product)."""

    name: Name | None = None
    category: Category | None = None
    carbon_g_per_unit: CarbonPerUnit | None = None
    certification: CertificationIn | None = Field(default=None, description="Replaced as a whole")
    active: StrictBool | None = None

    @model_validator(mode="after")
    def _something_and_no_nulls(self) -> "ProductPatch":
        if not self.model_fields_set:
            raise ValueError("give at least one of name, category, carbon_g_per_unit, certification, active")
        nulls = sorted(f for f in self.model_fields_set if getattr(self, f) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        return self

    def columns(self) -> dict[str, Any]:
        changes: dict[str, Any] = {f: getattr(self, f) for f in self.model_fields_set if f != "certification"}
        if self.certification is not None:
            changes |= {
                "cert_scheme": self.certification.scheme,
                "cert_number": self.certification.number,
                "cert_valid_until": self.certification.valid_until,
            }
        return changes


class ProductOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    sku: str
    name: str
    category: str
    carbon_g_per_unit: int
    certification: CertificationOut
    active: bool
    created_at: datetime
    updated_at: datetime


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None


class StoreIn(Strict):
    merchant_id: uuid.UUID
    name: Name
    region: RegionCode


class StoreOut(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str
    region: str
    active: bool
    created_at: datetime


class StorePage(BaseModel):
    items: list[StoreOut]
    next_cursor: str | None


def _product_out(product: Product) -> ProductOut:
    return ProductOut.model_validate(product.document())


def _store_out(store: Store) -> StoreOut:
    return StoreOut.model_validate(store.document())


@router.post(
    "/products",
    operation_id="create_product",
    status_code=201,
    response_model=ProductOut,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_product(body: ProductIn, session: SessionDep, admin: OperatorOrAdmin) -> ProductOut:
    """A merchant's certified green product; purchases of its sku earn `carbon_g_per_unit` per unit
    while the certificate is valid. One product per (merchant, sku): 409 `product_exists`."""
    product, _ = await catalogue.create_product(
        session,
        merchant_id=body.merchant_id,
        sku=body.sku,
        name=body.name,
        category=body.category,
        carbon_g_per_unit=body.carbon_g_per_unit,
        certification=Certification(body.certification.scheme, body.certification.number, body.certification.valid_until),
        actor_id=admin.admin_id,
    )
    return _product_out(product)


@router.patch(
    "/products/{product_id}",
    operation_id="update_product",
    response_model=ProductOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_product(product_id: uuid.UUID, body: ProductPatch, session: SessionDep, admin: OperatorOrAdmin) -> ProductOut:
    """Change a product's name, category, carbon per unit, certification or `active` (an inactive
    product earns nothing). Purchases already awarded keep what they were awarded."""
    product = await catalogue.update_product(session, product_id, body.columns(), actor_id=admin.admin_id)
    return _product_out(product)


@router.get("/products", operation_id="list_products", response_model=ProductPage, responses=problem_responses(401, 403, 422))
async def list_products(
    session: SessionDep,
    admin: AnyAdmin,
    merchant_id: uuid.UUID | None = None,
    sku: str | None = Query(default=None, max_length=64, pattern=r"^[\x21-\x7e]+$"),
    active: bool | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> ProductPage:
    """The catalogue, oldest first, optionally of one merchant, one sku, active or not; cursor-paginated."""
    page_size = capped(limit)
    rows = await catalogue_repo.list_products(
        session, merchant_id=merchant_id, sku=sku, active=active, after=decode_key_cursor(cursor), limit=page_size + 1
    )
    more, rows = len(rows) > page_size, rows[:page_size]
    return ProductPage(
        items=[_product_out(p) for p in rows], next_cursor=encode_key_cursor(*rows[-1].key) if more and rows else None
    )


@router.post(
    "/stores", operation_id="create_store", status_code=201, response_model=StoreOut, responses=problem_responses(401, 403, 422)
)
async def create_store(body: StoreIn, session: SessionDep, admin: OperatorOrAdmin) -> StoreOut:
    """A merchant's store, in a region; purchases name it as `store_id`, and campaigns match its region."""
    store, _ = await catalogue.create_store(
        session, merchant_id=body.merchant_id, name=body.name, region=body.region, actor_id=admin.admin_id
    )
    return _store_out(store)


@router.get("/stores", operation_id="list_stores", response_model=StorePage, responses=problem_responses(401, 403, 422))
async def list_stores(
    session: SessionDep,
    admin: AnyAdmin,
    merchant_id: uuid.UUID | None = None,
    region: str | None = Query(default=None, max_length=64, pattern=r"^[a-z0-9_-]+$"),
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> StorePage:
    """Stores, oldest first, optionally of one merchant or region; cursor-paginated."""
    page_size = capped(limit)
    rows = await catalogue_repo.list_stores(
        session, merchant_id=merchant_id, region=region, after=decode_key_cursor(cursor), limit=page_size + 1
    )
    more, rows = len(rows) > page_size, rows[:page_size]
    return StorePage(items=[_store_out(s) for s in rows], next_cursor=encode_key_cursor(*rows[-1].key) if more and rows else None)
