"""Making citizens, administrators and partners (with tokens) for tests, through the real code paths."""

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.auth.passwords import hash_secret
from service.auth.tokens import Audience, issue_access_token
from service.clock import utcnow
from service.models import Admin, GreenProduct, Partner, Region, Station, Store
from service.repositories.users import get_or_create_citizen
from service.settings import Settings

PARTNER_SCOPES = {
    "transit": ["travel:write"],
    "recycling": ["recycling:write"],
    "merchant": ["purchases:write"],
    "bank": ["bank"],
}


@dataclass(frozen=True)
class Actor:
    id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def random_phone() -> str:
    return "+86138" + "".join(secrets.choice("0123456789") for _ in range(8))


class Factory:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    def token(self, subject: uuid.UUID, audience: Audience, scopes: list[str], ttl: timedelta = timedelta(minutes=15)) -> str:
        return issue_access_token(
            secret=self.settings.jwt_secret,
            issuer=self.settings.jwt_issuer,
            subject=str(subject),
            audience=audience,
            scopes=scopes,
            ttl=ttl,
            now=utcnow(),
        )

    async def citizen(self, region: str = "huangpu", phone: str | None = None) -> Actor:
        async with self.sessionmaker() as session, session.begin():
            user_id = await get_or_create_citizen(session, phone=phone or random_phone(), region=region)
        return Actor(user_id, self.token(user_id, Audience.CITIZEN, []))

    async def admin(self, role: str = "admin", password: str | None = None) -> Actor:
        admin_id = uuid.uuid4()
        async with self.sessionmaker() as session, session.begin():
            session.add(
                Admin(
                    id=admin_id,
                    username=f"admin-{admin_id.hex[:10]}",
                    password_hash=hash_secret(password or secrets.token_urlsafe(12)),
                    role=role,
                )
            )
        return Actor(admin_id, self.token(admin_id, Audience.ADMIN, [role]))

    async def partner(self, kind: str = "transit", region: str = "huangpu") -> Actor:
        partner_id = uuid.uuid4()
        async with self.sessionmaker() as session, session.begin():
            session.add(
                Partner(
                    id=partner_id,
                    kind=kind,
                    name=f"{kind} {partner_id.hex[:6]}",
                    region=region,
                    client_id=f"cl_{partner_id.hex}",
                    client_secret_hash=hash_secret(secrets.token_urlsafe(16)),
                    scopes=PARTNER_SCOPES[kind],
                )
            )
        return Actor(partner_id, self.token(partner_id, Audience.PARTNER, PARTNER_SCOPES[kind]))

    async def station(self, partner_id: uuid.UUID, region: str = "huangpu", active: bool = True) -> uuid.UUID:
        station_id = uuid.uuid4()
        async with self.sessionmaker() as session, session.begin():
            session.add(
                Station(id=station_id, partner_id=partner_id, name=f"station {station_id.hex[:6]}", region=region, active=active)
            )
        return station_id

    async def region(self) -> str:
        """A region of its own, so campaigns a test runs there pay nobody else's activities."""
        code = f"t{uuid.uuid4().hex[:12]}"
        async with self.sessionmaker() as session, session.begin():
            session.add(Region(code=code, name=f"Test {code}", name_zh="测试"))
        return code

    async def store(self, merchant_id: uuid.UUID, region: str = "huangpu", active: bool = True) -> uuid.UUID:
        store_id = uuid.uuid4()
        async with self.sessionmaker() as session, session.begin():
            session.add(
                Store(id=store_id, merchant_id=merchant_id, name=f"store {store_id.hex[:6]}", region=region, active=active)
            )
        return store_id

    async def product(
        self,
        merchant_id: uuid.UUID,
        sku: str,
        carbon_g_per_unit: int,
        *,
        category: str = "appliance",
        valid_until: date | None = None,
    ) -> None:
        """A green product; its certificate is valid for two years from today unless `valid_until` says otherwise."""
        async with self.sessionmaker() as session, session.begin():
            session.add(
                GreenProduct(
                    id=uuid.uuid4(),
                    merchant_id=merchant_id,
                    sku=sku,
                    name=f"product {sku}",
                    category=category,
                    carbon_g_per_unit=carbon_g_per_unit,
                    cert_scheme="CGP",
                    cert_number=f"CGP-{sku}",
                    cert_valid_until=valid_until or (utcnow() + timedelta(days=730)).date(),
                )
            )
