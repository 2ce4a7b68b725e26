"""Applying Alembic migrations from code (`tanpu migrate`, `tanpu serve`, the tests)."""

import os
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

REPO_ROOT = Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    return Path(os.environ.get("TANPU_MIGRATIONS_DIR", REPO_ROOT / "migrations"))


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


@lru_cache
def head_revision() -> str | None:
    return ScriptDirectory(str(migrations_dir())).get_current_head()
