"""WhatsApp Web sessions: what the ``wa-sessions`` process reports (state, QR codes, send
acknowledgements) and the commands sent to it (connect, log out)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.realtime import send_event_on_commit
from crm.phones import InvalidPhoneError, normalize_phone
from inbox import realtime
from inbox.models import Channel, ChannelStatus, SessionState
from inbox.providers.base import StatusUpdate
from inbox.providers.whatsapp_web import publish_command
from inbox.services.channels import ERR_PHONE_INVALID, channel_payload
from inbox.services.statuses import message_statuses_apply


@transaction.atomic
def channel_session_update(
    *, channel: Channel, state: str, session_data: str | None = None, phone: str | None = None, detail: str = ""
) -> Channel:
    """Record a WhatsApp Web session state reported by the ``wa-sessions`` process."""
    fields = ["session_state", "status", "status_detail", "updated_at"]
    channel.session_state = state
    if state == SessionState.OPEN:
        channel.status, channel.status_detail = ChannelStatus.CONNECTED, ""
        channel.last_activity_at = timezone.now()
        fields.append("last_activity_at")
    elif state == SessionState.LOGGED_OUT:
        channel.status = ChannelStatus.DISCONNECTED
        channel.status_detail = detail or _("Logged out. Scan the QR code to connect again.")
        channel.session_data = ""
        fields.append("session_data")
    else:
        channel.status = ChannelStatus.DISCONNECTED
        channel.status_detail = detail
    if session_data is not None and state != SessionState.LOGGED_OUT:
        channel.session_data = session_data
        fields.append("session_data")
    if phone:
        channel.config = {**channel.config, "phone": phone}
        fields.append("config")
    channel.save(update_fields=sorted(set(fields)))
    realtime.emit(type="channel", op="session", payload={"channel": channel_payload(channel)})
    return channel


def channel_session_qr(*, channel: Channel, code: str) -> None:
    """A fresh QR code for the channel page (realtime only: a QR is useless a minute later)."""
    send_event_on_commit(
        {"type": "channel", "op": "qr", "channel": channel.pk, "qr": code},
        groups=[realtime.INBOX_GROUP, realtime.channel_group(channel.pk)],
    )


def channel_session_connect(*, channel: Channel, pair_phone: str = "") -> None:
    """Ask the ``wa-sessions`` process to start the session (QR code, or a pairing code for
    ``pair_phone``)."""
    command: dict[str, Any] = {"cmd": "connect", "channel": channel.pk}
    if pair_phone:
        try:
            command["pair_phone"] = normalize_phone(pair_phone)
        except InvalidPhoneError as exc:
            raise ValidationError(_(ERR_PHONE_INVALID)) from exc
    channel.session_state = SessionState.CONNECTING
    channel.save(update_fields=["session_state", "updated_at"])
    publish_command(command)


def channel_session_logout(*, channel: Channel) -> None:
    publish_command({"cmd": "logout", "channel": channel.pk})


@transaction.atomic
def message_provider_ack(*, channel: Channel, provider_message_id: str, status: str) -> int:
    """A WhatsApp Web send acknowledgement or receipt (same forward-only rule as webhooks)."""
    return message_statuses_apply(
        channel=channel, statuses=[StatusUpdate(provider_message_id=provider_message_id, status=status)]
    )
