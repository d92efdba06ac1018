"""Twilio-compatible SMS REST API (``SMS_API_URL`` setting).

Inbound messages and status callbacks are form posts signed with ``X-Twilio-Signature``:
base64(HMAC-SHA1(auth token, full URL + each POST parameter name and value, sorted by name)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import httpx
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from inbox.providers.base import (
    FetchedMedia,
    InboundMessage,
    Outbound,
    Outcome,
    ParsedEvent,
    Provider,
    ProviderError,
    SendResult,
    StatusUpdate,
)
from inbox.providers.download import DownloadFailed, download

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
# Shown to agents with the failed message (error title).
ERR_UNREACHABLE = _("Could not reach the SMS provider.")
ERR_MEDIA_URL = _("Media URL outside the SMS provider.")
ERR_MEDIA_DOWNLOAD = _("Could not download the media.")
# Twilio statuses mapped to ours; the rest (accepted, sending, scheduled...) carry no news.
STATUS_MAP = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}
MEDIA_KINDS = {"image": "image", "audio": "audio", "video": "video"}
# Message SIDs are stored as provider message ids (128 characters); a phone number written any
# way a person might (spaces, punctuation, a carrier prefix) stays well inside 40.
MAX_SID = 128
MAX_PHONE = 40


def _field(value: Any) -> str:
    """One form field as text: the first of repeated values; what is not text is missing."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


# GSM 03.38: the basic character set and the extension table (each extension character takes
# two septets). A text with any other character is sent as UCS-2.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "^{}\\[~]|€\f"
_GSM7 = set(GSM7_BASIC)
_GSM7_EXT = set(GSM7_EXTENSION)


