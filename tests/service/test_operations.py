"""Health, readiness, metrics, request ids and problem responses."""

import base64
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from service.problems import is_database_outage
from tests.factories import Factory
from tests.service.test_travel import trip


async def test_healthz_and_readyz(client: AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "redis": "ok"}}


async def test_every_response_carries_a_request_id_and_echoes_the_clients(client: AsyncClient) -> None:
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/healthz", headers={"X-Request-ID": "trip-42"})
    assert echoed.headers["x-request-id"] == "trip-42"
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "a b\tc" * 40})
    assert unsafe.headers["x-request-id"] != "a b\tc" * 40
    assert (await client.get("/no/such/path")).headers["x-request-id"]


async def test_metrics_count_requests_by_route_and_ledger_postings(client: AsyncClient, factory: Factory) -> None:
    admin, citizen = await factory.admin(), await factory.citizen()
    await client.post(
        "/v1/admin/adjustments",
        json={"user_id": str(citizen.id), "points": 3, "reason": "m"},
        headers={**admin.headers, "Idempotency-Key": "metrics"},
    )
    text = (await client.get("/metrics")).text
    assert 'tanpu_http_requests_total{method="POST",route="/v1/admin/adjustments",status="201"}' in text
    assert 'tanpu_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/admin/adjustments"}' in text
    assert 'tanpu_ledger_postings_total{kind="adjustment"}' in text


async def test_unknown_paths_and_methods_are_problems(client: AsyncClient) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"
    r = await client.delete("/healthz")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")


async def test_malformed_json_is_a_validation_problem(client: AsyncClient, factory: Factory) -> None:
    admin = await factory.admin()
    r = await client.post(
        "/v1/admin/adjustments",
        content=b"{not json",
        headers={**admin.headers, "Idempotency-Key": "mj", "Content-Type": "application/json"},
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")


async def test_oversized_bodies_are_refused_with_a_problem(client: AsyncClient, factory: Factory) -> None:
    partner = await factory.partner("transit")
    r = await client.post(
        "/v1/activities/travel:batch",
        content=b'{"items": [' + b'{"x": "' + b"a" * (5 * 1024 * 1024) + b'"}]}',
        headers={**partner.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


async def test_oversized_bodies_without_a_length_are_refused_while_reading(client: AsyncClient, factory: Factory) -> None:
    partner = await factory.partner("transit")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"items": [{"x": "'
        for _ in range(6):
            yield b"a" * (1024 * 1024)
        yield b'"}]}'

    r = await client.post(
        "/v1/activities/travel:batch", content=chunks(), headers={**partner.headers, "Content-Type": "application/json"}
    )
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")


async def test_text_postgresql_cannot_store_is_a_422_not_a_500(client: AsyncClient, factory: Factory) -> None:
    admin, operator = await factory.admin(), await factory.partner("recycling")
    body = {"partner_id": str(operator.id), "name": "station\u0000one", "region": "huangpu"}
    r = await client.post("/v1/admin/stations", json=body, headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_characters")


async def test_times_and_numbers_beyond_what_can_be_held_are_422_not_500(client: AsyncClient, factory: Factory) -> None:
    admin, partner, citizen = await factory.admin(), await factory.partner("transit"), await factory.citizen()
    far = {"started_at": "9999-12-31T20:00:00-10:00", "ended_at": "9999-12-31T20:30:00-10:00"}  # past year 9999 in UTC
    r = await client.post("/v1/activities/travel", json=trip(citizen) | far, headers=partner.headers)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    for params in ({"from": "0001-01-01", "to": "2026-01-01"}, {"from": "2026-01-01", "to": "9999-12-31"}):
        r = await client.get("/v1/admin/reports/summary", params=params, headers=admin.headers)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    r = await client.get("/v1/admin/audit", params={"from": "0001-01-01T00:00:00+01:00"}, headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    # a cursor past the bigint ids (this API never gave it out)
    forged = base64.urlsafe_b64encode(f"id:{2**63}".encode()).decode().rstrip("=")
    r = await client.get("/v1/me/ledger", params={"cursor": forged}, headers=citizen.headers)
    assert (r.status_code, r.json()["code"]) == (422, "invalid_cursor"), r.text


def test_a_dropped_connection_is_an_outage_and_misuse_is_a_bug() -> None:
    assert is_database_outage(asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"))
    assert is_database_outage(asyncpg.CannotConnectNowError("the database system is starting up"))
    assert is_database_outage(asyncpg.AdminShutdownError("terminating connection due to administrator command"))
    assert is_database_outage(asyncpg.InterfaceError("connection is closed"))
    wrapped = RuntimeError("award failed")
    wrapped.__cause__ = asyncpg.TooManyConnectionsError("too many clients")
    assert is_database_outage(wrapped)
    assert not is_database_outage(asyncpg.InterfaceError("cannot perform operation: another operation is in progress"))
    assert not is_database_outage(asyncpg.UniqueViolationError("duplicate key"))
    assert not is_database_outage(ValueError("a bug"))


async def test_a_bug_is_a_500_problem_that_carries_the_request_id(
    app: FastAPI, client: AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(app.state.leaderboards, "flush", broken)
    citizen = await factory.citizen()
    r = await client.get("/v1/leaderboards/weekly", headers={**citizen.headers, "X-Request-ID": "trace-me-500"})
    assert (r.status_code, r.json()["code"], r.headers["X-Request-ID"]) == (500, "internal_error", "trace-me-500")
    assert r.headers["content-type"] == "application/problem+json"


async def test_the_transaction_is_committed_before_the_response_starts(app: FastAPI, factory: Factory) -> None:
    """At the moment the response's first byte would leave, another connection already sees the write
    (FastAPI runs a dependency's code after `yield` after the response unless its scope is "function")."""
    citizen, partner = await factory.citizen(), await factory.partner("transit")
    seen_at_start: list[int] = []

    async def probed(scope: Any, receive: Any, send: Any) -> None:
        async def send_probing(message: Any) -> None:
            if message["type"] == "http.response.start":
                async with app.state.sessionmaker() as other:
                    count = "SELECT count(*) FROM identities WHERE user_id = :u"
                    seen_at_start.append(await other.scalar(text(count), {"u": citizen.id}))
            await send(message)

        await app(scope, receive, send_probing)

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=probed), base_url="http://t") as c:
        r = await c.post(
            "/v1/me/identities",
            json={"partner_id": str(partner.id), "kind": "transit_card", "ref": "card-committed"},
            headers=citizen.headers,
        )
    assert r.status_code == 201, r.text
    assert seen_at_start == [1]
