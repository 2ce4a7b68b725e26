"""The cache of verified access tokens (service/auth/tokens.py VerifiedTokens): it answers exactly
as `decode_access_token` would, only without verifying a token it has already verified."""

from datetime import timedelta

import jwt
import pytest

from service.auth import tokens
from service.auth.tokens import Audience, InvalidToken, VerifiedTokens, issue_access_token
from service.clock import utcnow

SECRET = "s" * 32
ISSUER = "tanpu-test"


def token(*, ttl: timedelta = timedelta(minutes=15), audience: Audience = Audience.PARTNER, subject: str = "p1") -> str:
    return issue_access_token(
        secret=SECRET, issuer=ISSUER, subject=subject, audience=audience, scopes=["travel:write"], ttl=ttl, now=utcnow()
    )


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token PyJWT was asked to verify."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: object, **kwargs: object) -> object:
        seen.append(token)
        return real(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tokens.jwt, "decode", counting)
    return seen


def test_a_token_is_verified_once_and_answers_the_same_claims(verifications: list[str]) -> None:
    cache, t = VerifiedTokens(), token()
    first = cache.decode(t, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)
    again = cache.decode(t, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)
    assert again == first == tokens.decode_access_token(t, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)
    assert first.sub == "p1" and first.scopes == {"travel:write"}
    assert verifications.count(t) == 2  # the cache's one verification, and the direct call's


def test_a_cached_token_is_still_refused_for_another_audience_secret_or_issuer() -> None:
    cache, t = VerifiedTokens(), token()
    cache.decode(t, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)
    with pytest.raises(InvalidToken):
        cache.decode(t, secret=SECRET, issuer=ISSUER, audience=Audience.ADMIN)
    with pytest.raises(InvalidToken):
        cache.decode(t, secret="x" * 32, issuer=ISSUER, audience=Audience.PARTNER)
    with pytest.raises(InvalidToken):
        cache.decode(t, secret=SECRET, issuer="someone-else", audience=Audience.PARTNER)


def test_bad_and_expired_tokens_are_refused_every_time_and_never_kept() -> None:
    cache = VerifiedTokens()
    expired = token(ttl=timedelta(seconds=-60))
    forged = token()[:-2] + "xx"
    for bad in (expired, forged, expired, forged):
        with pytest.raises(InvalidToken):
            cache.decode(bad, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)
    assert len(cache._entries) == 0


def test_a_cached_token_is_verified_again_once_past_exp_plus_leeway(
    verifications: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, t = VerifiedTokens(), token(ttl=timedelta(minutes=1))
    exp = jwt.decode(t, options={"verify_signature": False})["exp"]
    verifications.clear()
    cache.decode(t, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)
    monkeypatch.setattr(tokens.time, "time", lambda: exp + tokens.LEEWAY_S - 0.5)
    cache.decode(t, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)
    assert verifications.count(t) == 1  # still within what PyJWT accepts: served from the cache
    monkeypatch.setattr(tokens.time, "time", lambda: exp + tokens.LEEWAY_S)
    cache.decode(t, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)  # PyJWT's clock is real: still valid
    assert verifications.count(t) == 2  # but the cache no longer vouched for it


def test_the_cache_is_bounded_and_drops_the_least_recently_used(verifications: list[str]) -> None:
    cache = VerifiedTokens(max_entries=2)
    a, b, c = token(subject="a"), token(subject="b"), token(subject="c")
    for t in (a, b, a, c):  # a was used after b: b goes when c arrives
        cache.decode(t, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)
    assert len(cache._entries) == 2
    cache.decode(a, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)
    cache.decode(b, secret=SECRET, issuer=ISSUER, audience=Audience.PARTNER)
    assert verifications.count(a) == 1 and verifications.count(b) == 2
