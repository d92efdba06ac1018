"""The wa-sessions manager's state machine, driven through a fake client at the neonize
boundary (WhatsApp itself cannot be reached from tests)."""

from __future__ import annotations

import pytest

from inbox.models import ChannelStatus, Message, MessageStatus, SessionState
from inbox.sessions.manager import CLOSED, CONNECTING, LOGGED_OUT, OPEN, SessionManager


class FakeClient:
    """Stands where ``NeonizeClient`` stands; the test plays WhatsApp through ``callbacks``."""

    instances: list[FakeClient] = []

    def __init__(self, key, session_data, callbacks):
        self.key, self.session_data, self.callbacks = key, session_data, callbacks
        self.connects = 0
        self.logged_out = False
        self.sent: list[tuple[str, str]] = []
        self.fail_connect = False
        FakeClient.instances.append(self)

    def connect(self):
        self.connects += 1
        if self.fail_connect:
            raise ConnectionError("network unreachable")

    def disconnect(self):
        pass

    def logout(self):
        self.logged_out = True

    def send_text(self, to, text):
        self.sent.append((to, text))
        return "3EB0REALID0001"

    def pair_phone(self, phone):
        return "ABCD-EFGH"

    def export_session(self):
        return "c2Vzc2lvbi1ieXRlcw=="  # base64 of the SQLite file in real life


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def web_channel(tenant):
    from inbox.services import channel_create

    FakeClient.instances.clear()
    return channel_create(kind="whatsapp_web", name="WhatsApp da loja")


@pytest.fixture
def manager(web_channel):
    published: list[dict] = []
    clock = Clock()
    mgr = SessionManager(client_factory=FakeClient, publish=published.append, clock=clock)
    mgr.published = published  # type: ignore[attr-defined]
    mgr.clock_ = clock  # type: ignore[attr-defined]
    return mgr


def _schema():
    from django.db import connection

    return connection.schema_name


def test_real_neonize_is_importable_and_builds_a_client(web_channel, tmp_path):
    """The real library loads (its Go core ships in the wheel) and our adapter wires its events."""
    import queue

    import neonize.client
    from neonize.events import ConnectedEv

    from inbox.sessions.manager import Callbacks
    from inbox.sessions.neonize_client import NeonizeClient

    client = NeonizeClient((_schema(), web_channel.pk), "", Callbacks((_schema(), web_channel.pk), queue.Queue()))
    assert isinstance(client.client, neonize.client.NewClient)
    assert ConnectedEv is not None
    assert client.export_session() == ""


def test_qr_then_scan_opens_session_and_saves_encrypted_data(manager, web_channel):
    key = (_schema(), web_channel.pk)
    manager.handle_command({"cmd": "connect", "schema": key[0], "channel": key[1]})
    client = FakeClient.instances[-1]
    assert manager.sessions[key].state == CONNECTING
    client.callbacks.qr("2@abc,def,ghi")
    manager.process_events()
    assert {"event": "qr", "schema": key[0], "channel": key[1], "code": "2@abc,def,ghi"} in manager.published
    client.callbacks.connected("5511987654321")
    manager.process_events()
    web_channel.refresh_from_db()
    assert manager.sessions[key].state == OPEN
    assert web_channel.session_state == SessionState.OPEN and web_channel.status == ChannelStatus.CONNECTED
    assert web_channel.session_data == "c2Vzc2lvbi1ieXRlcw==" and web_channel.config["phone"] == "5511987654321"
    # at rest the session data is ciphertext
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT session_data FROM inbox_channel WHERE id = %s", [web_channel.pk])
        assert "c2Vzc2lvbi1ieXRlcw==" not in cursor.fetchone()[0]


def test_connect_twice_does_not_open_two_sockets(manager, web_channel):
    key = (_schema(), web_channel.pk)
    manager.connect(key)
    manager.connect(key)
    assert len(FakeClient.instances) == 1


def test_lost_connection_reconnects_with_backoff(manager, web_channel):
    key = (_schema(), web_channel.pk)
    manager.connect(key)
    FakeClient.instances[-1].callbacks.connected("5511987654321")
    manager.process_events()
    FakeClient.instances[-1].callbacks.disconnected("stream error")
    manager.process_events()
    session = manager.sessions[key]
    assert session.state == CLOSED and session.retry_at == manager.clock_.now + 2
    web_channel.refresh_from_db()
    assert web_channel.session_state == SessionState.CLOSED
    manager.tick()  # too early
    assert len(FakeClient.instances) == 1
    manager.clock_.now += 2
    manager.tick()
    assert len(FakeClient.instances) == 2 and manager.sessions[key].state == CONNECTING
    # the resumed client gets the saved session (no new QR needed)
    assert FakeClient.instances[-1].session_data == "c2Vzc2lvbi1ieXRlcw=="


