"""openapi/openapi.json: generated from the app with sorted keys and stable formatting.

`python3 dev.py openapi` (or `python -m service.openapi_doc --write`) regenerates it;
tests/test_openapi.py fails when the committed file differs from the app.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from service.schema import REPO_ROOT

OPENAPI_PATH = REPO_ROOT / "openapi" / "openapi.json"


def current_schema() -> dict[str, Any]:
    from service.app import create_app
    from service.settings import Settings

    # Fixed settings: the document must not depend on the environment it is generated in.
    app = create_app(Settings(TANPU_ENV="development", DATABASE_URL=None, REDIS_URL=None))
    return app.openapi()


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {OPENAPI_PATH.relative_to(REPO_ROOT)}")
    parser.add_argument("--output", type=Path, default=OPENAPI_PATH)
    args = parser.parse_args(argv)
    text = render(current_schema())
    if not args.write:
        sys.stdout.write(text)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output} ({len(text)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
