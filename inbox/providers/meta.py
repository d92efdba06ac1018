"""Meta WhatsApp webhook format: signature check and parsing (shared by Cloud API and sandbox)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

from inbox.providers.base import InboundMessage, ParsedEvent, StatusUpdate

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


def meta_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_meta_signature(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    return hmac.compare_digest(meta_signature(secret, body), header.strip())


def _ts(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _message(raw: dict, names: dict[str, str]) -> InboundMessage:
    mtype = raw.get("type", "")
    kind = _KIND.get(mtype, "unsupported")
    sender = str(raw.get("from", ""))
    body = ""
    media_id = mime = filename = reply_to = ""
    payload: dict[str, Any] = {}
    part: dict[str, Any] = raw[mtype] if isinstance(raw.get(mtype), dict) else {}
    if mtype == "text":
        body = str(part.get("body", ""))
    elif mtype in {"image", "audio", "voice", "video", "document", "sticker"}:
        media_id = str(part.get("id", ""))
        mime = str(part.get("mime_type", ""))
        filename = str(part.get("filename", ""))
        body = str(part.get("caption", ""))
    elif mtype == "location":
        payload = {k: part.get(k) for k in ("latitude", "longitude", "name", "address") if k in part}
        body = str(part.get("name") or part.get("address") or "")
    elif mtype == "reaction":
        body = str(part.get("emoji", ""))
        reply_to = str(part.get("message_id", ""))
    elif mtype == "button":
        body = str(part.get("text", ""))
    elif mtype == "interactive":
        reply = part.get("button_reply") or part.get("list_reply") or {}
        body = str(reply.get("title", ""))
        payload = {"interactive": part}
    else:
        payload = {"type": mtype}
    context = raw.get("context") or {}
    if not reply_to and isinstance(context, dict):
        reply_to = str(context.get("id", ""))
    return InboundMessage(
        provider_message_id=str(raw.get("id", "")),
        phone=sender,
        wa_id=sender or None,
        name=names.get(sender),
        kind=kind,
        body=body,
        media_id=media_id,
        media_mime=mime,
        media_filename=filename,
        timestamp=_ts(raw.get("timestamp")),
        reply_to_provider_id=reply_to,
        payload=payload,
    )


def _status(raw: dict) -> StatusUpdate:
    errors = raw.get("errors") or []
    err = errors[0] if errors and isinstance(errors[0], dict) else {}
    details = ""
    if err:
        details = str((err.get("error_data") or {}).get("details") or err.get("message") or "")
    return StatusUpdate(
        provider_message_id=str(raw.get("id", "")),
        status=str(raw.get("status", "")),
        timestamp=_ts(raw.get("timestamp")),
        error_code=str(err.get("code", "")) if err else "",
        error_title=str(err.get("title", "")) if err else "",
        error_details=details,
    )


def parse_meta_payload(payload: Any, *, phone_number_id: str = "") -> ParsedEvent:
    """Messages and statuses of a Meta ``whatsapp_business_account`` webhook.

    Each part is parsed on its own: a malformed entry is reported in ``ignored`` and never
    costs the valid parts of the same delivery. ``phone_number_id`` (when given) drops changes
    addressed to another number that shares the app's webhook.
    """
    event = ParsedEvent()
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        event.ignored.append("not a whatsapp_business_account event")
        return event
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            event.ignored.append("malformed entry")
            continue
        for change in entry.get("changes") or []:
            if not isinstance(change, dict) or change.get("field") != "messages":
                event.ignored.append(f"field {change.get('field') if isinstance(change, dict) else '?'}")
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                event.ignored.append("malformed value")
                continue
            metadata = value.get("metadata") or {}
            if phone_number_id and str(metadata.get("phone_number_id", phone_number_id)) != phone_number_id:
                event.ignored.append("other phone_number_id")
                continue
            names = {}
            for contact in value.get("contacts") or []:
                try:
                    names[str(contact["wa_id"])] = str((contact.get("profile") or {}).get("name") or "")
                except (KeyError, TypeError, AttributeError):
                    continue
            for raw in value.get("messages") or []:
                try:
                    message = _message(raw, names)
                except (AttributeError, TypeError, ValueError):
                    event.ignored.append("malformed message")
                    continue
                if not message.provider_message_id or not message.phone:
                    event.ignored.append("message without id or sender")
                    continue
                event.messages.append(message)
            for raw in value.get("statuses") or []:
                try:
                    status = _status(raw)
                except (AttributeError, TypeError, ValueError):
                    event.ignored.append("malformed status")
                    continue
                if not status.provider_message_id or status.status not in _STATUSES:
                    event.ignored.append(f"unknown status {status.status!r}")
                    continue
                event.statuses.append(status)
            for raw in value.get("errors") or []:
                event.ignored.append(f"error {raw}")
    return event


def build_status_payload(
    *, phone_number_id: str, display_phone: str, provider_message_id: str, status: str, recipient: str, at: datetime
) -> dict:
    """A Meta-format status webhook (used by the sandbox channel and tests)."""
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
                            "statuses": [
                                {
                                    "id": provider_message_id,
                                    "status": status,
                                    "timestamp": str(int(at.timestamp())),
                                    "recipient_id": recipient,
                                }
                            ],
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
