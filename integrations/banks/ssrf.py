"""A bank's webhook URL must not turn Tanpu into a proxy into its own network (OWASP API7).

https only; the host must resolve, and every address it resolves to must be a public
unicast address: no private, loopback, link-local (cloud metadata), multicast, reserved
or unspecified targets, IPv4-mapped IPv6 included. `allow_insecure` (development only)
admits plain http, loopback and private addresses for local testing; link-local and
multicast stay refused even then. The whole check runs when the URL is registered; at each
delivery the URL's form is checked again, and its addresses when the delivery connects: the
connection goes to an address checked at that moment (integrations/banks/client.py), so a name
whose DNS answer changes after a check (DNS rebinding) cannot reach an internal address.
Redirects are never followed.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

Resolver = Callable[[str, int], Awaitable[list[str]]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhookUrl(ValueError):
    """The URL is refused as a webhook target (the message says why)."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def address_refusal(ip: IpAddress, *, allow_insecure: bool) -> str | None:
    """Why this address may not be a webhook target, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if allow_insecure and (ip.is_loopback or ip.is_private):
        return None
    for name in ("loopback", "private", "reserved"):
        if getattr(ip, f"is_{name}"):
            return name
    if not ip.is_global:
        return "not globally routable"
    return None


async def check_webhook_url(url: str, *, allow_insecure: bool, resolve: Resolver = system_resolver) -> list[str]:
    """The addresses the URL resolves to, all allowed; UnsafeWebhookUrl otherwise."""
    host, port = webhook_target(url, allow_insecure=allow_insecure)
    return await vetted_addresses(host, port, allow_insecure=allow_insecure, resolve=resolve)


def webhook_target(url: str, *, allow_insecure: bool) -> tuple[str, int]:
    """The host and port of a URL whose form is allowed (scheme, no credentials, a host);
    UnsafeWebhookUrl otherwise. What the host resolves to is `vetted_addresses`' to check."""
    if len(url) > 2000:
        raise UnsafeWebhookUrl("the URL is too long")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeWebhookUrl(f"not a URL: {exc}") from None
    allowed_schemes = ("https", "http") if allow_insecure else ("https",)
    if parts.scheme not in allowed_schemes:
        raise UnsafeWebhookUrl("a webhook URL must use https")
    if parts.username is not None or parts.password is not None:
        raise UnsafeWebhookUrl("a webhook URL must not carry credentials")
    host = parts.hostname
    if not host:
        raise UnsafeWebhookUrl("a webhook URL needs a host")
    return host, port or (443 if parts.scheme == "https" else 80)


async def vetted_addresses(host: str, port: int, *, allow_insecure: bool, resolve: Resolver = system_resolver) -> list[str]:
    """The addresses `host` (a name or an IP literal) resolves to, all allowed; UnsafeWebhookUrl otherwise."""
    try:
        literal: IpAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeWebhookUrl(f"{host} does not resolve: {exc}") from None
        if not addresses:
            raise UnsafeWebhookUrl(f"{host} does not resolve")
    for address in addresses:
        why = address_refusal(ipaddress.ip_address(address.split("%", 1)[0]), allow_insecure=allow_insecure)
        if why is not None:
            raise UnsafeWebhookUrl(f"{host} resolves to {address}, a {why} address")
    return addresses
