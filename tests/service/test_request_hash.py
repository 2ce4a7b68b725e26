"""The request digest behind idempotent partner writes (a unit test: no database)."""

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.idempotency import request_hash

# what partner bodies are made of (model_dump(mode="json") of their schemas): no floats
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _stdlib_hash(method: str, path: str, body: Any) -> str:
    """The digest earlier releases stored with every partner key."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def _encodable(value: Any) -> bool:
    """Lone surrogates cannot be UTF-8 (pydantic refuses them in JSON bodies anyway)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def test_request_hash_ignores_key_order_but_not_values() -> None:
    a = request_hash("POST", "/v1/x", {"a": 1, "b": [1, 2]})
    assert a == request_hash("post", "/v1/x", {"b": [1, 2], "a": 1})
    assert a != request_hash("POST", "/v1/x", {"a": 1, "b": [2, 1]})
    assert a != request_hash("POST", "/v1/y", {"a": 1, "b": [1, 2]})


@settings(max_examples=400)
@given(_json_values.filter(_encodable))
def test_request_hash_is_the_digest_already_stored_for_every_body(body: Any) -> None:
    # a replay of a request stored before the faster encoder must still be recognised as the same act
    assert request_hash("POST", "travel", body) == _stdlib_hash("POST", "travel", body)


def test_request_hash_of_known_bodies() -> None:
    body = {"user": {"member_ref": '会员-0001\t"x"\u2028'}, "distance_m": 4200, "mode": "metro", "z": None, "b": True}
    assert request_hash("POST", "travel", body) == _stdlib_hash("POST", "travel", body)
    assert request_hash("POST", "travel", {"n": 2**65}) == _stdlib_hash("POST", "travel", {"n": 2**65})
