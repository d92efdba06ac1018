"""The live inbox websocket: ``/ws/inbox/``.

Who may connect is decided by ``TenantConsumer`` (company from the Host, membership checked,
fail closed). Here a member's socket joins the company's ``inbox`` group, joins the
``conversation.<id>`` groups its page asks for (only conversations of that company), relays
typing indicators to the other agents looking at a conversation, and replays what a socket
missed while it was away ("everything since event id N", from the tenant's ``RealtimeEvent``
table).

Client -> server messages (JSON):
    {"action": "subscribe", "conversation": 12}
    {"action": "unsubscribe", "conversation": 12}
    {"action": "typing", "conversation": 12, "typing": true}
    {"action": "catch_up", "since": 345}
    {"action": "ping"}
Server -> client: the app's events (dicts with ``type``, ``op`` and, for stored events, ``id``),
plus ``{"type": "sync", "op": "done"|"reset", ...}`` after a catch-up, ``{"type": "typing", ...}``
and ``{"type": "error", "op": <action>, "detail": ...}``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict

from channels.db import database_sync_to_async
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext_noop
from django_tenants.utils import tenant_context

from core.realtime import scoped_group
from inbox import watching
from inbox.realtime import INBOX_GROUP, conversation_group, stored_event
from tenants.roles import Role, role_at_least
from tenants.websocket import TenantConsumer

# A socket follows the conversation it shows, plus a few more (a second tab, a split view).
MAX_SUBSCRIPTIONS = 20
# A client that missed more than this asks the page to reload its lists instead of replaying.
CATCH_UP_LIMIT = 500
# How many recent event ids a socket remembers to drop the copy an event sent to two groups
# ("inbox" and "conversation.<id>") would otherwise deliver twice.
SEEN_IDS = 512

# Sent in the member's language (``_error``).
ERR_BAD_MESSAGE = gettext_noop("Unknown or malformed message.")
ERR_NO_CONVERSATION = gettext_noop("This conversation does not exist.")
ERR_TOO_MANY = gettext_noop("Too many conversations followed on one connection.")
ERR_READ_ONLY = gettext_noop("Your role does not allow this action.")

# Group joins/leaves of all sockets of this process that may talk to Redis at once. A burst of
# sockets connecting or leaving together (a deploy, a network blip) would otherwise ask the
# channel layer's connection pool for more connections than it holds and fail.
GROUP_OPS_AT_ONCE = 100
_gates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _group_gate() -> asyncio.Semaphore:
    """One semaphore per event loop (tests run several loops; a server runs one)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(GROUP_OPS_AT_ONCE)
    return gate


def _as_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():  # not "²"
        return int(value)
    return None


