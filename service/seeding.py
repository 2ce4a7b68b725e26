"""Loading seeds/ into the database, idempotently and deterministically.

Reference data (regions, methodologies, recycling categories, levels, the
system accounts) is apart from demo data (`tanpu seed --demo`).
"""

import json
import logging
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain import campaigns
from domain.ledger import ADJUSTMENT_ACCOUNT, EXPIRY_ACCOUNT, REDEMPTION_ACCOUNT, issuance_account, system_account_kind
from service.repositories import campaigns as campaign_shards
from service.schema import REPO_ROOT

log = logging.getLogger(__name__)


def seeds_dir() -> Path:
    return Path(os.environ.get("TANPU_SEEDS_DIR", REPO_ROOT / "seeds"))


def _read(name: str) -> Any:
    return json.loads((seeds_dir() / name).read_text(encoding="utf-8"))


async def load_reference(session: AsyncSession) -> None:
    for region in _read("regions.json"):
        await session.execute(
            text(
                "INSERT INTO regions (code, name, name_zh) VALUES (:code, :name, :name_zh) "
                "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, name_zh = EXCLUDED.name_zh"
            ),
            region,
        )
    for category in _read("recycling_categories.json"):
        await session.execute(
            text(
                "INSERT INTO recycling_categories (code, name, name_zh) VALUES (:code, :name, :name_zh) "
                "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, name_zh = EXCLUDED.name_zh"
            ),
            category,
        )
    for level in _read("levels.json"):
        await session.execute(
            text(
                "INSERT INTO levels (level, name, name_zh, min_carbon_g) VALUES (:level, :name, :name_zh, :min_carbon_g) "
                "ON CONFLICT (level) DO UPDATE SET name = EXCLUDED.name, name_zh = EXCLUDED.name_zh, "
                "min_carbon_g = EXCLUDED.min_carbon_g"
            ),
            level,
        )
    scenarios: set[str] = set()
    for path in sorted((seeds_dir() / "methodologies").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        scenarios.update(doc["factors"])
        await insert_methodology(session, doc)
    codes = [ADJUSTMENT_ACCOUNT, REDEMPTION_ACCOUNT, EXPIRY_ACCOUNT, *(issuance_account(s) for s in sorted(scenarios))]
    await session.execute(
        text(
            "INSERT INTO system_accounts (code, kind) SELECT * FROM unnest(CAST(:codes AS text[]), CAST(:kinds AS text[])) "
            "ON CONFLICT DO NOTHING"
        ),
        {"codes": codes, "kinds": [str(system_account_kind(c)) for c in codes]},
    )
    await load_campaigns(session, known_regions=[r["code"] for r in _read("regions.json")], known_scenarios=sorted(scenarios))


CAMPAIGN_IDS = uuid.UUID("6f1c7d4e-2b1a-5c3e-9d8f-7a6b5c4d3e2f")


async def load_campaigns(session: AsyncSession, *, known_regions: list[str], known_scenarios: list[str]) -> None:
    """Seeded campaigns (the Huangpu green consumption seasons), by code; once stored they are
    the administrators' to change, so a seed never overwrites one."""
    for doc in _read("campaigns.json"):
        campaign_id = uuid.uuid5(CAMPAIGN_IDS, doc["code"])
        rule = doc["rule"]
        fields = {
            "id": campaign_id,
            "code": doc["code"],
            "name": doc["name"],
            "regions": doc["regions"],
            "scenarios": doc["scenarios"],
            "starts_at": datetime.fromisoformat(doc["starts_at"]),
            "ends_at": datetime.fromisoformat(doc["ends_at"]),
            "multiplier": rule.get("multiplier"),
            "bonus": rule.get("bonus"),
            "per_citizen_cap": doc.get("per_citizen_cap"),
            "budget": doc.get("budget"),
            "stacking": doc["stacking"],
            "status": doc.get("status", "draft"),
        }
        campaigns.validate(campaign_shards.campaign_of(fields), known_regions=known_regions, known_scenarios=known_scenarios)
        inserted = await session.execute(
            text(
                "INSERT INTO campaigns (id, code, name, regions, scenarios, starts_at, ends_at, multiplier, bonus, "
                "per_citizen_cap, budget, stacking, status) VALUES (:id, :code, :name, :regions, :scenarios, :starts_at, "
                ":ends_at, :multiplier, :bonus, :per_citizen_cap, :budget, :stacking, :status) "
                "ON CONFLICT DO NOTHING RETURNING id"
            ),
            fields,
        )
        if inserted.first() is not None:
            await campaign_shards.create_shards(session, campaign_id, doc.get("budget"))


async def insert_methodology(session: AsyncSession, doc: dict[str, Any]) -> bool:
    """A methodology version never changes once stored (past awards name it); True if inserted."""
    document = {k: doc[k] for k in ("factors", "bounds", "caps")}
    inserted = await session.execute(
        text(
            "INSERT INTO methodologies (id, region, effective_from, rate_points_per_g, document) "
            "VALUES (:id, :region, :effective_from, :rate, CAST(:document AS jsonb)) "
            "ON CONFLICT (id) DO NOTHING RETURNING id"
        ),
        {
            "id": doc["id"],
            "region": doc["region"],
            "effective_from": datetime.fromisoformat(doc["effective_from"]),
            "rate": str(doc["rate_points_per_g"]),
            "document": json.dumps(document, ensure_ascii=False),
        },
    )
    return inserted.first() is not None
