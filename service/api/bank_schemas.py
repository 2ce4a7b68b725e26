"""Request and response bodies of the bank's endpoints (service/api/bank.py)."""

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt

from domain.methodology import BANK_BEHAVIOURS
from service.api.fields import Instant
from service.api.me import LevelOut
from service.api.schemas import ExternalId, FingerprintField, Strict

Behaviour = Literal["e_statement", "online_banking", "green_loan_repayment", "green_card_spend"]
assert set(Behaviour.__args__) == set(BANK_BEHAVIOURS)  # type: ignore[attr-defined]


class LinkIn(Strict):
    link_code: str = Field(min_length=8, max_length=64)
    customer_ref: str = Field(
        min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$", description="The bank's own reference for this customer"
    )


class LinkOut(BaseModel):
    link_id: uuid.UUID
    scopes: list[str]
    customer_ref: str
    created_at: dt.datetime


class BankAccountOut(BaseModel):
    link_id: uuid.UUID
    customer_ref: str
    carbon_g_total: int
    carbon_g_by_scenario: dict[str, int]
    balance: int
    lifetime_earned: int
    level: LevelOut | None
    as_of: dt.datetime


class ChangeOut(BaseModel):
    seq: int
    event_id: int
    link_id: uuid.UUID
    customer_ref: str
    kind: str = Field(description="A ledger entry kind (award, bonus, reversal, redemption_hold, ..., expiry) or revocation")
    points: int
    carbon_g: int
    scenario: str | None
    posting_id: int | None
    activity_id: uuid.UUID | None
    occurred_at: dt.datetime


class ChangesPage(BaseModel):
    items: list[ChangeOut]
    next_cursor: str = Field(description="Where to resume: pass it back as `cursor` (also when no items came)")
    has_more: bool


class BankActivityIn(Strict):
    external_id: str = ExternalId
    link_id: uuid.UUID
    behaviour: Behaviour
    quantity: StrictInt = Field(ge=1, le=1_000_000, description="Units of the behaviour (statements, transactions, yuan...)")
    occurred_at: Instant
    fingerprint: str | None = FingerprintField


class KindTotalIn(Strict):
    count: StrictInt = Field(ge=0, le=100_000_000)
    points: StrictInt = Field(ge=-(10**15), le=10**15)
    carbon_g: StrictInt = Field(ge=-(10**15), le=10**15)


class KindTotalOut(BaseModel):
    count: int
    points: int
    carbon_g: int


class StatementEntryOut(BaseModel):
    posting_id: int
    link_id: uuid.UUID
    kind: str
    points: int
    carbon_g: int
    posted_at: dt.datetime


class StatementOut(BaseModel):
    date: dt.date
    timezone: str
    from_: dt.datetime = Field(alias="from")
    to: dt.datetime
    complete: bool
    count: int
    points: int
    carbon_g: int
    by_kind: dict[str, KindTotalOut]
    digest: str
    digest_algorithm: str
    entries: list[StatementEntryOut]


class ReconcileIn(Strict):
    count: StrictInt = Field(ge=0, le=100_000_000)
    points: StrictInt | None = Field(default=None, ge=-(10**15), le=10**15)
    carbon_g: StrictInt | None = Field(default=None, ge=-(10**15), le=10**15)
    by_kind: dict[str, KindTotalIn] | None = Field(default=None, max_length=20)
    digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    posting_ids: list[StrictInt] | None = Field(default=None, max_length=200_000)


class DifferenceOut(BaseModel):
    field: str
    ours: Any
    theirs: Any


class ReconciliationOut(BaseModel):
    date: dt.date
    agrees: bool
    differences: list[DifferenceOut]
    missing_at_bank: list[int]
    unknown_to_tanpu: list[int]
    ours: dict[str, Any]
