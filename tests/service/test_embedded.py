"""The embedded PostgreSQL that `tanpu serve` starts on a machine with only Python."""

import os
import re
from pathlib import Path

from service.embedded import MB, shared_buffers_mb, shared_buffers_now, start_postgres


def test_shared_buffers_are_a_quarter_of_memory_within_bounds() -> None:
    assert shared_buffers_mb(256 * MB) == 128  # never below PostgreSQL's own default
    assert shared_buffers_mb(4096 * MB) == 1024
    assert shared_buffers_mb(6 * 1024 * MB + 3) == 1536
    assert shared_buffers_mb(24 * 1024 * MB) == 2048
    assert shared_buffers_mb(512 * 1024 * MB) == 2048


def _settings(server: object) -> tuple[int, str]:
    shown = server.psql("SELECT 'started=' || pg_postmaster_start_time();")  # type: ignore[attr-defined]
    started = re.search(r"started=(\S+ \S+)", shown)
    assert started, shown
    return shared_buffers_now(server), started[1]


def test_a_kept_server_gets_its_shared_buffers_once(tmp_path: Path) -> None:
    import pgserver

    _, server = start_postgres(tmp_path, keep_running=True)
    try:
        wanted = shared_buffers_mb(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        mb, started = _settings(server)
        assert mb == wanted
        _, again = start_postgres(tmp_path, keep_running=True)
        assert _settings(again) == (wanted, started)  # already set: no second restart
    finally:
        pgserver.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=tmp_path / "pg", user=server.system_user)
