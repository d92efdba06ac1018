"""The inbox's stored event log: what agents' screens are told, and what a reconnecting socket
catches up on.

Two layers, two modules. ``core.realtime`` is the transport: it sends an event dict to
channel-layer groups of the current company after commit. This module is the log on top of
it: every change agents should see is written as a ``RealtimeEvent`` row (its id is the
event id a client remembers) and then sent through the transport. It owns, for the sender
(the services) and the receiver (``inbox.consumers``) alike:

- the group names (``INBOX_GROUP``, ``conversation_group``, ``channel_group``; the transport
  prefixes them with the company schema), and which groups a stored event goes to
  (``groups_for``);
- the event shape (``stored_event``): the row's payload plus ``type``, ``op``, ``id`` and,
  when the event is about a conversation, ``conversation``. Live events and catch-up replays
  are built by the same function, so a client cannot tell them apart.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.realtime import scoped_group, send_event_on_commit, send_many
from core.tenancy import require_tenant_schema
from inbox import retention, watching
from inbox.models import Conversation, Message, RealtimeEvent
from inbox.selectors import serialize_conversation, serialize_message

INBOX_GROUP = "inbox"
# Above this many open conversations in one status batch the sends are not waited for (the
# worker goes on with its next batch; see ``statuses_send_on_commit``).
BACKGROUND_SEND_THRESHOLD = 100
SEND_CHUNK = 200


def conversation_group(conversation_id: int) -> str:
    """Sockets that show this conversation (joined on ``subscribe``)."""
    return f"conversation.{conversation_id}"


def channel_group(channel_id: int) -> str:
    """Sockets that show this channel's settings page (its live QR code)."""
    return f"channel.{channel_id}"


def groups_for(row: RealtimeEvent) -> list[str]:
    """The company's ``inbox`` group and the conversation's group. Delivery ticks go to the
    conversation's group only: they matter to whoever has that thread open, and a campaign's
    hundreds of thousands of them must not flood every agent's socket (catch-up still replays
    them from the log)."""
    conversation = [conversation_group(row.conversation_id)] if row.conversation_id is not None else []
    if row.type == "message" and row.op == "status" and conversation:
        return conversation
    return [INBOX_GROUP, *conversation]


def stored_event(row: RealtimeEvent) -> dict[str, Any]:
    """The event dict a ``RealtimeEvent`` row stands for, live or replayed."""
    event = dict(row.payload or {})
    event.update({"type": row.type, "op": row.op, "id": row.pk})
    if row.conversation_id is not None:
        event.setdefault("conversation", row.conversation_id)
    return event


def emit(
    *,
    type: str,
    op: str,
    payload: dict[str, Any],
    conversation_id: int | None = None,
    user_ids: list[int] | None = None,
) -> RealtimeEvent:
    """Store the event (for catch-up) and send it after commit: to ``user_ids`` only when
    given, else to the groups of ``groups_for``."""
    row = RealtimeEvent.objects.create(
        type=type, op=op, payload=payload, conversation_id=conversation_id, user_ids=user_ids or []
    )
    retention.logs_appeared(retention.REALTIME_EVENT_RETENTION)
    event = stored_event(row)
    if row.user_ids:
        send_event_on_commit(event, user_ids=list(row.user_ids))
    else:
        send_event_on_commit(event, groups=groups_for(row))
    return row


def emit_message(message: Message, op: str) -> RealtimeEvent:
    """``message.<op>`` with the message as the API shows it (``new``, ``status``, ``updated``)."""
    return emit(
        type="message", op=op, payload={"message": serialize_message(message)}, conversation_id=message.conversation_id
    )


def emit_conversation(conversation: Conversation, op: str = "updated", **extra: Any) -> RealtimeEvent:
    """``conversation.<op>`` with the conversation's list row data, plus ``extra`` keys."""
    return emit(
        type="conversation",
        op=op,
        payload={"data": serialize_conversation(conversation), **extra},
        conversation_id=conversation.pk,
    )


def statuses_send_on_commit(changes: list[tuple[int, int, dict[str, Any]]]) -> None:
    """Send stored status events after commit, one channel-layer message per conversation that
    someone has open (``inbox.watching``).

    ``changes`` holds ``(event id, conversation id, message)`` rows whose events are already
    stored (``message_statuses_apply`` writes them in its own statement). A campaign's burst
    of delivery reports changes thousands of messages per batch, nearly all in conversations
    nobody is looking at: those cost nothing here (the log keeps every change for catch-up,
    and a conversation opened later shows its current ticks). An open conversation gets one
    ``message.statuses`` event with every event id it covers, so clients skip them on
    catch-up.
    """
    if not changes:
        return
    schema = require_tenant_schema()
    by_conversation: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for event_id, conversation_id, message in changes:
        by_conversation.setdefault(conversation_id, []).append((event_id, message))

    def send() -> None:
        open_now = watching.watched(schema)
        messages: list[tuple[str, dict]] = []
        for conversation_id, items in by_conversation.items():
            if open_now is not None and conversation_id not in open_now:
                continue
            ids = [event_id for event_id, _message in items]
            event = {
                "type": "message",
                "op": "statuses",
                "id": max(ids),
                "ids": ids,
                "conversation": conversation_id,
                "messages": [message for _event_id, message in items],
            }
            groups = groups_for(RealtimeEvent(type="message", op="status", conversation_id=conversation_id))
            messages += [(scoped_group(schema, name), {"type": "app.event", "event": event}) for name in groups]
        # Many conversations: the sends are queued on the process's one sender loop without
        # waiting (in order, after earlier queued sends), so the worker goes on with the next
        # batch instead of waiting on the round trips. In chunks, so a batch touching many
        # open conversations does not hold every pooled Redis connection at once. send_many
        # logs its own failures (the data is committed; clients catch up from the log).
        wait = len(by_conversation) <= BACKGROUND_SEND_THRESHOLD
        for start in range(0, len(messages), SEND_CHUNK):
            send_many(messages[start : start + SEND_CHUNK], wait=wait)

    transaction.on_commit(send)
