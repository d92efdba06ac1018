"""Provider classes by channel kind."""

from __future__ import annotations

from inbox.providers.base import Provider, ProviderError
from inbox.providers.sandbox import SandboxProvider
from inbox.providers.sms import SmsProvider
from inbox.providers.whatsapp_cloud import WhatsAppCloudProvider
from inbox.providers.whatsapp_web import WhatsAppWebProvider

PROVIDERS: dict[str, type[Provider]] = {
    "whatsapp_cloud": WhatsAppCloudProvider,
    "whatsapp_web": WhatsAppWebProvider,
    "sms": SmsProvider,
    "sandbox": SandboxProvider,
}


def get_provider(channel, *, callback_url: str = "") -> Provider:
    """The provider of ``channel``'s kind; ``callback_url``: where it reports statuses of sends
    (only kinds whose API takes one per message, SMS, use it)."""
    return PROVIDERS[channel.kind](channel, callback_url=callback_url)


__all__ = ["PROVIDERS", "Provider", "ProviderError", "get_provider"]