class InboxConsumer(TenantConsumer):
    async def on_connected(self):
        self.schema = self.company.schema_name
        self.subscriptions: set[int] = set()
        self.seen: OrderedDict[int, None] = OrderedDict()
        await self._add(scoped_group(self.schema, INBOX_GROUP))
        await self.send_json(
            {"type": "hello", "op": "ready", "company": self.company.slug, "last_id": await self._last_event_id()}
        )

    async def _add(self, group: str):
        async with _group_gate():
            await super()._add(group)

    async def _discard(self, group: str):
        async with _group_gate():
            await self.channel_layer.group_discard(group, self.channel_name)

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self._discard(group)

    # --- client messages -------------------------------------------------------------------
    async def receive_json(self, content, **kwargs):
        action = content.get("action") if isinstance(content, dict) else None
        handler = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "typing": self._typing,
            "catch_up": self._catch_up,
            "ping": self._ping,
        }.get(action)
        if handler is None:
            await self._error(str(action), ERR_BAD_MESSAGE)
            return
        await handler(content)

    async def decode_json(self, text_data):
        import json

        try:
            return json.loads(text_data)
        except ValueError:
            return None

    async def _ping(self, content):
        # The keep-alive also keeps this socket's conversations marked as open (see watching).
        await watching.watch(self.schema, self.subscriptions)
        await self.send_json({"type": "pong", "op": "pong"})

    async def _subscribe(self, content):
        conversation_id = _as_int(content.get("conversation"))
        if conversation_id is None:
            await self._error("subscribe", ERR_BAD_MESSAGE)
            return
        if conversation_id in self.subscriptions:
            return
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            await self._error("subscribe", ERR_TOO_MANY)
            return
        if not await self._conversation_exists(conversation_id):
            await self._error("subscribe", ERR_NO_CONVERSATION, conversation=conversation_id)
            return
        await self._add(scoped_group(self.schema, conversation_group(conversation_id)))
        self.subscriptions.add(conversation_id)
        await watching.watch(self.schema, [conversation_id])
        await self.send_json({"type": "subscription", "op": "added", "conversation": conversation_id})

    async def _unsubscribe(self, content):
        conversation_id = _as_int(content.get("conversation"))
        if conversation_id is None or conversation_id not in self.subscriptions:
            return
        group = scoped_group(self.schema, conversation_group(conversation_id))
        await self._discard(group)
        if group in self.groups_joined:
            self.groups_joined.remove(group)
        self.subscriptions.discard(conversation_id)
        await self.send_json({"type": "subscription", "op": "removed", "conversation": conversation_id})

    async def _typing(self, content):
        conversation_id = _as_int(content.get("conversation"))
        if conversation_id is None or conversation_id not in self.subscriptions:
            # Typing is only relayed for a conversation this socket follows (checked on subscribe).
            await self._error("typing", ERR_BAD_MESSAGE)
            return
        if not role_at_least(self.role, Role.AGENT):
            await self._error("typing", ERR_READ_ONLY)
            return
        event = {
            "type": "typing",
            "op": "start" if content.get("typing", True) else "stop",
            "conversation": conversation_id,
            "user": {"id": self.user.pk, "name": self.user.display_name},
        }
        await self.channel_layer.group_send(
            scoped_group(self.schema, conversation_group(conversation_id)),
            {"type": "inbox.typing", "event": event, "sender": self.channel_name},
        )

    async def _catch_up(self, content):
        since = _as_int(content.get("since"))
        if since is None:
            await self._error("catch_up", ERR_BAD_MESSAGE)
            return
        events, more = await self._events_since(since)
        for event in events:
            await self._deliver(event)
        last_id = events[-1]["id"] if events else since
        # More than the limit missed: replaying would be slower than reloading the lists.
        await self.send_json({"type": "sync", "op": "reset" if more else "done", "last_id": last_id})

    # --- group messages --------------------------------------------------------------------
    async def app_event(self, message):
        await self._deliver(message["event"])

    async def inbox_typing(self, message):
        if message.get("sender") != self.channel_name:
            await self.send_json(message["event"])

    async def _deliver(self, event: dict):
        # A coalesced ``message.statuses`` event covers several stored events (``ids``).
        ids = event.get("ids") or [event.get("id")]
        ids = [event_id for event_id in ids if isinstance(event_id, int)]
        if ids:
            if all(event_id in self.seen for event_id in ids):
                return
            for event_id in ids:
                self.seen[event_id] = None
            while len(self.seen) > SEEN_IDS:
                self.seen.popitem(last=False)
        await self.send_json(event)

    async def _error(self, op: str, detail: str, **extra):
        # A socket has no request language: the member's own, else the company's.
        with translation.override(getattr(self.user, "language", "") or self.company.locale):
            text = translation.gettext(detail)
        await self.send_json({"type": "error", "op": op, "detail": text, **extra})

    # --- database (always inside the company's schema) --------------------------------------
    @database_sync_to_async
    def _conversation_exists(self, conversation_id: int) -> bool:
        from inbox.models import Conversation

        with tenant_context(self.company):
            return Conversation.objects.filter(pk=conversation_id).exists()

    @database_sync_to_async
    def _last_event_id(self) -> int:
        from inbox.models import RealtimeEvent

        with tenant_context(self.company):
            return RealtimeEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    @database_sync_to_async
    def _events_since(self, since: int) -> tuple[list[dict], bool]:
        from inbox.models import RealtimeEvent

        with tenant_context(self.company):
            # Events addressed to some users only are replayed to those users only.
            visible = Q(user_ids=[]) | Q(user_ids__contains=[self.user.pk])
            rows = list(RealtimeEvent.objects.filter(visible, pk__gt=since).order_by("pk")[: CATCH_UP_LIMIT + 1])
            # Old events are pruned: when some the client missed are gone, replaying the rest
            # would leave holes, so the page reloads its lists instead.
            oldest = RealtimeEvent.objects.order_by("pk").values_list("pk", flat=True).first()
        pruned = since > 0 and oldest is not None and oldest > since + 1
        more = len(rows) > CATCH_UP_LIMIT or pruned
        return [stored_event(row) for row in rows[:CATCH_UP_LIMIT]], more
