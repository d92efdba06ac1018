"""Loopback stand-in for the WhatsApp Cloud API (Graph API), speaking its real wire formats:
messages, media upload, media object + download URL, debug_token, and Graph error objects
(``{"error": {...}}``)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from tests.stubs.http import Recorded, StubServer

__all__ = ["GraphStub", "Recorded", "graph_error"]


def graph_error(code: int, message: str, *, title: str = "", details: str = "", subcode: int | None = None) -> dict:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A" + secrets.token_hex(8),
    }
    if subcode:
        error["error_subcode"] = subcode
    if title:
        error["error_user_title"] = title
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


class GraphStub(StubServer):
    """Graph API ``/<version>/...``. Configure ``token`` (the valid access token), ``fail_to``
    (recipient -> Graph error object), ``media`` (media id -> (bytes, mime))."""

    def __init__(self, version: str = "v21.0", token: str = "EAAG-test-token"):
        super().__init__()
        self.version = version
        self.token = token
        self.fail_to: dict[str, tuple[int, dict]] = {}
        self.media: dict[str, tuple[bytes, str]] = {}
        self.uploaded: dict[str, tuple[bytes, str]] = {}
        self.token_info: dict[str, Any] = {"is_valid": True, "expires_at": 0, "scopes": ["whatsapp_business_messaging"]}
        self.sent: list[dict] = []
        self.next_ids: list[str] = []  # message ids to hand out next (tests that need to know them)

    def _authorized(self, record: Recorded) -> bool:
        return record.headers.get("Authorization") == f"Bearer {self.token}"

    def route(self, record: Recorded):
        expired = graph_error(
            190, "Error validating access token: Session has expired on Monday, 24-Nov-26.", subcode=463
        )
        if record.path.startswith("/download/"):
            if not self._authorized(record):
                return 401, {}, expired
            media_id = record.path.rsplit("/", 1)[-1]
            content, mime = self.media[media_id]
            return 200, {"Content-Type": mime}, content
        prefix = f"/{self.version}/"
        if not record.path.startswith(prefix):
            return 404, {}, graph_error(100, "Unknown path components")
        rest = record.path[len(prefix) :]
        if rest == "debug_token":
            if record.query.get("input_token", [""])[0] != self.token:
                return 400, {}, graph_error(190, "Invalid OAuth access token - Cannot parse access token")
            return 200, {}, {"data": {"app_id": "1", "type": "SYSTEM_USER", **self.token_info}}
        if not self._authorized(record):
            return 401, {}, expired
        match = re.fullmatch(r"(\d+)/messages", rest)
        if match and record.method == "POST":
            body = record.json()
            if body.get("status") == "read":
                return 200, {}, {"success": True}
            to = body.get("to", "")
            if to in self.fail_to:
                status, error = self.fail_to[to]
                return status, {}, error
            self.sent.append(body)
            wamid = self.next_ids.pop(0) if self.next_ids else "wamid.HBgN" + secrets.token_hex(16).upper()
            return (
                200,
                {},
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": wamid}],
                },
            )
        match = re.fullmatch(r"(\d+)/media", rest)
        if match and record.method == "POST":
            media_id = str(1000 + len(self.uploaded))
            self.uploaded[media_id] = (record.body, record.headers.get("Content-Type", ""))
            return 200, {}, {"id": media_id}
        if record.method == "GET" and rest in self.media:
            content, mime = self.media[rest]
            return (
                200,
                {},
                {
                    "messaging_product": "whatsapp",
                    "url": f"{self.url}/download/{rest}",
                    "mime_type": mime,
                    "sha256": "0" * 64,
                    "file_size": len(content),
                    "id": rest,
                },
            )
        return 404, {}, graph_error(100, f"Unsupported request - method type: {record.method.lower()}", subcode=33)
