"""The migrations build exactly the schema the models describe (`alembic upgrade head` + `alembic check`)."""

from alembic import command
from alembic.script import ScriptDirectory

from service.schema import alembic_config, head_revision, migrations_dir


def test_the_models_and_the_migrations_agree(database_url: str) -> None:
    # conftest built this database with `upgrade head`; autogenerate must find nothing to add.
    command.check(alembic_config(database_url))


def test_there_is_one_head() -> None:
    heads = ScriptDirectory(str(migrations_dir())).get_heads()
    assert heads == [head_revision()], f"the migrations have several heads: {heads}"
