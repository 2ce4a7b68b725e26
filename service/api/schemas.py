"""Request and response bodies shared by the partner and citizen activity routes."""

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from service.api.fields import PRINTABLE, Instant, PrintableId

ExternalId = Field(
    min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$", description="The partner's own id, unique per partner"
)
FingerprintField = Field(
    default=None,
    min_length=8,
    max_length=128,
    pattern=PRINTABLE,
    description="An id of the underlying real-world act, the same whoever reports it (no double counting)",
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserRef(Strict):
    """The citizen: the platform user id, or a member reference the citizen bound for this partner."""

    user_id: uuid.UUID | None = None
    member_ref: PrintableId | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "UserRef":
        if (self.user_id is None) == (self.member_ref is None):
            raise ValueError("give exactly one of user_id and member_ref")
        return self


class TravelIn(Strict):
    external_id: str = ExternalId
    user: UserRef
    mode: Literal["metro", "bus", "bike"]
    distance_m: StrictInt = Field(ge=1, le=10_000_000, description="Metres travelled")
    started_at: Instant
    ended_at: Instant
    fingerprint: str | None = FingerprintField

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> "TravelIn":
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class TravelBatchIn(BaseModel):
    items: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=1000,
        description="Up to 1,000 trips, each shaped like the body of POST /v1/activities/travel and judged on its own",
    )


class RecyclingItemIn(Strict):
    category: str = Field(min_length=1, max_length=64)
    weight_g: StrictInt = Field(ge=1, le=10_000_000)


class RecyclingIn(Strict):
    external_id: str = ExternalId
    station_id: uuid.UUID
    user: UserRef
    items: list[RecyclingItemIn] = Field(min_length=1, max_length=50)
    occurred_at: Instant
    fingerprint: str | None = FingerprintField


class ActivityOut(BaseModel):
    activity_id: uuid.UUID
    status: Literal["awarded", "capped", "rejected", "duplicate"]
    scenario: str
    carbon_g: int
    points: int
    bonus_points: int
    breakdown: dict[str, Any]
    reason: str | None = None


class BatchResultOut(BaseModel):
    index: int
    status_code: int
    replayed: bool = False
    activity: ActivityOut | None = None
    problem: dict[str, Any] | None = None


class BatchOut(BaseModel):
    results: list[BatchResultOut]
    awarded: int
    failed: int
