"""The README documents every setting and every command of the CLI."""

from pathlib import Path

from service.cli import build_parser
from service.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_configuration_table() -> None:
    aliases = [field.alias for field in Settings.model_fields.values() if field.alias]
    missing = [alias for alias in aliases if f"| `{alias}` |" not in README]
    assert not missing, f"add these to README.md's configuration table: {missing}"


def test_every_cli_command_is_in_the_readme() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands
    missing = [name for name in commands if f"`tanpu {name}" not in README]
    assert not missing, f"document these commands in README.md: {missing}"
