"""The embedded PostgreSQL that `tanpu serve` starts on a machine with only Python."""

import os
import re
from pathlib import Path

from service.embedded import MB, shared_buffers_mb, start_postgres

_SETTINGS = (
    "SELECT 'mb=' || setting::bigint * current_setting('block_size')::bigint / 1048576, "
    "'started=' || pg_postmaster_start_time() FROM pg_settings WHERE name = 'shared_buffers';"
)


def test_shared_buffers_are_a_quarter_of_memory_within_bounds() -> None:
    assert shared_buffers_mb(256 * MB) == 128  # never below PostgreSQL's own default
    assert shared_buffers_mb(4096 * MB) == 1024
    assert shared_buffers_mb(6 * 1024 * MB + 3) == 1536
    assert shared_buffers_mb(24 * 1024 * MB) == 2048
    assert shared_buffers_mb(512 * 1024 * MB) == 2048


def _settings(server: object) -> tuple[int, str]:
    shown = server.psql(_SETTINGS)  # type: ignore[attr-defined]
    mb = re.search(r"mb=(\d+)", shown)
    started = re.search(r"started=(\S+ \S+)", shown)
    assert mb and started, shown
    return int(mb[1]), started[1]


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