def test_failed_connects_back_off_exponentially_up_to_a_cap(manager, web_channel, monkeypatch):
    key = (_schema(), web_channel.pk)
    monkeypatch.setattr(FakeClient, "connect", lambda self: (_ for _ in ()).throw(ConnectionError("down")))
    manager.connect(key)
    delays = []
    for _ in range(8):
        session = manager.sessions[key]
        delays.append(session.retry_at - manager.clock_.now)
        manager.clock_.now = session.retry_at
        manager.tick()
    assert delays[:5] == [2, 4, 8, 16, 32] and max(delays) == 60


def test_logout_command_erases_session(manager, web_channel):
    key = (_schema(), web_channel.pk)
    manager.connect(key)
    FakeClient.instances[-1].callbacks.connected("5511987654321")
    manager.process_events()
    manager.handle_command({"cmd": "logout", "schema": key[0], "channel": key[1]})
    web_channel.refresh_from_db()
    assert FakeClient.instances[-1].logged_out
    assert web_channel.session_state == SessionState.LOGGED_OUT and web_channel.session_data == ""
    assert key not in manager.sessions


def test_logged_out_from_phone_stops_reconnecting(manager, web_channel):
    key = (_schema(), web_channel.pk)
    manager.connect(key)
    client = FakeClient.instances[-1]
    client.callbacks.connected("5511987654321")
    client.callbacks.logged_out("removed from linked devices")
    client.callbacks.qr("late-qr")  # late callbacks of a dropped session are ignored
    manager.process_events()
    manager.clock_.now += 1000
    manager.tick()
    assert len(FakeClient.instances) == 1
    web_channel.refresh_from_db()
    assert web_channel.session_state == LOGGED_OUT


def test_send_inbound_and_receipts(manager, web_channel):
    from django.utils import timezone

    from inbox.services import message_deliver, message_send_text

    key = (_schema(), web_channel.pk)
    manager.connect(key)
    client = FakeClient.instances[-1]
    client.callbacks.connected("5511900000000")
    client.callbacks.message(message_id="3EB0CUST01", sender="5511987654321", name="Maria", text="Oi pelo WhatsApp Web")
    manager.process_events()
    inbound = Message.objects.get(provider_message_id="3EB0CUST01")
    assert inbound.body == "Oi pelo WhatsApp Web"
    web_channel.refresh_from_db()
    conversation = inbound.conversation
    conversation.last_inbound_at = timezone.now()
    message, _created = message_send_text(conversation=conversation, text="Olá!")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    placeholder = message.provider_message_id
    assert message.status == MessageStatus.QUEUED and placeholder
    manager.handle_command(
        {
            "cmd": "send",
            "schema": key[0],
            "channel": key[1],
            "to": "5511987654321",
            "text": "Olá!",
            "message_id": placeholder,
        }
    )
    message.refresh_from_db()
    assert client.sent == [("5511987654321", "Olá!")]
    assert message.provider_message_id == "3EB0REALID0001" and message.status == MessageStatus.SENT
    client.callbacks.receipt(message_ids=["3EB0REALID0001"], status="read")
    manager.process_events()
    message.refresh_from_db()
    assert message.status == MessageStatus.READ


def test_send_while_closed_fails_the_message(manager, web_channel, contact):
    from inbox.models import Conversation

    key = (_schema(), web_channel.pk)
    conversation = Conversation.objects.create(channel=web_channel, contact=contact)
    message = Message.objects.create(
        conversation=conversation,
        channel=web_channel,
        direction="out",
        kind="text",
        body="x",
        provider_message_id="3EB0PLACE",
    )
    manager.send(key, to="5511987654321", text="x", placeholder="3EB0PLACE")
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.error_code == "session"


def test_malformed_commands_are_ignored(manager):
    manager.handle_command({"cmd": "connect"})
    manager.handle_command({"cmd": "explode", "schema": "c_acme", "channel": 1})
    assert manager.sessions == {}


def test_pairing_code_instead_of_qr(manager, web_channel):
    key = (_schema(), web_channel.pk)
    manager.handle_command({"cmd": "connect", "schema": key[0], "channel": key[1], "pair_phone": "+5511987654321"})
    client = FakeClient.instances[-1]
    client.callbacks.qr("2@first")
    client.callbacks.qr("2@second")
    manager.process_events()
    assert {"event": "pair_code", "schema": key[0], "channel": key[1], "code": "ABCD-EFGH"} in manager.published
    assert not [e for e in manager.published if e["event"] == "qr"]  # no QR shown when pairing by code
