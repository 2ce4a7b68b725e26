"""The outside world Tanpu calls: SMS, bank webhooks, partner file formats. One package per party."""
