"""SQLModel tables. Importing this package registers every table on `SQLModel.metadata`."""

from service.models.activities import (
    Activity,
    ActivityKey,
    DailySteps,
    DailyUsage,
    ExpiryLot,
    Fingerprint,
    Identity_,
    ImportChunk,
    Station,
    TravelImport,
)
from service.models.banks import BankConsent, BankEvent, BankLink, BankLinkCode, WebhookDelivery
from service.models.base import metadata
from service.models.campaigns import Campaign, CampaignBudgetShard, CampaignCitizenSpend
from service.models.commerce import GreenProduct, Refund, RefundLine, Store
from service.models.identity import Admin, OtpCode, Partner, RefreshToken, User
from service.models.ledger import CitizenAccount, Entry, Posting, SystemAccount
from service.models.operations import AuditRecord, IdempotencyRecord
from service.models.reference import LevelThreshold, Methodology, RecyclingCategory, Region
from service.models.rewards import LotMove, Redemption, Reward, RewardCode

__all__ = [
    "Activity",
    "ActivityKey",
    "Admin",
    "AuditRecord",
    "BankConsent",
    "BankEvent",
    "BankLink",
    "BankLinkCode",
    "Campaign",
    "CampaignBudgetShard",
    "CampaignCitizenSpend",
    "CitizenAccount",
    "DailySteps",
    "DailyUsage",
    "Entry",
    "ExpiryLot",
    "Fingerprint",
    "GreenProduct",
    "IdempotencyRecord",
    "Identity_",
    "ImportChunk",
    "LevelThreshold",
    "LotMove",
    "Methodology",
    "OtpCode",
    "Partner",
    "Posting",
    "RecyclingCategory",
    "Redemption",
    "RefreshToken",
    "Refund",
    "RefundLine",
    "Region",
    "Reward",
    "RewardCode",
    "Station",
    "Store",
    "SystemAccount",
    "TravelImport",
    "User",
    "WebhookDelivery",
    "metadata",
]
