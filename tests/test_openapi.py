"""The committed openapi/openapi.json is the app's current schema (API9: inventory)."""

import difflib

from service.openapi_doc import OPENAPI_PATH, current_schema, render


def test_committed_openapi_matches_the_app() -> None:
    expected = render(current_schema())
    assert OPENAPI_PATH.exists(), "openapi/openapi.json is missing: run `python3 dev.py openapi` and commit it"
    committed = OPENAPI_PATH.read_text(encoding="utf-8")
    if committed != expected:
        diff = "".join(
            list(difflib.unified_diff(committed.splitlines(True), expected.splitlines(True), "committed", "app", n=2))[:60]
        )
        raise AssertionError(f"openapi/openapi.json is stale: run `python3 dev.py openapi` and commit it\n{diff}")


def test_every_operation_has_a_stable_id() -> None:
    schema = current_schema()
    ids = [op.get("operationId") for path in schema["paths"].values() for op in path.values()]
    assert all(ids), "every route needs an explicit operation_id"
    assert len(ids) == len(set(ids))
