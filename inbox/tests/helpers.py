"""Builders for provider payloads used by the inbox tests."""

from __future__ import annotations

import json
import time

from inbox.providers.meta import meta_signature


def meta_envelope(value: dict, *, phone_number_id: str = "1065550001") -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551130000000", "phone_number_id": phone_number_id},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "2025550001", "changes": [{"field": "messages", "value": value}]}],
    }


def text_message(wamid: str, wa_id: str, text: str, *, name: str = "Cliente", ts: int | None = None) -> dict:
    return {
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": wamid,
                "timestamp": str(ts or int(time.time())),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }


def status(wamid: str, state: str, *, ts: int | None = None, errors: list | None = None) -> dict:
    item = {"id": wamid, "status": state, "timestamp": str(ts or int(time.time())), "recipient_id": "5511987654321"}
    if errors:
        item["errors"] = errors
    return item


def post_meta(
    client, channel, payload, *, secret: str | None = None, raw: bytes | None = None, signature: str | None = None
):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {}
    sig = signature if signature is not None else meta_signature(secret or channel.app_secret, body)
    if sig:
        headers["HTTP_X_HUB_SIGNATURE_256"] = sig
    return client.post(
        f"/webhooks/whatsapp/{channel.public_id}/", data=body, content_type="application/json", **headers
    )
