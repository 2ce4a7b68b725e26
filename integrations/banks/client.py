"""Delivering one signed webhook to a bank over HTTP (httpx, short timeouts, no redirects)."""

from dataclasses import dataclass
from typing import Protocol

import httpx

from integrations.banks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from integrations.banks.ssrf import Resolver, UnsafeWebhookUrl, check_webhook_url, system_resolver

MAX_ERROR = 500


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    status_code: int | None = None
    error: str | None = None


class WebhookSender(Protocol):
    async def deliver(self, *, url: str, secret: str, event_id: str, body: bytes, timestamp: int) -> DeliveryResult:
        """POST `body` to `url`, signed; ok only for a 2xx answer. Never raises for the bank's failures."""
        ...


class WebhookClient:
    def __init__(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        allow_insecure: bool = False,
        resolve: Resolver = system_resolver,
        timeout_s: float = 10.0,
    ) -> None:
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
        self.allow_insecure = allow_insecure
        self.resolve = resolve

    async def aclose(self) -> None:
        await self.http.aclose()

    async def deliver(self, *, url: str, secret: str, event_id: str, body: bytes, timestamp: int) -> DeliveryResult:
        try:
            await check_webhook_url(url, allow_insecure=self.allow_insecure, resolve=self.resolve)
        except UnsafeWebhookUrl as exc:
            return DeliveryResult(False, error=f"refused target: {exc}"[:MAX_ERROR])
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            EVENT_ID_HEADER: event_id,
            "User-Agent": "Tanpu-Webhooks/1",
        }
        try:
            response = await self.http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return DeliveryResult(False, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
        if 200 <= response.status_code < 300:
            return DeliveryResult(True, response.status_code)
        return DeliveryResult(False, response.status_code, f"HTTP {response.status_code}")
