"""The ``wa-sessions`` process: owns the live WhatsApp Web sessions of every company.

Web and worker processes publish commands on Redis (``connect``, ``logout``, ``send``); this
process runs them against the session's client and reports what happens: QR codes, state
changes (connecting / open / closed / logged_out), inbound messages and receipts. Reports are
written through the inbox services in the company's schema (which emit realtime events) and
also published on the events channel.

State machine of one session::

    connect ──> connecting ──(QR scanned / session resumed)──> open
                    │   ^                                        │
                    │   └──── backoff timer ──── closed <────────┘ (connection lost)
                    └── logout / logged out elsewhere ──> logged_out (session data erased)

The client library calls back from its own threads; callbacks only enqueue, and the manager
applies everything on its own thread (``process_events``), so database writes stay serial.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.utils.translation import gettext_noop

logger = logging.getLogger(__name__)

ERR_SESSION_LOST = gettext_noop("WhatsApp Web session not connected")

BACKOFF_BASE = 2.0
BACKOFF_MAX = 60.0

CONNECTING, OPEN, CLOSED, LOGGED_OUT = "connecting", "open", "closed", "logged_out"


class SessionClient(Protocol):
    """The boundary with the WhatsApp library (``NeonizeClient`` in production, a fake in tests)."""

    def connect(self) -> None: ...

    def disconnect(self) -> None: ...

    def logout(self) -> None: ...

    def send_text(self, to: str, text: str) -> str: ...

    def pair_phone(self, phone: str) -> str: ...

    def export_session(self) -> str: ...


@dataclass
class Callbacks:
    """What a client reports; every method only enqueues an event for the manager thread."""

    key: tuple[str, int]
    sink: queue.Queue

    def qr(self, code: str) -> None:
        self.sink.put((self.key, "qr", {"code": code}))

    def connected(self, phone: str = "") -> None:
        self.sink.put((self.key, "connected", {"phone": phone}))

    def disconnected(self, reason: str = "") -> None:
        self.sink.put((self.key, "disconnected", {"reason": reason}))

    def logged_out(self, reason: str = "") -> None:
        self.sink.put((self.key, "logged_out", {"reason": reason}))

    def message(self, *, message_id: str, sender: str, name: str, text: str, kind: str = "text") -> None:
        self.sink.put(
            (self.key, "message", {"id": message_id, "from": sender, "name": name, "text": text, "kind": kind})
        )

    def receipt(self, *, message_ids: list[str], status: str) -> None:
        self.sink.put((self.key, "receipt", {"ids": list(message_ids), "status": status}))


def _quietly(fn: Callable[[], Any]) -> None:
    """Best effort (closing a socket that may already be gone)."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001
        logger.debug("ignored: %s", exc)


ClientFactory = Callable[[tuple[str, int], str, Callbacks], SessionClient]


@dataclass
class Session:
    key: tuple[str, int]
    client: SessionClient
    state: str = CONNECTING
    attempts: int = 0
    retry_at: float | None = None
    last_qr: str = ""
    pair_phone: str = ""  # link by pairing code instead of QR (asked once the socket is up)
    pair_code: str = ""
    history: list[str] = field(default_factory=list)

    def move(self, state: str) -> None:
        self.state = state
        self.history.append(state)


