"""The console SMS provider: one JSON line {"phone", "code", "sent_at"} per message, to a file or stderr."""

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pytest

from integrations.sms import ConsoleSms, SmsSender, build_sms_sender


async def test_appends_one_json_line_per_message(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "sms.jsonl"
    sms = ConsoleSms(path)
    await sms.send("+8613812345678", "123456")
    await sms.send("+8613900000000", "000042")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(m["phone"], m["code"]) for m in lines] == [("+8613812345678", "123456"), ("+8613900000000", "000042")]
    for m in lines:
        assert set(m) == {"phone", "code", "sent_at"}
        assert datetime.fromisoformat(m["sent_at"]).utcoffset() is not None


async def test_concurrent_sends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "sms.jsonl"
    sms = ConsoleSms(path)
    await asyncio.gather(*(sms.send(f"+86138{i:08d}", f"{i:06d}") for i in range(200)))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(m["code"] for m in lines) == [f"{i:06d}" for i in range(200)]


async def test_writes_to_stderr_without_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    await ConsoleSms(None).send("+8613812345678", "654321")
    err = capsys.readouterr().err
    assert json.loads(err)["code"] == "654321"


def test_the_provider_is_picked_by_name(tmp_path: Path) -> None:
    sender: SmsSender = build_sms_sender("console", console_file=tmp_path / "x.jsonl")
    assert isinstance(sender, ConsoleSms) and sender.path == tmp_path / "x.jsonl"
    with pytest.raises(ValueError, match="unknown SMS provider"):
        build_sms_sender("carrier-pigeon")
