"""Delivering one signed webhook to a bank over HTTP (httpx, short timeouts, no redirects)."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpcore
import httpx

from integrations.banks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from integrations.banks.ssrf import Resolver, UnsafeWebhookUrl, system_resolver, vetted_addresses, webhook_target

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


class _VettedConnect(httpcore.AsyncNetworkBackend):
    """Opens a connection only to an address checked as it connects.

    The name is resolved here, once, every address is checked, and the socket goes to a
    checked address. Checking the URL and then letting the HTTP client resolve the name again
    left a gap a DNS answer could change in (rebinding: public at the check, 10.0.0.5 at the
    connect). TLS still verifies the certificate against the name in the URL."""

    def __init__(self, *, allow_insecure: bool, resolve: Resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_insecure = allow_insecure
        self._resolve = resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await vetted_addresses(host, port, allow_insecure=self._allow_insecure, resolve=self._resolve)
        for address in addresses[:-1]:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError:
                continue
        return await self._inner.connect_tcp(addresses[-1], port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeWebhookUrl("webhooks go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _VettedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on `_VettedConnect` (httpx takes no network
    backend itself, so the pool it builds is replaced; httpx is pinned in pyproject.toml and
    tests/integrations/test_banks.py fails if a rebinding name gets through)."""

    def __init__(self, backend: _VettedConnect) -> None:
        super().__init__(trust_env=False)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)  # httpx's own
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


class WebhookClient:
    def __init__(self, *, allow_insecure: bool = False, resolve: Resolver = system_resolver, timeout_s: float = 10.0) -> None:
        # Always its own client: the addresses are checked by its transport, as it connects.
        # trust_env=False: a proxy from the environment would resolve the name itself, past the check.
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,
            transport=_VettedTransport(_VettedConnect(allow_insecure=allow_insecure, resolve=resolve)),
        )
        self.allow_insecure = allow_insecure

    async def aclose(self) -> None:
        await self.http.aclose()

    async def deliver(self, *, url: str, secret: str, event_id: str, body: bytes, timestamp: int) -> DeliveryResult:
        try:  # the URL's form here; its addresses when the transport connects (a kept connection was checked then)
            webhook_target(url, allow_insecure=self.allow_insecure)
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
        except UnsafeWebhookUrl as exc:  # raised by _VettedConnect: an address the name resolves to is refused
            return DeliveryResult(False, error=f"refused target: {exc}"[:MAX_ERROR])
        except httpx.HTTPError as exc:
            return DeliveryResult(False, error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR])
        if 200 <= response.status_code < 300:
            return DeliveryResult(True, response.status_code)
        return DeliveryResult(False, response.status_code, f"HTTP {response.status_code}")