class Store:
    """Database side of the manager: enters the company schema and calls inbox services."""

    def _run(self, schema: str, fn: Callable[[], Any]) -> Any:
        from django_tenants.utils import schema_context

        with schema_context(schema):
            return fn()

    def _channel(self, channel_id: int):
        from inbox.models import Channel, ChannelKind

        return Channel.objects.filter(pk=channel_id, kind=ChannelKind.WHATSAPP_WEB).first()

    def session_data(self, key) -> str | None:
        schema, channel_id = key

        def read():
            channel = self._channel(channel_id)
            return None if channel is None or not channel.is_active else (channel.session_data or "")

        return self._run(schema, read)

    def state(self, key, state: str, *, session_data: str | None = None, phone: str = "", detail: str = "") -> None:
        from inbox.services import channel_session_update

        schema, channel_id = key

        def write():
            channel = self._channel(channel_id)
            if channel is not None:
                channel_session_update(
                    channel=channel, state=state, session_data=session_data, phone=phone or None, detail=detail
                )

        self._run(schema, write)

    def qr(self, key, code: str) -> None:
        from inbox.services import channel_session_qr

        schema, channel_id = key

        def write():
            channel = self._channel(channel_id)
            if channel is not None:
                channel_session_qr(channel=channel, code=code)

        self._run(schema, write)

    def inbound(self, key, data: dict) -> None:
        from inbox.providers.base import InboundMessage
        from inbox.services import inbound_message_receive

        schema, channel_id = key

        def write():
            channel = self._channel(channel_id)
            if channel is None:
                return
            inbound_message_receive(
                channel=channel,
                inbound=InboundMessage(
                    provider_message_id=data["id"],
                    phone="+" + data["from"].lstrip("+"),
                    wa_id=data["from"].lstrip("+"),
                    name=data.get("name") or None,
                    kind=data.get("kind") or "text",
                    body=data.get("text", ""),
                ),
            )

        self._run(schema, write)

    def receipt(self, key, ids: list[str], status: str) -> None:
        from inbox.providers.base import StatusUpdate
        from inbox.services import message_statuses_apply

        schema, channel_id = key

        def write():
            channel = self._channel(channel_id)
            if channel is not None:
                message_statuses_apply(
                    channel=channel, statuses=[StatusUpdate(provider_message_id=i, status=status) for i in ids]
                )

        self._run(schema, write)

    def sent(self, key, placeholder: str, real_id: str | None, error: str = "") -> None:
        """Swap the id assigned when queueing for WhatsApp's own, or fail the message."""
        from django.utils.translation import gettext as _

        from inbox.models import Message
        from inbox.providers.base import ProviderError
        from inbox.services import message_fail, message_provider_id_set

        schema, channel_id = key

        def write():
            message = Message.objects.filter(channel_id=channel_id, provider_message_id=placeholder).first()
            if message is None:
                return
            if real_id:
                message_provider_id_set(message=message, provider_message_id=real_id)
            else:
                message_fail(message=message, error=ProviderError(error or _(ERR_SESSION_LOST), code="session"))

        self._run(schema, write)

    def channels_to_resume(self) -> list[tuple[str, int]]:
        from core.tasks import for_each_company
        from inbox.selectors import whatsapp_web_channels_to_resume

        found = for_each_company(
            lambda schema: [(schema, pk) for pk in whatsapp_web_channels_to_resume()], work="whatsapp_web_sessions"
        )
        return [key for keys in found.values() for key in keys]


