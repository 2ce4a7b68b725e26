"""Banks for the tests: a bank partner with a webhook URL, a consented link, and a real HTTP server
standing in for the bank's webhook endpoint (it verifies every signature it receives)."""

import asyncio
import json
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from httpx import AsyncClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.banks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, verify
from service.auth.passwords import hash_secret
from service.auth.tokens import Audience
from service.models import Partner
from tests.factories import Actor, Factory

ALL_SCOPES = ["account:read", "changes:read", "activities:write"]


@dataclass(frozen=True)
class Bank:
    actor: Actor
    webhook_secret: str

    @property
    def id(self) -> uuid.UUID:
        return self.actor.id

    @property
    def headers(self) -> dict[str, str]:
        return self.actor.headers


async def make_bank(factory: Factory, *, webhook_url: str | None = None, region: str = "huangpu") -> Bank:
    partner_id = uuid.uuid4()
    secret = f"whsec_{secrets.token_urlsafe(16)}"
    async with factory.sessionmaker() as session, session.begin():
        session.add(
            Partner(
                id=partner_id,
                kind="bank",
                name=f"bank {partner_id.hex[:6]}",
                region=region,
                client_id=f"cl_{partner_id.hex}",
                client_secret_hash=hash_secret(secrets.token_urlsafe(16)),
                scopes=["bank"],
                webhook_url=webhook_url,
                webhook_secret=secret if webhook_url else None,
            )
        )
    return Bank(Actor(partner_id, factory.token(partner_id, Audience.PARTNER, ["bank"])), secret)


async def link(
    client: AsyncClient, citizen: Actor, bank: Bank, *, scopes: list[str] | None = None, customer_ref: str | None = None
) -> str:
    r = await client.post(
        "/v1/me/bank-links", json={"bank_id": str(bank.id), "scopes": scopes or ALL_SCOPES}, headers=citizen.headers
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/bank/links",
        json={"link_code": r.json()["link_code"], "customer_ref": customer_ref or f"cust-{uuid.uuid4().hex[:12]}"},
        headers=bank.headers,
    )
    assert r.status_code == 201, r.text
    link_id: str = r.json()["link_id"]
    return link_id


async def read_feed(client: AsyncClient, bank: Bank, cursor: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Everything from `cursor` to the end of the feed, page by page."""
    items: list[dict[str, Any]] = []
    while True:
        params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/v1/bank/changes", params=params, headers=bank.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return items, cursor


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BankEndpoint:
    """What the stand-in bank saw: every delivery attempt, and the events it accepted (signature valid)."""

    secret: str = ""
    down: bool = False
    delay_s: float = 0.0
    fail_next: int = 0
    """Answer this many of the next deliveries with 500, whatever they are."""
    attempts: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    port: int = 0
    clock: Callable[[], float] = time.time
    """The bank's clock, for the signature's freshness (a test that simulates hours gives its own)."""
    path: str = field(default_factory=lambda: secrets.token_hex(8))
    """A path of its own: deliveries meant for an earlier test's server on a reused port are not counted."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/{self.path}"

    async def receive(self, request: Request) -> Response:
        if request.path_params["path"] != self.path:
            return Response(status_code=404)
        self.attempts += 1
        body = await request.body()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.down:
            return Response("down for maintenance", status_code=503)
        if self.fail_next > 0:
            self.fail_next -= 1
            return Response("try again", status_code=500)
        if not verify(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body, now=int(self.clock())):  # 300 s
            self.bad_signatures += 1
            return Response("bad signature", status_code=400)
        event = json.loads(body)
        assert request.headers[EVENT_ID_HEADER] == str(event["event_id"])
        self.accepted.append(event)
        return JSONResponse({"ok": True})


@asynccontextmanager
async def bank_endpoint() -> AsyncIterator[BankEndpoint]:
    """A real HTTP server on 127.0.0.1, in this event loop, for the duration of the block."""
    endpoint = BankEndpoint(port=free_port())
    app = Starlette(routes=[Route("/webhooks/{path}", endpoint.receive, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=endpoint.port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield endpoint
    finally:
        server.should_exit = True
        await task
