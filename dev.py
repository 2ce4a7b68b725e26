#!/usr/bin/env python3
"""The README commands, on a machine with nothing but Python 3.11 (standard library only).

    python3 dev.py run [serve options]   start Tanpu (embedded PostgreSQL and Redis unless the URLs are set)
    python3 dev.py test [pytest options] ruff, ruff format --check, mypy, then pytest (migrations checked inside)
    python3 dev.py lint                  ruff, ruff format --check, mypy
    python3 dev.py openapi               regenerate openapi/openapi.json from the app
    python3 dev.py bench [options]       the benchmarks of bench/ (never part of the tests)

Each first creates .venv if it is missing and installs `-e .[dev]` into it whenever
pyproject.toml changed since the last install (a stamp file in .venv records it).
"""

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".tanpu-install-stamp"
MIN_PYTHON = (3, 11)


def say(message: str) -> None:
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def _fingerprint() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_venv() -> None:
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"dev.py needs Python {'.'.join(map(str, MIN_PYTHON))} or newer, not {sys.version.split()[0]}")
    if not PYTHON.exists():
        say(f"creating {VENV.relative_to(ROOT)}")
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    wanted = _fingerprint()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    say("installing -e .[dev] (pyproject.toml changed since the last install)")
    started = time.monotonic()
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", ".[dev]"]
    subprocess.run(pip, cwd=ROOT, check=True)  # noqa: S603 (fixed arguments)
    STAMP.write_text(wanted + "\n")
    say(f"installed in {time.monotonic() - started:.0f}s")


def step(name: str, argv: list[str], *, allow: tuple[int, ...] = (0,)) -> None:
    say(f"{name}: {' '.join(argv)}")
    started = time.monotonic()
    code = subprocess.run(argv, cwd=ROOT, check=False).returncode  # noqa: S603 (our own tools)
    took = time.monotonic() - started
    if code == 5 and name == "pytest":
        say(f"pytest collected no tests ({took:.1f}s): that is a failure")
        sys.exit(5)
    if code not in allow:
        say(f"{name} FAILED with exit status {code} ({took:.1f}s)")
        sys.exit(code or 1)
    say(f"{name} ok ({took:.1f}s)")


def lint() -> None:
    step("ruff check", [str(BIN / "ruff"), "check", "."])
    step("ruff format", [str(BIN / "ruff"), "format", "--check", "."])
    step("mypy", [str(BIN / "mypy")])


def cmd_run(args: list[str]) -> None:
    ensure_venv()
    tanpu = BIN / "tanpu"
    os.execv(tanpu, [str(tanpu), "serve", *args])  # noqa: S606 (our own console script)


def cmd_test(args: list[str]) -> None:
    started = time.monotonic()
    ensure_venv()
    lint()
    # The migrations: tests/service/test_migrations.py upgrades a fresh database to head
    # and runs `alembic check` (autogenerate finds no difference from the models).
    step("pytest", [str(PYTHON), "-m", "pytest", *args])
    say(f"all checks passed in {time.monotonic() - started:.0f}s")


def cmd_lint(args: list[str]) -> None:
    ensure_venv()
    lint()


def cmd_openapi(args: list[str]) -> None:
    ensure_venv()
    step("openapi", [str(PYTHON), "-m", "service.openapi_doc", "--write", *args])


def cmd_bench(args: list[str]) -> None:
    ensure_venv()
    code = subprocess.run([str(PYTHON), "-m", "bench", *args], cwd=ROOT, check=False).returncode  # noqa: S603
    sys.exit(code)


COMMANDS = {"run": cmd_run, "test": cmd_test, "lint": cmd_lint, "openapi": cmd_openapi, "bench": cmd_bench}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
