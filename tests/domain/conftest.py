import json
from datetime import datetime
from pathlib import Path

import pytest

from domain import methodology
from domain.methodology import Methodology

SEED = Path(__file__).resolve().parents[2] / "seeds" / "methodologies" / "default-2025.json"


def load_seed() -> Methodology:
    doc = json.loads(SEED.read_text(encoding="utf-8"))
    return methodology.parse(
        doc["id"], doc["region"], datetime.fromisoformat(doc["effective_from"]), doc["rate_points_per_g"], doc
    )


@pytest.fixture(scope="session")
def default_2025() -> Methodology:
    return load_seed()
