"""WhatsApp Web (QR code) through the ``wa-sessions`` process.

Web and worker processes never hold a WhatsApp connection: they publish commands on a Redis
channel, and the ``wa-sessions`` process (``manage.py wa_sessions``) owns the live sessions and
reports what happens (QR codes, state changes, inbound messages, receipts).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.redis import redis_client
from core.tenancy import current_schema
from inbox.providers.base import Outbound, Outcome, Pace, Provider, ProviderError, SendResult

COMMANDS_CHANNEL = "wa-sessions:commands"
EVENTS_CHANNEL = "wa-sessions:events"
ERR_SESSION_CLOSED = _("The WhatsApp Web session is not connected. Scan the QR code again.")


def publish_command(command: dict[str, Any], *, on_commit: bool = True) -> None:
    """Send a command to the ``wa-sessions`` process (after commit by default)."""
    data = json.dumps({**command, "schema": current_schema()})

    def publish():
        redis_client().publish(COMMANDS_CHANNEL, data)

    if on_commit:
        transaction.on_commit(publish)
    else:
        publish()


def whatsapp_web_message_id() -> str:
    # The same shape whatsmeow's GenerateMessageID produces, so ids we assign up front are
    # used as the real message id and receipts find the message.
    return "3EB0" + secrets.token_hex(10).upper()


class WhatsAppWebProvider(Provider):
    kind = "whatsapp_web"
    supports_reactions = False

    def send_text(self, *, to: str, text: str, reply_to: str = "") -> SendResult:
        if self.channel.session_state != "open":
            raise ProviderError(ERR_SESSION_CLOSED, code="session")
        message_id = whatsapp_web_message_id()
        publish_command(
            {
                "cmd": "send",
                "channel": self.channel.pk,
                "to": to.lstrip("+"),
                "text": text,
                "message_id": message_id,
            }
        )
        # "queued": the session process reports "sent" when WhatsApp acknowledged it.
        return SendResult(provider_message_id=message_id, status="queued")

    def pace(self) -> Pace:
        # A phone's pace: one at a time, a pause before each with "typing..." shown for part of
        # it. The engine takes the pause range from the number's SendingLimit.
        return Pace(one_at_a_time=True, min_delay=4.0, max_delay=12.0, typing=2.0)

    async def asend(self, item: Outbound) -> Outcome:
        """Queue one campaign message on the session process (typing presence first). A
        session that is not open stops the campaign with a clear reason (code ``session``)."""
        from core.redis import async_redis_client

        if self.channel.session_state != "open":
            raise ProviderError(ERR_SESSION_CLOSED, code="session")
        message_id = whatsapp_web_message_id()
        command = {
            "cmd": "send",
            "channel": self.channel.pk,
            "to": item.to.lstrip("+"),
            "text": item.text,
            "message_id": message_id,
            "typing": self.pace().typing,
            "schema": self.schema,
        }
        await async_redis_client().publish(COMMANDS_CHANNEL, json.dumps(command))
        return Outcome(ref=item.ref, result=SendResult(provider_message_id=message_id, status="queued"))

    @property
    def schema(self) -> str:
        return getattr(self, "_schema", "") or current_schema()
