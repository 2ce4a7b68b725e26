"""Turning validated partner bodies into the pipeline's reports: one place, so a trip posted
alone, in a batch or in an import is the same request (the same idempotency hash)."""

from domain.activities import Trip
from service.api.schemas import TravelIn
from service.directory import PartnerFacts
from service.idempotency import request_hash
from service.usecases.award_pipeline import Report


def travel_report(item: TravelIn, partner: PartnerFacts) -> Report:
    return Report(
        activity=Trip(mode=item.mode, distance_m=item.distance_m, started_at=item.started_at, ended_at=item.ended_at),
        region=partner.region,
        measurements={"mode": item.mode, "distance_m": item.distance_m, "ended_at": item.ended_at.isoformat()},
        partner_id=partner.id,
        external_id=item.external_id,
        request_hash=request_hash("POST", "travel", item.model_dump(mode="json")),
        fingerprint=item.fingerprint,
        user_id=item.user.user_id,
        member_ref=item.user.member_ref,
    )
