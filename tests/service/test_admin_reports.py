"""GET /v1/admin/reports/summary: figures from the ledger, by day, scenario or region, JSON or CSV.

Each test earns, spends and expires in a region of its own, so the shared database's other
entries stay out of its reports.
"""

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from domain.calendar import local_day
from service.repositories import reports as reports_repo
from service.usecases.expiry import expire_due
from tests.factories import Actor, Factory
from tests.service.rewards_helpers import give, give_at, redeem, reward
from tests.service.test_purchases import campaign, line, order, refund, shop

PATH = "/v1/admin/reports/summary"
FIGURES = ("carbon_g", "points_issued", "campaign_spend", "redeemed", "expired", "adjusted")
LAST_YEAR = datetime(2024, 6, 1, 4, tzinfo=UTC)  # noon in Shanghai; its lot expired on 2026-01-01


async def summary(client: AsyncClient, auditor: Actor, **params: Any) -> dict[str, Any]:
    r = await client.get(PATH, params=params, headers=auditor.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def figures(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(row[name] for name in FIGURES)


async def trip(client: AsyncClient, partner: Actor, citizen: Actor, metres: int) -> dict[str, Any]:
    ended = datetime.now(UTC) - timedelta(minutes=30)
    body = {
        "external_id": f"trip-{metres}-{citizen.id}",
        "user": {"user_id": str(citizen.id)},
        "mode": "metro",
        "distance_m": metres,
        "started_at": (ended - timedelta(minutes=20)).isoformat(),
        "ended_at": ended.isoformat(),
    }
    r = await client.post("/v1/activities/travel", json=body, headers=partner.headers)
    assert r.status_code == 201, r.text
    answer: dict[str, Any] = r.json()
    return answer


async def test_auditors_and_admins_read_reports_and_no_one_else(client: AsyncClient, factory: Factory) -> None:
    auditor, admin, operator = await factory.admin("auditor"), await factory.admin("admin"), await factory.admin("operator")
    params = {"from": "2026-01-01", "to": "2026-01-02"}
    for actor in (auditor, admin):
        assert (await client.get(PATH, params=params, headers=actor.headers)).status_code == 200
    r = await client.get(PATH, params=params, headers=operator.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    for headers in ((await factory.citizen()).headers, (await factory.partner()).headers, {}):
        assert (await client.get(PATH, params=params, headers=headers)).status_code == 401


async def test_a_citizens_earning_spending_and_expiry_add_up_to_the_balance(
    client: AsyncClient, factory: Factory, app: FastAPI
) -> None:
    region = await factory.region()
    auditor, admin, operator = await factory.admin("auditor"), await factory.admin(), await factory.admin("operator")
    citizen, transit = await factory.citizen(region=region), await factory.partner("transit", region=region)
    earned = await trip(client, transit, citizen, 5000)
    await give_at(app, admin, citizen, 100, LAST_YEAR)  # an adjustment of a past year, expired now
    now = datetime.now(UTC)
    assert (await expire_due(app.state.sessionmaker, as_of=now, now=now, users=[citizen.id])).points == 100
    await give(client, admin, citizen, 50)
    prize = await reward(client, operator, points=30)
    assert (await redeem(client, citizen, prize["id"])).status_code == 201

    today = local_day(now)
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    by_scenario = await summary(client, auditor, **period, region=region, group_by="scenario")
    assert (by_scenario["region"], by_scenario["group_by"]) == (region, "scenario")
    assert [(row["group"], figures(row)) for row in by_scenario["rows"]] == [
        ("travel.metro", (earned["carbon_g"], earned["points"], 0, 0, 0, 0)),
        (None, (0, 0, 0, 30, 100, 50)),  # redemption, expiry and adjustment have no scenario
    ]
    assert figures(by_scenario["totals"]) == (earned["carbon_g"], earned["points"], 0, 30, 100, 50)

    by_day = await summary(client, auditor, **period, region=region)
    assert [row["group"] for row in by_day["rows"]] == [today.isoformat()]
    assert by_day["totals"] == by_scenario["totals"]
    by_region = await summary(client, auditor, **period, region=region, group_by="region")
    assert [(row["group"], figures(row)) for row in by_region["rows"]] == [(region, figures(by_scenario["totals"]))]

    # the past year's adjustment is on its own local day, outside the period above
    then = await summary(client, auditor, **{"from": "2024-06-01", "to": "2024-06-02"}, region=region)
    assert [(row["group"], figures(row)) for row in then["rows"]] == [("2024-06-01", (0, 0, 0, 0, 0, 100))]
    # and everything together is the citizen's balance
    ever = (await summary(client, auditor, **{"from": "2024-01-01", "to": period["to"]}, region=region))["totals"]
    account = (await client.get("/v1/me/account", headers=citizen.headers)).json()
    assert ever["points_issued"] + ever["adjusted"] - ever["redeemed"] - ever["expired"] == account["balance"]
    assert ever["carbon_g"] == account["carbon_g_total"]


async def test_a_refund_counts_against_the_points_and_the_campaign_spend_it_reverses(
    client: AsyncClient, factory: Factory
) -> None:
    region = await factory.region()
    auditor, admin, citizen = await factory.admin("auditor"), await factory.admin(), await factory.citizen(region=region)
    merchant, store = await shop(factory, region=region)
    await campaign(client, admin, merchant, regions=[region])
    bought = order(citizen, store, [line("FRIDGE-A1", 3)])
    r = await client.post("/v1/purchases", json=bought, headers=merchant.headers)
    assert (r.json()["carbon_g"], r.json()["points"], r.json()["bonus_points"]) == (2400, 2400, 2400)
    r = await refund(client, merchant, bought["order_id"], [{"sku": "FRIDGE-A1", "quantity": 1}])
    assert r.status_code == 201, r.text

    today = local_day(datetime.now(UTC))
    report = await summary(
        client, auditor, **{"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}, region=region
    )
    # issued: 2,400 base + 2,400 bonus - 800 - 800 taken back; the campaign paid 2,400 - 800
    assert figures(report["totals"]) == (1600, 3200, 1600, 0, 0, 0)


async def test_csv_has_a_row_per_group_and_the_group_column_named_after_group_by(client: AsyncClient, factory: Factory) -> None:
    region = await factory.region()
    auditor, citizen = await factory.admin("auditor"), await factory.citizen(region=region)
    transit = await factory.partner("transit", region=region)
    earned = await trip(client, transit, citizen, 3000)
    today = local_day(datetime.now(UTC))
    params = {"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat(), "region": region, "group_by": "region"}
    r = await client.get(PATH, params=params, headers={**auditor.headers, "Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(r.text))) == [
        ["region", *FIGURES],
        [region, str(earned["carbon_g"]), str(earned["points"]), "0", "0", "0", "0"],
    ]


async def test_instants_bound_the_period_exactly_and_bad_parameters_are_refused(client: AsyncClient, factory: Factory) -> None:
    region = await factory.region()
    auditor, citizen = await factory.admin("auditor"), await factory.citizen(region=region)
    await trip(client, await factory.partner("transit", region=region), citizen, 4000)
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    before = await summary(client, auditor, **{"from": (now - hour).isoformat(), "to": now.isoformat()}, region=region)
    after = await summary(client, auditor, **{"from": now.isoformat(), "to": (now + hour).isoformat()}, region=region)
    assert len(before["rows"]) == 1 and before["totals"]["points_issued"] > 0
    assert after["rows"] == [] and set(after["totals"].values()) == {0}
    assert set(before) == {"from", "to", "region", "group_by", "rows", "totals"}

    day = {"from": "2026-01-02", "to": "2026-01-01"}
    for params, code in (
        (day, "invalid_period"),
        ({"from": "2026-01-01", "to": "2026-01-01"}, "invalid_period"),
        ({"from": "2026-01-01", "to": "2026-01-02", "region": "atlantis"}, "unknown_region"),
        ({"from": "2026-01-01", "to": "2026-01-02", "group_by": "partner"}, "validation_error"),
        ({"from": "2026-01-01"}, "validation_error"),
        ({"from": "2026-01-01T00:00:00", "to": "2026-01-02"}, "validation_error"),  # an instant needs its offset
    ):
        r = await client.get(PATH, params=params, headers=auditor.headers)
        assert (r.status_code, r.json()["code"]) == (422, code), (params, r.text)


async def test_a_report_that_takes_too_long_is_a_503_and_the_connection_serves_on(
    client: AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    auditor = await factory.admin("auditor")
    monkeypatch.setattr(reports_repo, "REPORT_TIMEOUT_S", 1e-6)
    params = {"from": "2020-01-01", "to": "2030-01-01", "group_by": "region"}
    r = await client.get(PATH, params=params, headers=auditor.headers)
    assert (r.status_code, r.json()["code"], r.headers["retry-after"]) == (503, "report_too_slow", "60")
    monkeypatch.undo()
    for _ in range(3):  # whichever pooled connection the cancelled query was on is still good
        assert (await client.get(PATH, params=params, headers=auditor.headers)).status_code == 200
