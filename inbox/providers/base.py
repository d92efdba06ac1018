"""The one small interface every channel kind implements.

Providers translate between our messages and a provider's wire format; they never write to the
database (services do), so they are easy to test against loopback stubs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

ERR_NOT_SUPPORTED = _("This channel cannot do that.")


class ProviderError(Exception):
    """A provider refused or failed a request. ``code``/``title``/``details`` are shown to agents.

    ``uncertain`` means the request may have reached the provider (a read timeout, a connection
    dropped after the request was written): sending again could send twice.
    """

    def __init__(
        self,
        title: Any,
        *,
        code: str = "",
        details: str = "",
        retryable: bool = False,
        status: int = 0,
        uncertain: bool = False,
    ):
        super().__init__(title)
        self.title = str(title)
        self.code = str(code or "")
        self.details = details or ""
        self.retryable = retryable
        self.status = status
        self.uncertain = uncertain


@dataclass
class SendResult:
    provider_message_id: str
    status: str = "sent"
    raw: dict[str, Any] = field(default_factory=dict)
    # A simulated provider (the sandbox) says here which statuses it will report for this send
    # and after how many seconds; the sending service schedules them (providers never queue).
    reports: tuple[tuple[str, float], ...] = ()


@dataclass
class InboundMessage:
    provider_message_id: str
    phone: str  # as the provider gives it (digits or E.164)
    wa_id: str | None
    name: str | None
    kind: str  # a MessageKind value
    body: str = ""
    media_id: str = ""  # provider media id or URL to fetch
    media_mime: str = ""
    media_filename: str = ""
    timestamp: datetime | None = None
    reply_to_provider_id: str = ""  # reactions: the message reacted to; replies: the context id
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class StatusUpdate:
    provider_message_id: str
    status: str  # sent / delivered / read / failed
    timestamp: datetime | None = None
    error_code: str = ""
    error_title: str = ""
    error_details: str = ""
    # What we attached to the send (Meta's ``biz_opaque_callback_data``: the campaign
    # recipient), echoed back by every status of that message.
    callback_data: str = ""


@dataclass
class TemplateUpdate:
    """A change Meta reports about one message template of the WABA: ``kind`` is ``"status"``
    (``message_template_status_update``: ``event`` APPROVED, REJECTED with ``reason``, PAUSED,
    DISABLED...) or ``"quality"`` (``message_template_quality_update``: ``quality`` GREEN,
    YELLOW, RED or UNKNOWN). The inbox does nothing with it but hand it upward
    (``inbox.hooks``)."""

    kind: str
    waba_id: str
    template_id: str
    name: str = ""
    language: str = ""
    event: str = ""
    reason: str = ""
    quality: str = ""
    previous_quality: str = ""
    detail: str = ""
    timestamp: datetime | None = None


@dataclass
class ParsedEvent:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # why parts of the payload were skipped
    templates: list[TemplateUpdate] = field(default_factory=list)


@dataclass
class Outbound:
    """One message of a batch send. ``ref`` is our id for it (the campaign recipient), sent as
    Meta's ``biz_opaque_callback_data`` so every status webhook names it. Exactly one of
    ``text`` / ``template`` / ``media`` says what to send: ``template`` is
    ``{"name", "language", "components"}`` (components with their parameters filled), ``media``
    is ``{"kind", "id" or "link", "caption", "filename"}``."""

    ref: str
    to: str
    text: str = ""
    template: dict[str, Any] | None = None
    media: dict[str, Any] | None = None
    callback_url: str = ""  # SMS status callbacks


@dataclass
class Outcome:
    """What became of one ``Outbound``: a ``result`` or an ``error`` (never both)."""

    ref: str
    result: SendResult | None = None
    error: ProviderError | None = None
    segments: int = 1


@dataclass(frozen=True)
class Pace:
    """How a channel sends in bulk: ``rate`` per second through the limiter, or a phone's
    pace (WhatsApp Web): one message at a time, a random pause of ``min_delay``-``max_delay``
    seconds before each, with typing shown during ``typing`` seconds of it."""

    one_at_a_time: bool = False
    min_delay: float = 0.0
    max_delay: float = 0.0
    typing: float = 0.0


@dataclass
class FetchedMedia:
    content: bytes
    mime: str
    filename: str = ""


class Provider:
    """Base class; a method a kind cannot do raises ``ProviderError(ERR_NOT_SUPPORTED)``."""

    kind = ""
    supports_templates = False
    supports_reactions = False
    supports_media = False

    def __init__(self, channel, *, callback_url: str = ""):
        self.channel = channel
        # Where the provider should report statuses of what we send (the channel's webhook URL,
        # given by the caller: providers know no URLs of ours).
        self.callback_url = callback_url

    def send_text(self, *, to: str, text: str, reply_to: str = "") -> SendResult:
        raise ProviderError(ERR_NOT_SUPPORTED)

    def send_template(self, *, to: str, name: str, language: str, components: list | None = None) -> SendResult:
        raise ProviderError(ERR_NOT_SUPPORTED)

    def send_media(
        self, *, to: str, kind: str, content: bytes, mime: str, filename: str, caption: str = ""
    ) -> SendResult:
        raise ProviderError(ERR_NOT_SUPPORTED)

    def send_reaction(self, *, to: str, provider_message_id: str, emoji: str) -> SendResult:
        raise ProviderError(ERR_NOT_SUPPORTED)

    def mark_read(self, *, provider_message_id: str) -> None:
        return None

    def verify_signature(self, *, body: bytes, headers, url: str = "", params=None) -> bool:
        return False

    def parse(self, payload: Any) -> ParsedEvent:
        return ParsedEvent(ignored=["unsupported provider"])

    def fetch_media(self, *, media_id: str) -> FetchedMedia:
        raise ProviderError(ERR_NOT_SUPPORTED)

    # --- bulk sends (the campaign engine) ------------------------------------------------------

    def pace(self) -> Pace:
        return Pace()

    async def asend(self, item: Outbound) -> Outcome:
        """Send one message of a batch on the running loop's pooled client (``providers.http``)."""
        raise ProviderError(ERR_NOT_SUPPORTED)

    def batch_prepare(self, items: list[Outbound]) -> list[Any] | None:
        """What ``send_batch`` can work out ahead of the moment of sending (one entry per item,
        in order; ``None``: nothing), so the instant between a caller's last commit and the
        request's write holds no work."""
        return None

    async def send_batch(self, items: list[Outbound], *, prepared: list[Any] | None = None) -> list[Outcome]:
        """Send ``items`` concurrently; one outcome per item, in order. Never raises for one
        item's failure: it is that item's ``error``. ``prepared``: ``batch_prepare``'s answer
        for these items."""
        import asyncio

        async def one(item: Outbound) -> Outcome:
            try:
                return await self.asend(item)
            except ProviderError as exc:
                return Outcome(ref=item.ref, error=exc)

        return list(await asyncio.gather(*(one(item) for item in items)))
