"""Banks: signed webhooks to a bank's registered URL, and the SSRF rules that URL must meet."""

from integrations.banks.client import DeliveryResult, WebhookClient, WebhookSender
from integrations.banks.signing import SIGNATURE_HEADER, sign, verify
from integrations.banks.ssrf import UnsafeWebhookUrl, check_webhook_url

__all__ = [
    "SIGNATURE_HEADER",
    "DeliveryResult",
    "UnsafeWebhookUrl",
    "WebhookClient",
    "WebhookSender",
    "check_webhook_url",
    "sign",
    "verify",
]
