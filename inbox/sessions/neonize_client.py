"""``SessionClient`` on top of neonize (the Python binding of whatsmeow).

neonize keeps a session in a SQLite file; we keep that file's bytes encrypted in
``Channel.session_data`` (base64) and materialise it in a private temporary folder while the
session runs, so a restart resumes without a new QR code.
"""

from __future__ import annotations

import base64
import os
import tempfile
import threading
from pathlib import Path

from inbox.sessions.manager import Callbacks

# WhatsApp receipt types we turn into message statuses.
_RECEIPTS = {b"": "delivered", b"read": "read", b"read-self": None, b"played": "read"}


class NeonizeClient:
    def __init__(self, key: tuple[str, int], session_data: str, callbacks: Callbacks):
        from neonize.client import NewClient
        from neonize.events import ConnectedEv, DisconnectedEv, LoggedOutEv, MessageEv, ReceiptEv

        self.key = key
        self.callbacks = callbacks
        self.folder = Path(tempfile.mkdtemp(prefix=f"wa-{key[0]}-{key[1]}-"))
        os.chmod(self.folder, 0o700)
        self.db_path = self.folder / "session.db"
        if session_data:
            self.db_path.write_bytes(base64.b64decode(session_data))
        self.client = NewClient(str(self.db_path), uuid=f"{key[0]}-{key[1]}")
        self.thread: threading.Thread | None = None

        self.client.event.qr(lambda _c, data: callbacks.qr(data.decode() if isinstance(data, bytes) else str(data)))

        @self.client.event(ConnectedEv)
        def _connected(client, _event):
            phone = ""
            try:
                phone = client.get_me().JID.User
            except Exception:  # noqa: BLE001, S110 - the phone is a nicety
                pass
            callbacks.connected(phone)

        @self.client.event(DisconnectedEv)
        def _disconnected(_client, _event):
            callbacks.disconnected("connection lost")

        @self.client.event(LoggedOutEv)
        def _logged_out(_client, event):
            callbacks.logged_out(str(getattr(event, "Reason", "")))

        @self.client.event(MessageEv)
        def _message(_client, event):
            info = event.Info
            if info.MessageSource.IsFromMe or info.MessageSource.IsGroup:
                return
            msg = event.Message
            text = msg.conversation or msg.extendedTextMessage.text
            kind = "text" if text else "unsupported"
            callbacks.message(
                message_id=info.ID,
                sender=info.MessageSource.Sender.User,
                name=info.Pushname,
                text=text,
                kind=kind,
            )

        @self.client.event(ReceiptEv)
        def _receipt(_client, event):
            status = _RECEIPTS.get(bytes(event.Type) if not isinstance(event.Type, bytes) else event.Type)
            if status:
                callbacks.receipt(message_ids=list(event.MessageIDs), status=status)

    def connect(self) -> None:
        # neonize's connect blocks while the session runs: give it its own thread.
        self.thread = threading.Thread(target=self.client.connect, daemon=True, name=f"wa-{self.key}")
        self.thread.start()

    def disconnect(self) -> None:
        self.client.disconnect()

    def logout(self) -> None:
        self.client.logout()

    def send_text(self, to: str, text: str) -> str:
        from neonize.utils import build_jid

        response = self.client.send_message(build_jid(to.lstrip("+")), text)
        return str(response.ID)

    def pair_phone(self, phone: str) -> str:
        return self.client.PairPhone(phone.lstrip("+"), show_push_notification=True)

    def export_session(self) -> str:
        if not self.db_path.exists():
            return ""
        return base64.b64encode(self.db_path.read_bytes()).decode()


def neonize_factory(key, session_data, callbacks) -> NeonizeClient:
    return NeonizeClient(key, session_data, callbacks)