class SessionManager:
    def __init__(
        self,
        *,
        client_factory: ClientFactory,
        store: Store | None = None,
        publish: Callable[[dict], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client_factory = client_factory
        self.store = store or Store()
        self.publish = publish or (lambda event: None)
        self.clock = clock
        self.sessions: dict[tuple[str, int], Session] = {}
        self.events: queue.Queue = queue.Queue()

    # --- commands --------------------------------------------------------------------------
    def handle_command(self, command: dict) -> None:
        try:
            key = (str(command["schema"]), int(command["channel"]))
            name = command["cmd"]
        except (KeyError, TypeError, ValueError):
            logger.warning("ignoring malformed command %r", command)
            return
        if name == "connect":
            self.connect(key, pair_phone=command.get("pair_phone") or "")
        elif name == "logout":
            self.logout(key)
        elif name == "send":
            self.send(
                key,
                to=str(command.get("to", "")),
                text=str(command.get("text", "")),
                placeholder=str(command.get("message_id", "")),
            )
        else:
            logger.warning("unknown command %r", name)

    def connect(self, key, *, pair_phone: str = "") -> None:
        session = self.sessions.get(key)
        if session is not None and session.state in (CONNECTING, OPEN):
            return  # already on its way: connecting twice would open two sockets
        data = self.store.session_data(key)
        if data is None:
            return  # channel gone or disconnected
        client = self.client_factory(key, data, Callbacks(key, self.events))
        session = Session(
            key=key, client=client, attempts=session.attempts if session else 0, pair_phone=pair_phone.lstrip("+")
        )
        self.sessions[key] = session
        self._set_state(session, CONNECTING)
        try:
            client.connect()
        except Exception as exc:  # noqa: BLE001 - a failed attempt is retried with backoff
            logger.warning("connect failed for %s: %s", key, exc)
            self._closed(session, str(exc))

    def logout(self, key) -> None:
        session = self.sessions.pop(key, None)
        if session is not None:
            try:
                session.client.logout()
            except Exception as exc:  # noqa: BLE001 - logged out locally whatever the server says
                logger.info("logout of %s: %s", key, exc)
            _quietly(session.client.disconnect)
            session.move(LOGGED_OUT)
        self.store.state(key, LOGGED_OUT)
        self._report(key, "state", state=LOGGED_OUT)

    def send(self, key, *, to: str, text: str, placeholder: str) -> None:
        session = self.sessions.get(key)
        if session is None or session.state != OPEN:
            self.store.sent(key, placeholder, None)
            return
        try:
            real_id = session.client.send_text(to, text)
        except Exception as exc:  # noqa: BLE001
            self.store.sent(key, placeholder, None, str(exc))
            return
        self.store.sent(key, placeholder, real_id or placeholder)

    # --- events from clients ----------------------------------------------------------------
    def process_events(self) -> int:
        handled = 0
        while True:
            try:
                key, kind, data = self.events.get_nowait()
            except queue.Empty:
                return handled
            handled += 1
            try:
                self._apply(key, kind, data)
            except Exception:  # noqa: BLE001 - one bad event must not stop the process
                logger.exception("session event %s for %s failed", kind, key)

    def _apply(self, key, kind: str, data: dict) -> None:
        session = self.sessions.get(key)
        if session is None:
            return  # a late callback of a session we dropped (logged out)
        if kind == "qr":
            if session.state != CONNECTING:
                return
            if session.pair_phone:
                # The first QR means the socket is up and unpaired: the moment WhatsApp accepts
                # a pairing-code request. The code stays valid while the QRs rotate.
                if not session.pair_code:
                    session.pair_code = session.client.pair_phone(session.pair_phone)
                    self.store.qr(key, f"PAIR:{session.pair_code}")
                    self._report(key, "pair_code", code=session.pair_code)
                return
            session.last_qr = data["code"]
            self.store.qr(key, data["code"])
            self._report(key, "qr", code=data["code"])
        elif kind == "connected":
            session.attempts = 0
            session.retry_at = None
            session.move(OPEN)
            self.store.state(key, OPEN, session_data=session.client.export_session(), phone=data.get("phone", ""))
            self._report(key, "state", state=OPEN)
        elif kind == "disconnected":
            if session.state in (OPEN, CONNECTING):
                self._closed(session, data.get("reason", ""))
        elif kind == "logged_out":
            self.sessions.pop(key, None)
            session.move(LOGGED_OUT)
            _quietly(session.client.disconnect)
            self.store.state(key, LOGGED_OUT, detail=data.get("reason", ""))
            self._report(key, "state", state=LOGGED_OUT)
        elif kind == "message":
            self.store.inbound(key, data)
            self._report(key, "message", id=data["id"])
        elif kind == "receipt":
            self.store.receipt(key, data["ids"], data["status"])

    def _closed(self, session: Session, reason: str) -> None:
        session.attempts += 1
        delay = min(BACKOFF_BASE**session.attempts, BACKOFF_MAX)
        session.retry_at = self.clock() + delay
        self._set_state(session, CLOSED, detail=reason)

    def _set_state(self, session: Session, state: str, detail: str = "") -> None:
        session.move(state)
        self.store.state(session.key, state, detail=detail)
        self._report(session.key, "state", state=state)

    # --- timers -----------------------------------------------------------------------------
    def tick(self) -> None:
        """Reconnect closed sessions whose backoff delay has passed."""
        now = self.clock()
        for key, session in list(self.sessions.items()):
            if session.state == CLOSED and session.retry_at is not None and session.retry_at <= now:
                _quietly(session.client.disconnect)
                self.connect(key)

    def resume_all(self) -> None:
        for key in self.store.channels_to_resume():
            self.connect(key)

    def shutdown(self) -> None:
        for session in self.sessions.values():
            _quietly(session.client.disconnect)

    def _report(self, key, event: str, **data) -> None:
        try:
            self.publish({"event": event, "schema": key[0], "channel": key[1], **data})
        except Exception:  # noqa: BLE001 - reporting is best effort
            logger.warning("could not publish %s", event)


def redis_publisher() -> Callable[[dict], None]:
    from core.redis import redis_client
    from inbox.providers.whatsapp_web import EVENTS_CHANNEL

    client = redis_client()

    def publish(event: dict) -> None:
        client.publish(EVENTS_CHANNEL, json.dumps(event))

    return publish
