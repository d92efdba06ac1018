"""Loopback stand-ins for the providers, speaking their real wire formats.

``GraphStub``: the WhatsApp Cloud API (Graph API) — messages, media upload, media object +
download URL, debug_token, and Graph error objects (``{"error": {...}}``).
``TwilioStub``: a Twilio-compatible SMS API — Messages.json with basic auth and Twilio errors.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, list[str]] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


class _Server:
    def __init__(self):
        self.requests: list[Recorded] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parsed = urlparse(self.path)
                record = Recorded(self.command, parsed.path, dict(self.headers), body, parse_qs(parsed.query))
                outer.requests.append(record)
                status, headers, payload = outer.route(record)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def route(self, record: Recorded):  # pragma: no cover - overridden
        return 404, {}, {}


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


class GraphStub(_Server):
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


class TwilioStub(_Server):
    def __init__(self, account_sid: str = "AC" + "1" * 32, auth_token: str = "twilio-auth-token"):
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.invalid_to: set[str] = set()
        self.media: dict[str, tuple[bytes, str]] = {}

    def route(self, record: Recorded):
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if record.headers.get("Authorization") != expected:
            return (
                401,
                {},
                {
                    "code": 20003,
                    "message": "Authenticate",
                    "more_info": "https://www.twilio.com/docs/errors/20003",
                    "status": 401,
                },
            )
        if record.path.startswith("/media/"):
            content, mime = self.media[record.path.rsplit("/", 1)[-1]]
            return 200, {"Content-Type": mime}, content
        if record.path == f"/2010-04-01/Accounts/{self.account_sid}/Messages.json" and record.method == "POST":
            form = {k: v[0] for k, v in record.form().items()}
            if form.get("To") in self.invalid_to:
                return (
                    400,
                    {},
                    {
                        "code": 21211,
                        "message": f"The 'To' number {form.get('To')} is not a valid phone number.",
                        "more_info": "https://www.twilio.com/docs/errors/21211",
                        "status": 400,
                    },
                )
            sid = "SM" + secrets.token_hex(16)
            return (
                201,
                {},
                {
                    "sid": sid,
                    "account_sid": self.account_sid,
                    "to": form.get("To"),
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "status": "queued",
                    "num_media": "0",
                },
            )
        return 404, {}, {"code": 20404, "message": "The requested resource was not found", "status": 404}
