"""integrations/banks: signatures, the SSRF rules for webhook URLs, and the HTTP client against a real server."""

import time

import pytest

from integrations.banks import DeliveryResult, UnsafeWebhookUrl, WebhookClient, check_webhook_url, sign, verify
from integrations.banks.ssrf import Resolver
from tests.bank_helpers import BankEndpoint, bank_endpoint


def test_a_signature_verifies_and_any_change_breaks_it() -> None:
    body = b'{"seq":1,"kind":"award"}'
    header = sign("whsec_x", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("whsec_x", header, body, now=1_700_000_100)
    assert not verify("whsec_x", header, body + b" ", now=1_700_000_100)
    assert not verify("whsec_y", header, body, now=1_700_000_100)
    assert not verify("whsec_x", header, body, now=1_700_000_000 + 3600)  # an old signature replayed
    assert not verify("whsec_x", "garbage", body, now=1_700_000_000)


def resolver(mapping: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        if host not in mapping:
            raise OSError("no such host")
        return mapping[host]

    return resolve


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://bank.example/hook", "https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://192.168.0.9/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://internal.bank.example/hook", "private"),  # a public name that resolves inside
        ("https://user:pw@bank.example/hook", "credentials"),
        ("https://nowhere.example/hook", "does not resolve"),
        ("https:///hook", "host"),
    ],
)
async def test_unsafe_webhook_targets_are_refused(url: str, why: str) -> None:
    resolve = resolver({"bank.example": ["101.226.4.6"], "internal.bank.example": ["101.226.4.6", "10.0.0.5"]})
    with pytest.raises(UnsafeWebhookUrl, match=why):
        await check_webhook_url(url, allow_insecure=False, resolve=resolve)


async def test_a_public_https_target_passes_and_development_allows_local_http() -> None:
    resolve = resolver({"bank.example": ["101.226.4.6"]})
    assert await check_webhook_url("https://bank.example/hook", allow_insecure=False, resolve=resolve) == ["101.226.4.6"]
    assert await check_webhook_url("http://127.0.0.1:9000/hook", allow_insecure=True, resolve=resolve) == ["127.0.0.1"]
    with pytest.raises(UnsafeWebhookUrl, match="link-local"):  # cloud metadata stays out even in development
        await check_webhook_url("http://169.254.169.254/", allow_insecure=True, resolve=resolve)


async def test_the_client_delivers_signed_and_refuses_a_local_target_outside_development() -> None:
    async with bank_endpoint() as endpoint:
        endpoint.secret = "whsec_test"
        client = WebhookClient(allow_insecure=True)
        body = b'{"event_id":41,"seq":1}'
        result = await client.deliver(url=endpoint.url, secret="whsec_test", event_id="41", body=body, timestamp=int(time.time()))
        assert (result.ok, result.status_code) == (True, 200)
        assert endpoint.accepted == [{"event_id": 41, "seq": 1}]
        endpoint.down = True
        result = await client.deliver(url=endpoint.url, secret="whsec_test", event_id="41", body=body, timestamp=int(time.time()))
        assert (result.ok, result.status_code) == (False, 503)
        await client.aclose()
        strict = WebhookClient(allow_insecure=False)
        result = await strict.deliver(url=endpoint.url, secret="whsec_test", event_id="41", body=body, timestamp=int(time.time()))
        assert not result.ok and "refused target" in (result.error or "")
        assert endpoint.attempts == 2  # the refused target was never contacted
        await strict.aclose()


async def deliver_as(host: str, resolve: Resolver, event_id: int) -> tuple[DeliveryResult, BankEndpoint]:
    """One delivery to a real server on 127.0.0.1, addressed by `host`, names resolved by `resolve`."""
    async with bank_endpoint() as endpoint:
        endpoint.secret = "whsec_test"
        client = WebhookClient(allow_insecure=True, resolve=resolve)
        result = await client.deliver(
            url=endpoint.url.replace("127.0.0.1", host),
            secret="whsec_test",
            event_id=str(event_id),
            body=b'{"event_id":%d}' % event_id,
            timestamp=int(time.time()),
        )
        await client.aclose()
    return result, endpoint


async def test_the_client_connects_to_the_address_it_checked() -> None:
    # bank.example exists only in this resolver: the delivery can reach the server only through the checked address
    result, endpoint = await deliver_as("bank.example", resolver({"bank.example": ["127.0.0.1"]}), 7)
    assert (result.ok, result.status_code) == (True, 200)
    assert endpoint.accepted == [{"event_id": 7}]


async def test_a_name_that_rebinds_after_the_check_is_refused_at_the_connect() -> None:
    answers = [["127.0.0.1"], ["169.254.169.254"]]  # allowed when registered (development), link-local at the connect

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    assert await check_webhook_url("http://localhost/hook", allow_insecure=True, resolve=rebinding) == ["127.0.0.1"]
    # localhost: a client that resolved the name again itself would reach the server
    result, endpoint = await deliver_as("localhost", rebinding, 8)
    assert not result.ok and "refused target" in (result.error or "") and "link-local" in (result.error or "")
    assert endpoint.attempts == 0