def sms_segments(text: str) -> tuple[str, int]:
    """``(encoding, segments)`` of an SMS text: ``"GSM-7"`` (160 septets in one message, 153
    per part when split) or ``"UCS-2"`` (70 characters, 67 per part; emoji outside the BMP
    take two). Providers bill per segment."""
    if all(ch in _GSM7 or ch in _GSM7_EXT for ch in text):
        septets = sum(2 if ch in _GSM7_EXT else 1 for ch in text)
        return "GSM-7", 1 if septets <= 160 else -(-septets // 153)
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    return "UCS-2", 1 if units <= 70 else -(-units // 67)


def twilio_signature(auth_token: str, url: str, params: dict[str, Any] | None) -> str:
    data = url
    params = params or {}
    for key in sorted(params.keys()):
        value = params[key]
        values = value if isinstance(value, list) else [value]
        for item in values:
            data += f"{key}{item}"
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sms_error(response: httpx.Response) -> ProviderError:
    try:
        err = response.json()
    except ValueError:
        err = {}
    return ProviderError(
        str(err.get("message") or f"HTTP {response.status_code}"),
        code=str(err.get("code") or response.status_code),
        details=str(err.get("more_info") or ""),
        retryable=response.status_code == 429 or response.status_code >= 500,
        status=response.status_code,
    )


class SmsProvider(Provider):
    kind = "sms"
    supports_media = False

    @property
    def account_sid(self) -> str:
        return str(self.channel.config.get("account_sid", ""))

    @property
    def from_number(self) -> str:
        return str(self.channel.config.get("from_number", ""))

    def _auth(self) -> tuple[str, str]:
        return (self.account_sid, self.channel.auth_token)

    def _url(self, path: str) -> str:
        return f"{settings.SMS_API_URL.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/{path}"

    def send_text(self, *, to: str, text: str, reply_to: str = "") -> SendResult:
        form = {"To": to, "From": self.from_number, "Body": text}
        if self.callback_url:
            form["StatusCallback"] = self.callback_url
        try:
            with httpx.Client(timeout=TIMEOUT) as client:
                response = client.post(self._url("Messages.json"), data=form, auth=self._auth())
        except httpx.HTTPError as exc:
            raise ProviderError(ERR_UNREACHABLE, code="network", details=str(exc), retryable=True) from exc
        if response.status_code >= 400:
            raise sms_error(response)
        data = response.json()
        return SendResult(provider_message_id=str(data.get("sid", "")), status="sent", raw=data)

    async def asend(self, item: Outbound) -> Outcome:
        from inbox.providers import http

        form = {"To": item.to, "From": self.from_number, "Body": item.text}
        if item.callback_url or self.callback_url:
            form["StatusCallback"] = item.callback_url or self.callback_url
        status, data = await http.request(
            "POST", self._url("Messages.json"), data=form, auth=self._auth(), what="the SMS provider"
        )
        _encoding, segments = sms_segments(item.text)
        if status >= 400:
            data = data if isinstance(data, dict) else {}
            raise ProviderError(
                str(data.get("message") or f"HTTP {status}"),
                code=str(data.get("code") or status),
                details=str(data.get("more_info") or ""),
                retryable=status == 429 or status >= 500,
                status=status,
            )
        data = data if isinstance(data, dict) else {}
        try:
            segments = int(data.get("num_segments") or segments)
        except (TypeError, ValueError):
            pass
        return Outcome(
            ref=item.ref,
            result=SendResult(provider_message_id=str(data.get("sid", "")), status="sent"),
            segments=segments,
        )

    def verify_signature(self, *, body: bytes, headers, url: str = "", params=None) -> bool:
        header = headers.get("X-Twilio-Signature")
        if not header or not self.channel.auth_token:
            return False
        expected = twilio_signature(self.channel.auth_token, url, params or {})
        return hmac.compare_digest(expected, header.strip())

    def parse(self, payload: Any) -> ParsedEvent:
        """``payload`` is the form as a dict of lists (``QueryDict.lists()``). Any JSON value is
        accepted: a field that is not text counts as missing, and what cannot be a message or
        a status is skipped with the reason in ``ignored``."""
        event = ParsedEvent()
        if not isinstance(payload, dict):
            event.ignored.append("malformed form")
            return event
        form = {k: _field(v) for k, v in payload.items()}
        sid = form.get("MessageSid") or form.get("SmsSid") or ""
        if not sid:
            event.ignored.append("no MessageSid")
            return event
        if len(sid) > MAX_SID:
            event.ignored.append("MessageSid too long")
            return event
        status = form.get("MessageStatus") or form.get("SmsStatus") or ""
        if status == "received" or ("Body" in form and "MessageStatus" not in form):
            media_url = form.get("MediaUrl0", "")
            mime = form.get("MediaContentType0", "")[:120]
            kind = "text"
            if media_url:
                kind = MEDIA_KINDS.get(mime.split("/")[0], "document")
            sender = form.get("From", "")
            if not sender or len(sender) > MAX_PHONE:
                event.ignored.append("message without a sender phone")
                return event
            event.messages.append(
                InboundMessage(
                    provider_message_id=sid,
                    phone=sender,
                    wa_id=None,
                    name=None,
                    kind=kind,
                    body=form.get("Body", ""),
                    media_id=media_url,
                    media_mime=mime,
                )
            )
        elif status in STATUS_MAP:
            event.statuses.append(
                StatusUpdate(
                    provider_message_id=sid,
                    status=STATUS_MAP[status],
                    error_code=form.get("ErrorCode", ""),
                    error_title=form.get("ErrorMessage", "") or ("Undelivered" if status == "undelivered" else ""),
                )
            )
        else:
            event.ignored.append(f"status {status[:40]!r}")
        return event

    def fetch_media(self, *, media_id: str) -> FetchedMedia:
        # The URL comes from the webhook: only ever send our credentials to the provider's API.
        if not media_id.startswith(settings.SMS_API_URL.rstrip("/") + "/"):
            raise ProviderError(ERR_MEDIA_URL, code="media")
        # Twilio answers with a redirect to its file store: each hop is checked (the provider's
        # own origin gets the credentials; others must be public HTTPS hosts and get none).
        try:
            content, content_type = download(
                media_id, trusted=[settings.SMS_API_URL], public_https=True, auth=self._auth()
            )
        except DownloadFailed as exc:
            raise sms_error(exc.response) from None
        mime = (content_type or "application/octet-stream").split(";")[0].strip()
        return FetchedMedia(content=content, mime=mime)
