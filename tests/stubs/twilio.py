"""Loopback stand-in for a Twilio-compatible SMS API: Messages.json with basic auth, media and
Twilio's error objects."""

from __future__ import annotations

import base64
import secrets

from tests.stubs.http import Recorded, StubServer

__all__ = ["Recorded", "TwilioStub"]


class TwilioStub(StubServer):
    def __init__(self, account_sid: str = "AC" + "1" * 32, auth_token: str = "twilio-auth-token"):
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.invalid_to: set[str] = set()
        self.media: dict[str, tuple[bytes, str]] = {}
        self.redirects: dict[str, str] = {}  # media id -> Location (Twilio hands files to its CDN)

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
        if record.path.startswith("/media/") and record.path.rsplit("/", 1)[-1] in self.redirects:
            return 307, {"Location": self.redirects[record.path.rsplit("/", 1)[-1]]}, b""
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
