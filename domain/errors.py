"""Domain errors carry a machine-readable code, never an HTTP status."""


class DomainError(Exception):
    """A rule was broken. `code` is stable and shown to API clients."""

    code = "domain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnbalancedPosting(DomainError):
    code = "unbalanced_posting"


class InvalidPosting(DomainError):
    code = "invalid_posting"


class InvalidReversal(DomainError):
    code = "invalid_reversal"


class InvalidAdjustment(DomainError):
    code = "invalid_adjustment"


class InsufficientPoints(DomainError):
    code = "insufficient_points"


class OutOfStock(DomainError):
    code = "out_of_stock"


class RewardUnavailable(DomainError):
    code = "reward_unavailable"


class InvalidRedemptionState(DomainError):
    code = "invalid_redemption_state"


class InvalidLotMove(DomainError):
    """A lot would be overdrawn or overfilled: a bug in the caller, never the client's fault."""

    code = "invalid_lot_move"
