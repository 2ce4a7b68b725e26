"""Sampling the server under load with py-spy (if installed; never a project dependency).

`pip install py-spy` into the venv, then `python -m bench adjustments --profile`: after the
measured runs, one extra run of the app is recorded (not counted in the figures) and the
hottest functions are summarised, inclusive and self time, plus a split by layer.
"""

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

LAYERS = (
    ("service/", "tanpu service/"),
    ("domain/", "tanpu domain/"),
    ("bench/", "bench"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("sqlmodel/", "SQLAlchemy"),
    ("asyncpg/", "asyncpg"),
    ("pydantic", "pydantic"),
    ("fastapi/", "FastAPI"),
    ("starlette/", "Starlette"),
    ("uvicorn/", "uvicorn"),
    ("prometheus_client/", "prometheus_client"),
    ("jwt/", "PyJWT"),
    ("redis/", "redis-py"),
    ("logging/", "logging"),
    ("json/", "json"),
    ("asyncio/", "asyncio"),
    ("uvloop", "uvloop"),
)


def _py_spy() -> str | None:
    """py-spy on PATH, or next to this interpreter (installed into the venv, whose bin/ may not be on PATH)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def available() -> bool:
    return _py_spy() is not None


def start(pid: int, duration: float, out: Path, rate: int = 200) -> subprocess.Popen[bytes]:
    cmd = [_py_spy() or "py-spy", "record", "--pid", str(pid), "--duration", str(max(1, round(duration))), "--rate", str(rate)]
    # BENCH_PROFILE_NATIVE=1: C frames too (asyncpg's protocol, the kernel's send), at the cost of pausing the app
    mode = "--native" if os.environ.get("BENCH_PROFILE_NATIVE") == "1" else "--nonblocking"
    cmd += ["--format", "raw", "--output", str(out), mode]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _layer(frame: str) -> str:
    for needle, name in LAYERS:
        if needle in frame:
            return name
    return "other"


def summarize(raw: Path, top: int = 30) -> dict[str, Any]:
    """py-spy's raw (collapsed stacks) format: `frame;frame;...;leaf COUNT` per line, root first."""
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    by_layer: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        self_time[frames[-1]] += count
        by_layer[_layer(frames[-1])] += count

    def pct(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    return {
        "samples": total,
        "self_by_layer_pct": {k: pct(v) for k, v in by_layer.most_common()},
        "top_inclusive": [[pct(n), f] for f, n in inclusive.most_common(top)],
        "top_self": [[pct(n), f] for f, n in self_time.most_common(top)],
    }
