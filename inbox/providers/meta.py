"""Meta WhatsApp webhook format: signature check and parsing (shared by Cloud API and sandbox)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from inbox.providers.base import InboundMessage, ParsedEvent, StatusUpdate, TemplateUpdate

# Meta message types we map to our kinds; anything else is kept as "unsupported".
_KIND = {
    "text": "text",
    "image": "image",
    "audio": "audio",
    "voice": "audio",
    "video": "video",
    "document": "document",
    "sticker": "sticker",
    "location": "location",
    "reaction": "reaction",
    "button": "text",
    "interactive": "text",
}
_STATUSES = {"sent", "delivered", "read", "failed"}
# Template changes Meta reports on the same webhook (the app subscribes to these fields too).
TEMPLATE_FIELDS = {"message_template_status_update": "status", "message_template_quality_update": "quality"}


def meta_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_meta_signature(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    return hmac.compare_digest(meta_signature(secret, body), header.strip())


def _ts(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _text(value: Any) -> str:
    """A documented string field as text; anything that is not a string or a number (a list,
    an object, ``null``, a boolean) counts as missing."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return str(value)
        except ValueError:  # an integer past Python's digit limit
            return ""
    return ""


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any, what: str, event: ParsedEvent) -> list:
    """The documented array ``what``: absent or ``null`` is empty, anything else is skipped."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    event.ignored.append(f"{what} is not a list")
    return []


def _short(value: Any) -> str:
    """A few characters of an unexpected value for the notes (never ``repr`` of a deep value)."""
    if isinstance(value, dict | list):
        return type(value).__name__
    return _text(value)[:40] or type(value).__name__


def _message(raw: dict, names: dict[str, str]) -> InboundMessage:
    mtype = _text(raw.get("type"))
    kind = _KIND.get(mtype, "unsupported")
    sender = _text(raw.get("from"))
    body = ""
    media_id = mime = filename = reply_to = ""
    payload: dict[str, Any] = {}
    part: dict[str, Any] = _dict(raw.get(mtype)) if mtype else {}
    if mtype == "text":
        body = _text(part.get("body"))
    elif mtype in {"image", "audio", "voice", "video", "document", "sticker"}:
        media_id = _text(part.get("id"))[:MAX_ID]
        mime = _text(part.get("mime_type"))[:120]
        filename = _text(part.get("filename"))[:255]
        body = _text(part.get("caption"))
    elif mtype == "location":
        payload = {k: part.get(k) for k in ("latitude", "longitude", "name", "address") if k in part}
        body = _text(part.get("name")) or _text(part.get("address"))
    elif mtype == "reaction":
        body = _text(part.get("emoji"))
        reply_to = _text(part.get("message_id"))
    elif mtype == "button":
        body = _text(part.get("text"))
    elif mtype == "interactive":
        reply = _dict(part.get("button_reply")) or _dict(part.get("list_reply"))
        body = _text(reply.get("title"))
        payload = {"interactive": part}
    else:
        payload = {"type": mtype}
    context = _dict(raw.get("context"))
    if not reply_to:
        reply_to = _text(context.get("id"))
    return InboundMessage(
        provider_message_id=_text(raw.get("id")),
        phone=sender,
        wa_id=sender or None,
        name=names.get(sender),
        kind=kind,
        body=body,
        media_id=media_id,
        media_mime=mime,
        media_filename=filename,
        timestamp=_ts(raw.get("timestamp")),
        reply_to_provider_id=reply_to[:MAX_ID],
        payload=payload,
    )


def _status(raw: dict) -> StatusUpdate:
    errors = raw.get("errors")
    err = _dict(errors[0]) if isinstance(errors, list) and errors else {}
    details = ""
    if err:
        details = _text(_dict(err.get("error_data")).get("details")) or _text(err.get("message"))
    return StatusUpdate(
        provider_message_id=_text(raw.get("id")),
        status=_text(raw.get("status")),
        timestamp=_ts(raw.get("timestamp")),
        error_code=_text(err.get("code")),
        error_title=_text(err.get("title")),
        error_details=details,
        callback_data=str(raw.get("biz_opaque_callback_data") or "")[:512],
    )


# Provider message ids are stored in columns of this size (``Message.provider_message_id``).
MAX_ID = 128
# A WhatsApp id is a phone number's digits (``Contact.wa_id`` holds 32 characters).
MAX_WA_ID = 32


def _template_update(kind: str, waba_id: str, value: dict, at: datetime | None) -> TemplateUpdate | None:
    template_id = str(value.get("message_template_id") or "")
    if not template_id:
        return None
    other_info = value.get("other_info")
    other: dict = other_info if isinstance(other_info, dict) else {}
    reason = value.get("reason")
    return TemplateUpdate(
        kind=kind,
        waba_id=waba_id,
        template_id=template_id,
        name=str(value.get("message_template_name") or "")[:512],
        language=str(value.get("message_template_language") or "")[:15],
        event=str(value.get("event") or "").upper()[:32],
        reason="" if reason in (None, "NONE") else str(reason)[:255],
        quality=str(value.get("new_quality_score") or "").upper()[:16],
        previous_quality=str(value.get("previous_quality_score") or "").upper()[:16],
        detail=str(other.get("title") or other.get("description") or "")[:255],
        timestamp=at,
    )


def parse_meta_payload(payload: Any, *, phone_number_id: str = "") -> ParsedEvent:
    """Messages and statuses of a Meta ``whatsapp_business_account`` webhook.

    Any JSON value is accepted at any level: what does not have the documented shape is
    skipped and the reason noted in ``ignored``, and never costs the valid parts of the same
    delivery. ``phone_number_id`` (when given) drops changes addressed to another number that
    shares the app's webhook.
    """
    event = ParsedEvent()
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        event.ignored.append("not a whatsapp_business_account event")
        return event
    for entry in _list(payload.get("entry"), "entry", event):
        if not isinstance(entry, dict):
            event.ignored.append("malformed entry")
            continue
        for change in _list(entry.get("changes"), "changes", event):
            if not isinstance(change, dict):
                event.ignored.append("malformed change")
                continue
            template_kind = TEMPLATE_FIELDS.get(str(change.get("field")))
            if template_kind is not None:
                value = change.get("value")
                update = (
                    _template_update(template_kind, str(entry.get("id") or ""), value, _ts(entry.get("time")))
                    if isinstance(value, dict)
                    else None
                )
                if update is None:
                    event.ignored.append(f"malformed {_short(change.get('field'))}")
                else:
                    event.templates.append(update)
                continue
            if change.get("field") != "messages":
                event.ignored.append(f"field {_short(change.get('field'))}")
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                event.ignored.append("malformed value")
                continue
            metadata = _dict(value.get("metadata"))
            if phone_number_id and "phone_number_id" in metadata:
                if _text(metadata.get("phone_number_id")) != phone_number_id:
                    event.ignored.append("other phone_number_id")
                    continue
            _parse_value(value, event)
    return event


def _parse_value(value: dict, event: ParsedEvent) -> None:
    names = {}
    for contact in _list(value.get("contacts"), "contacts", event):
        contact = _dict(contact)
        wa_id = _text(contact.get("wa_id"))
        if wa_id:
            names[wa_id] = _text(_dict(contact.get("profile")).get("name"))
    for raw in _list(value.get("messages"), "messages", event):
        if not isinstance(raw, dict):
            event.ignored.append("malformed message")
            continue
        message = _message(raw, names)
        if not message.provider_message_id or not message.phone:
            event.ignored.append("message without id or sender")
        elif len(message.provider_message_id) > MAX_ID:
            event.ignored.append("message id too long")
        elif len(message.phone) > MAX_WA_ID:
            event.ignored.append("sender is not a WhatsApp id")
        else:
            event.messages.append(message)
    for raw in _list(value.get("statuses"), "statuses", event):
        if not isinstance(raw, dict):
            event.ignored.append("malformed status")
            continue
        status = _status(raw)
        if not status.provider_message_id or status.status not in _STATUSES:
            event.ignored.append(f"unknown status {status.status[:40]!r}")
        elif len(status.provider_message_id) > MAX_ID:
            event.ignored.append("status of a message id too long")
        else:
            event.statuses.append(status)
    for raw in _list(value.get("errors"), "errors", event):
        raw = _dict(raw)
        event.ignored.append(f"error {_short(raw.get('code'))} {_short(raw.get('title'))}".strip())


def build_status_payload(
    *,
    phone_number_id: str,
    display_phone: str,
    provider_message_id: str = "",
    status: str = "",
    recipient: str = "",
    at: datetime,
    callback_data: str = "",
    statuses: list[dict] | None = None,
) -> dict:
    """A Meta-format status webhook (used by the sandbox channel and tests): one status, or
    several (``statuses``: dicts with ``id``, ``status``, ``recipient_id`` and optionally
    ``biz_opaque_callback_data``) in one delivery as Meta batches them."""
    if statuses is None:
        one = {"id": provider_message_id, "status": status, "recipient_id": recipient}
        if callback_data:
            one["biz_opaque_callback_data"] = callback_data
        statuses = [one]
    stamped = [{**s, "timestamp": str(int(at.timestamp()))} for s in statuses]
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "0",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": display_phone, "phone_number_id": phone_number_id},
                            "statuses": stamped,
                        },
                    }
                ],
            }
        ],
    }


def build_text_message_payload(
    *,
    phone_number_id: str,
    display_phone: str,
    provider_message_id: str,
    wa_id: str,
    name: str,
    text: str,
    at: datetime,
) -> dict:
    """A Meta-format inbound text message webhook (sandbox replies and tests)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "0",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": display_phone, "phone_number_id": phone_number_id},
                            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": provider_message_id,
                                    "timestamp": str(int(at.timestamp())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
