"""The built-in simulated WhatsApp number.

Sends always succeed. Their sent / delivered / read statuses come back as signed Meta-format
webhooks through the same ingestion path a real provider's webhooks take: a send's result
lists them (``SendResult.reports``), the sending service schedules them
(``inbox.sandbox_emit_status``), so the demo exercises the real pipeline end to end.
"""

from __future__ import annotations

import secrets
from typing import Any

from inbox.providers.base import Outbound, Outcome, ParsedEvent, Provider, SendResult
from inbox.providers.meta import parse_meta_payload, verify_meta_signature

# Seconds after sending at which each status is reported.
STATUS_DELAYS = (("sent", 0.3), ("delivered", 1.0), ("read", 2.5))


def sandbox_message_id() -> str:
    return "wamid.SANDBOX" + secrets.token_hex(12).upper()


class SandboxProvider(Provider):
    kind = "sandbox"
    supports_templates = False
    supports_reactions = True
    supports_media = True

    def _accepted(self, to: str) -> SendResult:
        return SendResult(
            provider_message_id=sandbox_message_id(), status="sent", raw={"sandbox": True}, reports=STATUS_DELAYS
        )

    def send_text(self, *, to: str, text: str, reply_to: str = "") -> SendResult:
        return self._accepted(to)

    def send_media(
        self, *, to: str, kind: str, content: bytes, mime: str, filename: str, caption: str = ""
    ) -> SendResult:
        return self._accepted(to)

    def send_reaction(self, *, to: str, provider_message_id: str, emoji: str) -> SendResult:
        return SendResult(provider_message_id=sandbox_message_id(), raw={"sandbox": True})

    async def asend(self, item: Outbound) -> Outcome:
        """Campaign sends: accepted at once, at full speed. Their statuses (and a few simulated
        replies) are reported through the real webhook path by
        ``inbox.services.sandbox_statuses_schedule``, which the engine calls after commit."""
        return Outcome(ref=item.ref, result=SendResult(provider_message_id=sandbox_message_id(), raw={"sandbox": True}))

    def verify_signature(self, *, body: bytes, headers, url: str = "", params=None) -> bool:
        return verify_meta_signature(self.channel.app_secret, body, headers.get("X-Hub-Signature-256"))

    def parse(self, payload: Any) -> ParsedEvent:
        return parse_meta_payload(payload, phone_number_id=self.channel.phone_number_id)
