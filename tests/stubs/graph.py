"""Loopback stand-in for the WhatsApp Cloud API (Graph API), speaking its real wire formats:
messages, media upload, media object + download URL, debug_token, and Graph error objects
(``{"error": {...}}``). The one Graph stub of the project: app tests and benchmarks share it.

For campaigns it also behaves like Meta under load:

- counts accepted sends per recipient (``accepted``) and every attempt per phone number per
  second (``attempts``), so a benchmark can prove "never twice" and "never over the limit";
- enforces a throughput limit per phone number (``limit_mps``): past it, 130429;
- answers any of Meta's send error codes on demand (``fail_codes``: recipient -> codes for its
  next attempts; ``fail_to``: recipient -> a fixed answer);
- sends signed status webhooks (sent, delivered, read) back to the intake, as Meta does, each
  carrying the send's ``biz_opaque_callback_data`` (``webhooks``: phone number id -> where and
  with which app secret), several statuses per delivery when they pile up.

Fast enough not to be the brake of a campaign benchmark: asyncio + httptools
(``tests.stubs.aserver``), in a thread of the test process or in a process of its own
(``python -m tests.stubs.graph --port N``; configured and read through ``/_stub/*``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import heapq
import hmac
import itertools
import json
import re
import secrets
import time
from collections import Counter, defaultdict
from typing import Any

from tests.stubs.aserver import AsyncStubServer
from tests.stubs.graph_templates import TemplatesMixin
from tests.stubs.http import Recorded

__all__ = ["ERRORS", "GraphStub", "Recorded", "graph_error"]


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


# Meta's send errors: code -> (HTTP status, message, details), as the Cloud API answers them.
ERRORS: dict[int, tuple[int, str, str]] = {
    130429: (400, "Rate limit hit", "Cloud API message throughput has been reached."),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit", "Too many messages to this number."),
    131057: (400, "Account in maintenance mode", "Business Account is in maintenance mode."),
    131000: (500, "Something went wrong", "Message failed to send because of an unknown error."),
    131016: (503, "Service unavailable", "A service is temporarily unavailable."),
    131026: (400, "Message undeliverable", "Unable to deliver message."),
    131047: (400, "Re-engagement message", "More than 24 hours have passed since the recipient last replied."),
    131049: (
        400,
        "Meta chose not to deliver.",
        "This message was not delivered to maintain healthy ecosystem engagement.",
    ),
    131050: (400, "Unable to deliver the message", "The user has stopped marketing messages from this business."),
    132000: (400, "Number of parameters does not match the expected number of params", "body: 2 expected, 1 given."),
    132001: (400, "Template name does not exist in the translation", "template name (promo) does not exist in pt_BR."),
    132012: (400, "Parameter format does not match format in the created template", "header: expected IMAGE."),
    131048: (
        400,
        "Spam rate limit hit",
        "Message failed to send because there are restrictions on how many messages can be sent from this phone number.",
    ),
    132015: (400, "Template is Paused", "Template is paused due to low quality."),
    132016: (400, "Template is Disabled", "Template has been paused too many times due to low quality."),
    368: (400, "Temporarily blocked for policies violations", "The WhatsApp Business Account is restricted."),
}


def error_response(code: int) -> tuple[int, dict]:
    status, message, details = ERRORS.get(code, (400, f"Error {code}", ""))
    return status, graph_error(code, f"(#{code}) {message}", title=message, details=details)


class GraphStub(TemplatesMixin, AsyncStubServer):
    """Graph API ``/<version>/...``. Configure ``token`` (the valid access token), ``fail_to``
    (recipient -> (HTTP status, Graph error object)), ``fail_codes`` (recipient -> Meta codes
    answered to its next attempts, one each), ``media`` (media id -> (bytes, mime)),
    ``limit_mps`` (phone number id -> messages per second; ``"*"`` for every number) and
    ``webhooks`` (phone number id -> {"url", "secret", "display_phone"})."""

    def __init__(
        self,
        version: str = "v21.0",
        token: str = "EAAG-test-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        record_requests: bool = True,
    ):
        super().__init__(host, port, record_requests=record_requests)
        self.version = version
        self.token = token
        self.media: dict[str, tuple[bytes, str]] = {}
        self.media_urls: dict[str, str] = {}  # media id -> the download URL to hand out instead
        self.uploaded: dict[str, tuple[bytes, str]] = {}
        self.token_info: dict[str, Any] = {"is_valid": True, "expires_at": 0, "scopes": ["whatsapp_business_messaging"]}
        self.next_ids: list[str] = []  # message ids to hand out next (tests that need to know them)
        self.fail_to: dict[str, tuple[int, dict]] = {}
        self.fail_codes: dict[str, list[int]] = {}
        self.limit_mps: dict[str, int] = {}
        self.webhooks: dict[str, dict[str, str]] = {}
        # Seconds after the send at which each status is reported, and the share that is read.
        self.delays = {"sent": 0.0, "delivered": 0.3, "read": 0.8}
        self.read_share = 1.0
        self.webhook_batch = 100
        self.reset_counts()
        self.reset_templates()  # message templates: tests/stubs/graph_templates.py

    # --- counters -------------------------------------------------------------------------

    def reset_counts(self) -> None:
        self.sent: list[dict] = []  # bodies of accepted sends (when recording)
        self.accepted: Counter[str] = Counter()  # recipient -> accepted sends
        self.attempts: dict[str, Counter[int]] = defaultdict(Counter)  # phone number id -> second -> attempts
        self.accepted_at: dict[str, list[float]] = defaultdict(list)  # phone number id -> accept times
        self.rejected: Counter[int] = Counter()  # Meta code -> answers
        self.last_accepted: dict[str, float] = {}
        self.webhooks_posted = 0
        self.statuses_posted = 0
        self.posted_by_status: Counter[str] = Counter()
        self.webhook_errors = 0
        self._outbox: list[tuple[float, int, str, dict]] = []  # a heap by due time
        self._seq = itertools.count()

    def stats(self) -> dict[str, Any]:
        return {
            "accepted": sum(self.accepted.values()),
            "distinct": len(self.accepted),
            "duplicates": sum(1 for n in self.accepted.values() if n > 1),
            "rejected": {str(k): v for k, v in self.rejected.items()},
            "attempts": {pnid: {str(s): n for s, n in sorted(c.items())} for pnid, c in self.attempts.items()},
            "last_accepted": self.last_accepted,
            "webhooks_posted": self.webhooks_posted,
            "statuses_posted": self.statuses_posted,
            "posted_by_status": dict(self.posted_by_status),
            "webhook_errors": self.webhook_errors,
            "pending_statuses": len(self._outbox),
        }

    def windows_over(self, phone_number_id: str, limit: int) -> int:
        """One-second windows (whole seconds) in which more than ``limit`` sends arrived."""
        return sum(1 for n in self.attempts.get(phone_number_id, Counter()).values() if n > limit)

    # --- routing --------------------------------------------------------------------------

    def _authorized(self, record: Recorded) -> bool:
        return record.headers.get("Authorization") == f"Bearer {self.token}"

    def route(self, record: Recorded):
        if record.path.startswith("/_stub/"):
            return self._control(record)
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
            # Graph takes the calling token as ?access_token= or as a bearer header.
            caller = record.query.get("access_token", [""])[0] or record.headers.get("Authorization", "")[7:]
            if caller != self.token:
                return 400, {}, graph_error(190, "An access token is required to request this resource.")
            if record.query.get("input_token", [""])[0] != self.token:
                return 400, {}, graph_error(190, "Invalid OAuth access token - Cannot parse access token")
            return 200, {}, {"data": {"app_id": "1", "type": "SYSTEM_USER", **self.token_info}}
        if not self._authorized(record):
            return 401, {}, expired
        match = re.fullmatch(r"(\d+)/messages", rest)
        if match and record.method == "POST":
            return self._message(match.group(1), record.json())
        if record.method == "GET" and re.fullmatch(r"\d+", rest) and rest not in self.media:
            # A phone number node: Meta answers only a token with access to the number.
            return 200, {}, {"id": rest, "display_phone_number": "+55 11 3000-0000", "verified_name": "Acme"}
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
                    "url": self.media_urls.get(rest, f"{self.url}/download/{rest}"),
                    "mime_type": mime,
                    "sha256": "0" * 64,
                    "file_size": len(content),
                    "id": rest,
                },
            )
        templates = self.route_templates(rest, record)
        if templates is not None:
            return templates
        return 404, {}, graph_error(100, f"Unsupported request - method type: {record.method.lower()}", subcode=33)

    def _message(self, phone_number_id: str, body: dict):
        if body.get("status") == "read":
            return 200, {}, {"success": True}
        now = time.time()
        self.attempts[phone_number_id][int(now)] += 1
        to = str(body.get("to", ""))
        if to in self.fail_to:
            status, error = self.fail_to[to]
            return status, {}, error
        limit = self.limit_mps.get(phone_number_id) or self.limit_mps.get("*")
        if limit and self.attempts[phone_number_id][int(now)] > limit:
            self.rejected[130429] += 1
            status, error = error_response(130429)
            return status, {}, error
        codes = self.fail_codes.get(to)
        if codes:
            code = codes.pop(0)
            self.rejected[code] += 1
            status, error = error_response(code)
            return status, {}, error
        self.accepted[to] += 1
        self.last_accepted[phone_number_id] = now
        if self.record_requests:
            self.sent.append(body)
            self.accepted_at[phone_number_id].append(now)
        wamid = self.next_ids.pop(0) if self.next_ids else "wamid.HBgN" + secrets.token_hex(16).upper()
        if self.webhooks.get(phone_number_id):  # an emptied entry turns the webhooks off
            self._report(phone_number_id, wamid, to, str(body.get("biz_opaque_callback_data") or ""), now)
        return (
            200,
            {},
            {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": wamid}]},
        )

    # --- status webhooks ------------------------------------------------------------------

    def _report(self, phone_number_id: str, wamid: str, to: str, callback: str, now: float) -> None:
        stages = ["sent", "delivered"]
        if self.read_share >= 1 or secrets.randbelow(1000) < self.read_share * 1000:
            stages.append("read")
        for stage in stages:
            status = {"id": wamid, "status": stage, "timestamp": str(int(now)), "recipient_id": to}
            if callback:
                status["biz_opaque_callback_data"] = callback
            if stage != "read":
                status["conversation"] = {"id": secrets.token_hex(8), "origin": {"type": "marketing"}}
                status["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "marketing"}
            heapq.heappush(self._outbox, (now + self.delays[stage], next(self._seq), phone_number_id, status))

    async def started(self) -> None:
        self._flusher = asyncio.ensure_future(self._flush_loop())

    async def stopping(self) -> None:
        self._flusher.cancel()
        session = getattr(self, "_session", None)
        if session is not None:
            await session.close()

    async def _flush_loop(self) -> None:
        import aiohttp

        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32))
        while True:
            await asyncio.sleep(0.02)
            if not self._outbox:
                continue
            now = time.time()
            by_number: dict[str, list[dict]] = defaultdict(list)
            while self._outbox and self._outbox[0][0] <= now:
                _at, _seq, pnid, status = heapq.heappop(self._outbox)
                by_number[pnid].append(status)
            if not by_number:
                continue
            posts = []
            for pnid, statuses in by_number.items():
                for start in range(0, len(statuses), self.webhook_batch):
                    posts.append(self._post(pnid, statuses[start : start + self.webhook_batch]))
            await asyncio.gather(*posts)

    async def _post(self, phone_number_id: str, statuses: list[dict]) -> None:
        target = self.webhooks.get(phone_number_id)
        if not target:
            return
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "0",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": target.get("display_phone", ""),
                                    "phone_number_id": phone_number_id,
                                },
                                "statuses": statuses,
                            },
                        }
                    ],
                }
            ],
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        signature = "sha256=" + hmac.new(target["secret"].encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        if target.get("host"):
            headers["Host"] = target["host"]
        for attempt in range(5):  # Meta retries failed deliveries too
            try:
                async with self._session.post(target["url"], data=body, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        self.webhooks_posted += 1
                        self.statuses_posted += len(statuses)
                        for status in statuses:
                            self.posted_by_status[status["status"]] += 1
                        return
            except Exception:  # noqa: BLE001 - counted, retried
                pass
            self.webhook_errors += 1
            await asyncio.sleep(0.2 * (attempt + 1))

    # --- control (process mode) -----------------------------------------------------------

    def _control(self, record: Recorded):
        name = record.path[len("/_stub/") :].strip("/")
        if name == "stats":
            return 200, {}, self.stats()
        if name == "recipients":
            return 200, {}, dict(self.accepted)
        if name == "reset":
            self.reset_counts()
            return 200, {}, {"ok": True}
        if name == "config" and record.method == "POST":
            config = record.json()
            for key in ("limit_mps", "webhooks", "delays", "fail_codes"):
                if key in config:
                    getattr(self, key).update(config[key])
            for key in ("read_share", "token", "webhook_batch"):
                if key in config:
                    setattr(self, key, config[key])
            return 200, {}, {"ok": True}
        return 404, {}, {"error": "unknown control"}


def main() -> None:
    parser = argparse.ArgumentParser(description="Graph API stub (its own process)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default="EAAG-test-token")
    args = parser.parse_args()
    stub = GraphStub(token=args.token, port=args.port, record_requests=False)
    from tests.stubs.aserver import _new_loop

    loop = _new_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(stub.serve())


if __name__ == "__main__":
    main()
