"""The port the sign-in use case depends on: something that delivers a one-time code by SMS."""

from typing import Protocol


class SmsSender(Protocol):
    async def send(self, phone: str, code: str) -> None:
        """Deliver `code` to `phone` (canonical `+86...` form); raise if it could not be handed over."""
        ...
