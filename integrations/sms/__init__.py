"""SMS: the `SmsSender` port and its providers (only `console` so far)."""

from pathlib import Path

from integrations.sms.console import ConsoleSms
from integrations.sms.port import SmsSender

__all__ = ["ConsoleSms", "SmsSender", "build_sms_sender"]


def build_sms_sender(provider: str, *, console_file: Path | None = None) -> SmsSender:
    """The provider named by `TANPU_SMS_PROVIDER`."""
    if provider == "console":
        return ConsoleSms(console_file)
    raise ValueError(f"unknown SMS provider {provider!r}")
