"""The development SMS provider: one JSON line `{"phone", "code", "sent_at"}` per message.

Lines go to a file (tests and demos read the code from it, as a phone would) or,
with no file configured, to stderr.
"""

import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path


class ConsoleSms:
    def __init__(self, path: Path | None = None, *, clock: Callable[[], datetime] | None = None) -> None:
        self.path = path
        self._clock = clock or (lambda: datetime.now(UTC))
        # One writer at a time, so concurrent sends never interleave within a line.
        self._lock = asyncio.Lock()

    async def send(self, phone: str, code: str) -> None:
        line = json.dumps({"phone": phone, "code": code, "sent_at": self._clock().isoformat()}) + "\n"
        async with self._lock:
            if self.path is None:
                sys.stderr.write(line)
                sys.stderr.flush()
            else:
                await asyncio.to_thread(_append, self.path, line)


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(line)
