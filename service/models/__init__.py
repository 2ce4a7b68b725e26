"""SQLModel tables. Importing this package registers every table on `SQLModel.metadata`."""

from service.models.base import metadata
from service.models.identity import Admin, OtpCode, Partner, RefreshToken, User
from service.models.ledger import CitizenAccount, Entry, Posting, SystemAccount
from service.models.operations import AuditRecord, IdempotencyRecord
from service.models.reference import LevelThreshold, Methodology, RecyclingCategory, Region

__all__ = [
    "Admin",
    "AuditRecord",
    "CitizenAccount",
    "Entry",
    "IdempotencyRecord",
    "LevelThreshold",
    "Methodology",
    "OtpCode",
    "Partner",
    "Posting",
    "RecyclingCategory",
    "RefreshToken",
    "Region",
    "SystemAccount",
    "User",
    "metadata",
]
