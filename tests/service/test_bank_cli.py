"""The bank commands: `tanpu partners create --kind bank --webhook-url`, `tanpu webhooks dispatch --once`."""

import json
import uuid

from httpx import AsyncClient

from service.auth.tokens import Audience
from tests.bank_helpers import Bank, bank_endpoint, link
from tests.factories import Actor, Factory
from tests.service.cli_helpers import run_tanpu
from tests.service.test_travel import trip


def _env(database_url: str, **extra: str) -> dict[str, str | None]:
    return {"DATABASE_URL": database_url, "TANPU_ENV": "development", **extra}


async def test_a_bank_created_on_the_command_line_gets_its_webhooks_from_the_standalone_dispatcher(
    database_url: str, client: AsyncClient, factory: Factory
) -> None:
    async with bank_endpoint() as endpoint:
        done = await run_tanpu(
            "partners", "create", "--kind", "bank", "--name", "CLI Bank", "--region", "huangpu", "--webhook-url", endpoint.url,
            env=_env(database_url),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        shown = json.loads(done.stdout)
        assert shown["scopes"] == ["bank"] and shown["webhook_secret"].startswith("whsec_")
        endpoint.secret = shown["webhook_secret"]
        partner_id = uuid.UUID(shown["partner_id"])
        bank = Bank(Actor(partner_id, factory.token(partner_id, Audience.PARTNER, ["bank"])), endpoint.secret)
        citizen, metro = await factory.citizen(), await factory.partner("transit")
        await link(client, citizen, bank)
        assert (await client.post("/v1/activities/travel", json=trip(citizen), headers=metro.headers)).status_code == 201
        done = await run_tanpu("webhooks", "dispatch", "--once", env=_env(database_url))
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1])["attempted"] >= 1
    assert [(e["kind"], e["points"]) for e in endpoint.accepted] == [("award", 468)]
    assert endpoint.bad_signatures == 0


async def test_an_unsafe_webhook_url_is_refused_on_the_command_line(database_url: str) -> None:
    done = await run_tanpu(
        "partners", "create", "--kind", "bank", "--name", "B", "--region", "huangpu", "--webhook-url", "http://127.0.0.1/x",
        env=_env(database_url, TANPU_WEBHOOK_ALLOW_INSECURE="false"),
    )  # fmt: skip
    assert done.returncode == 1
    assert "webhook_url refused" in done.stderr and "Traceback" not in done.stderr


def test_insecure_webhook_targets_are_for_development_only() -> None:
    import pytest

    from service.settings import InsecureConfiguration, Settings

    production = {
        "TANPU_ENV": "production",
        "TANPU_JWT_SECRET": "s" * 40,
        "DATABASE_URL": "postgresql://db/x",
        "REDIS_URL": "redis://r",
    }
    assert Settings(**production).webhooks_insecure_ok is False  # type: ignore[arg-type]
    assert Settings(TANPU_ENV="development").webhooks_insecure_ok is True  # type: ignore[call-arg]
    with pytest.raises(InsecureConfiguration, match="TANPU_WEBHOOK_ALLOW_INSECURE"):
        Settings(**production, TANPU_WEBHOOK_ALLOW_INSECURE=True)  # type: ignore[arg-type]
