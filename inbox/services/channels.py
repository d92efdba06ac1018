"""Channels (connections): connect, update, disconnect, health, token checks, and the public
routing row that sends a channel's webhooks to its company."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core import duework
from crm.phones import InvalidPhoneError, normalize_phone
from inbox import realtime
from inbox.models import Channel, ChannelKind, ChannelStatus
from inbox.providers.base import ProviderError
from inbox.providers.whatsapp_cloud import TOKEN_ERROR_CODES, WhatsAppCloudProvider
from inbox.providers.whatsapp_web import publish_command
from tenants import limits
from tenants.context import current_company, require_tenant_schema
from tenants.models import WebhookRoute

logger = logging.getLogger(__name__)

# The due-work kind (``core.duework``) of access tokens to ask Meta about: a company is due
# when it connects a Cloud API channel or changes its credentials, and again every
# TOKEN_CHECK_EVERY while it has one (a little less, so the six-hourly beat finds it due).
CHANNEL_TOKENS = "channel_tokens"
TOKEN_CHECK_EVERY = timedelta(hours=6)
# The beat runs every six hours: a full sweep over every company once a day is the safety net.
duework.register(CHANNEL_TOKENS, safety_sweep=timedelta(days=1))

ERR_CHANNEL_NAME = gettext_noop("Give the channel a name.")
ERR_CHANNEL_FIELD_REQUIRED = gettext_noop("This field is required.")
ERR_NUMBER_IN_USE = gettext_noop("This number is already connected to a company.")
ERR_PHONE_INVALID = gettext_noop("This is not a valid phone number.")


def _route_external_id(channel: Channel) -> str:
    if channel.kind == ChannelKind.WHATSAPP_CLOUD:
        return channel.phone_number_id
    return str(channel.public_id)


def _route_save(channel: Channel) -> None:
    """Keep the public routing row of the channel in step (company resolved by the public UUID).

    Deliveries are routed by the channel's UUID; the provider's identifier only says which
    number a company holds. A Meta phone_number_id is not secret, so typing one claims nothing:
    the claim is confirmed (``channel_number_confirm``) when Meta shows the number to the
    channel's own token, and only a confirmed claim keeps other companies from connecting it."""
    external_id = _route_external_id(channel)
    clash = WebhookRoute.objects.filter(provider=channel.kind, external_id=external_id, verified_at__isnull=False)
    if clash.exclude(channel_public_id=channel.public_id).exists():
        raise ValidationError({"phone_number_id": _(ERR_NUMBER_IN_USE)})
    route = WebhookRoute.objects.filter(channel_public_id=channel.public_id).first()
    # Other kinds are routed by an identifier we made (the channel's UUID): theirs at once.
    confirmed_now = timezone.now() if channel.kind != ChannelKind.WHATSAPP_CLOUD else None
    if route is None:
        WebhookRoute.objects.create(
            channel_public_id=channel.public_id,
            provider=channel.kind,
            external_id=external_id,
            company=current_company(),
            verified_at=confirmed_now,
        )
    elif route.external_id != external_id or route.provider != channel.kind:
        route.provider, route.external_id, route.verified_at = channel.kind, external_id, confirmed_now
        route.save(update_fields=["provider", "external_id", "verified_at"])


def channel_number_confirm(*, channel: Channel) -> bool:
    """Confirm a Cloud API channel's claim on its phone_number_id: Meta answers the number's
    node only to a token with access to it. True once the route is confirmed."""
    route = WebhookRoute.objects.filter(channel_public_id=channel.public_id).first()
    if route is None or route.verified_at is not None:
        return route is not None
    try:
        node = WhatsAppCloudProvider(channel).phone_number()
    except ProviderError:
        return False
    if str(node.get("id")) != channel.phone_number_id:
        return False
    with transaction.atomic():
        # The row lock and the partial unique index make two confirmations of one number end
        # with one owner: the second sees the first's claim and stays unconfirmed.
        route = WebhookRoute.objects.select_for_update().get(pk=route.pk)
        taken = WebhookRoute.objects.filter(
            provider=route.provider, external_id=route.external_id, verified_at__isnull=False
        ).exclude(pk=route.pk)
        if taken.exists():
            return False
        try:
            with transaction.atomic():
                route.verified_at = timezone.now()
                route.save(update_fields=["verified_at"])
        except IntegrityError:
            return False
    return True


REQUIRED_FIELDS = {
    ChannelKind.WHATSAPP_CLOUD: (
        ("config", "phone_number_id"),
        ("config", "waba_id"),
        ("secret", "access_token"),
        ("secret", "app_secret"),
    ),
    ChannelKind.SMS: (("config", "account_sid"), ("config", "from_number"), ("secret", "auth_token")),
    ChannelKind.WHATSAPP_WEB: (),
    ChannelKind.SANDBOX: (),
}
SECRET_FIELDS = ("access_token", "app_secret", "verify_token", "auth_token")


@transaction.atomic
def channel_create(
    *, kind: str, name: str, config: dict[str, Any] | None = None, credentials: dict[str, str] | None = None
) -> Channel:
    """Connect a channel. Secrets are stored encrypted; a verify token is generated when missing."""
    require_tenant_schema()
    limits.limit_check(current_company(), limits.CHANNELS)
    config = {k: str(v).strip() for k, v in (config or {}).items() if v not in (None, "")}
    credentials = {k: str(v).strip() for k, v in (credentials or {}).items() if k in SECRET_FIELDS and v}
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _(ERR_CHANNEL_NAME)
    for where, field in REQUIRED_FIELDS.get(ChannelKind(kind), ()) if kind in ChannelKind.values else ():
        if not (config if where == "config" else credentials).get(field):
            errors[field] = _(ERR_CHANNEL_FIELD_REQUIRED)
    if kind == ChannelKind.SMS and config.get("from_number"):
        try:
            config["from_number"] = normalize_phone(config["from_number"])
        except InvalidPhoneError:
            errors["from_number"] = _(ERR_PHONE_INVALID)
    if kind not in ChannelKind.values:
        errors["kind"] = _(ERR_CHANNEL_FIELD_REQUIRED)
    if errors:
        raise ValidationError(errors)
    channel = Channel(kind=kind, name=name[:80], config=config)
    for field, value in credentials.items():
        setattr(channel, field, value)
    if kind in (ChannelKind.WHATSAPP_CLOUD, ChannelKind.SANDBOX) and not channel.verify_token:
        channel.verify_token = secrets.token_urlsafe(24)
    if kind == ChannelKind.SANDBOX:
        channel.app_secret = secrets.token_urlsafe(32)
        channel.config.setdefault("phone_number_id", f"sandbox-{channel.public_id.hex[:12]}")
        channel.config.setdefault("display_phone", "+55 11 4000-0000")
        channel.status = ChannelStatus.CONNECTED
    elif kind == ChannelKind.WHATSAPP_WEB:
        channel.status = ChannelStatus.DISCONNECTED
        channel.status_detail = _("Scan the QR code to connect.")
    else:
        channel.status = ChannelStatus.CONNECTED
    channel.last_activity_at = None
    channel.save()
    _route_save(channel)
    if kind == ChannelKind.WHATSAPP_CLOUD:
        duework.mark_on_commit(CHANNEL_TOKENS, require_tenant_schema())
    realtime.emit(type="channel", op="created", payload={"channel": channel_payload(channel)})
    return channel


@transaction.atomic
def channel_update(
    *, channel: Channel, name: str | None = None, config: dict[str, Any] | None = None, credentials: dict | None = None
) -> Channel:
    """Change a channel's name, settings or secrets (an empty secret keeps the stored one)."""
    if name is not None:
        if not name.strip():
            raise ValidationError({"name": _(ERR_CHANNEL_NAME)})
        channel.name = name.strip()[:80]
    if config:
        channel.config = {**channel.config, **{k: str(v).strip() for k, v in config.items() if v not in (None, "")}}
    for field, value in (credentials or {}).items():
        if field in SECRET_FIELDS and value:
            setattr(channel, field, str(value).strip())
    if channel.kind in (ChannelKind.WHATSAPP_CLOUD, ChannelKind.SMS) and (credentials or config):
        # New credentials: the token check runs again before we call it broken.
        channel.status = ChannelStatus.CONNECTED
        channel.status_detail = ""
        if channel.kind == ChannelKind.WHATSAPP_CLOUD:
            duework.mark_on_commit(CHANNEL_TOKENS, require_tenant_schema())
    channel.save()
    _route_save(channel)
    realtime.emit(type="channel", op="updated", payload={"channel": channel_payload(channel)})
    return channel


@transaction.atomic
def channel_disconnect(*, channel: Channel) -> Channel:
    """Stop using the channel: webhooks for it are refused, history is kept."""
    if channel.kind == ChannelKind.WHATSAPP_WEB:
        publish_command({"cmd": "logout", "channel": channel.pk})
    channel.is_active = False
    channel.status = ChannelStatus.DISCONNECTED
    channel.save(update_fields=["is_active", "status", "updated_at"])
    WebhookRoute.objects.filter(channel_public_id=channel.public_id).delete()
    realtime.emit(type="channel", op="updated", payload={"channel": channel_payload(channel)})
    return channel


def channel_payload(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.pk,
        "kind": channel.kind,
        "name": channel.name,
        "status": channel.status,
        "status_detail": channel.status_detail,
        "session_state": channel.session_state,
        "last_activity_at": channel.last_activity_at.isoformat() if channel.last_activity_at else None,
    }


def channel_set_status(*, channel: Channel, status: str, detail: str = "") -> Channel:
    if channel.status == status and channel.status_detail == detail:
        return channel
    channel.status = status
    channel.status_detail = detail[:500]
    channel.save(update_fields=["status", "status_detail", "updated_at"])
    realtime.emit(type="channel", op="status", payload={"channel": channel_payload(channel)})
    return channel


@transaction.atomic
def channel_check_token(*, channel: Channel, now: datetime | None = None) -> Channel:
    """Ask Meta about the access token (debug_token); warn 7 days before it expires."""
    now = now or timezone.now()
    try:
        info = WhatsAppCloudProvider(channel).debug_token()
    except ProviderError as exc:
        channel.token_checked_at = now
        channel.save(update_fields=["token_checked_at"])
        if exc.code in TOKEN_ERROR_CODES:
            channel_set_status(channel=channel, status=ChannelStatus.TOKEN_PROBLEM, detail=exc.title)
        return channel
    channel.token_checked_at = now
    channel.token_expires_at = info["expires_at"]
    channel.save(update_fields=["token_checked_at", "token_expires_at"])
    if info["is_valid"] and not channel_number_confirm(channel=channel):
        logger.info("channel %s: Meta did not confirm phone_number_id %s", channel.pk, channel.phone_number_id)
    if not info["is_valid"]:
        detail = info["error"] or _("Meta says the access token is no longer valid. Generate a new one.")
        channel_set_status(channel=channel, status=ChannelStatus.TOKEN_PROBLEM, detail=detail)
    elif info["expires_at"] and info["expires_at"] - now < timedelta(days=7):
        detail = _("The access token expires on %(date)s. Replace it before then.") % {
            "date": timezone.localtime(info["expires_at"]).strftime("%d/%m/%Y %H:%M")
        }
        channel_set_status(channel=channel, status=ChannelStatus.TOKEN_PROBLEM, detail=detail)
    else:
        channel_set_status(channel=channel, status=ChannelStatus.CONNECTED, detail="")
    return channel


def channel_tokens_check(*, now: datetime | None = None) -> int:
    """Check the token of every connected Cloud API channel of the company (beat), and mark the
    company due for the next check while it has one; one channel's failure is logged and never
    stops the others. Returns how many were checked."""
    now = now or timezone.now()
    checked = 0
    channels = list(Channel.objects.filter(kind=ChannelKind.WHATSAPP_CLOUD, is_active=True))
    for channel in channels:
        try:
            channel_check_token(channel=channel, now=now)
        except Exception:  # noqa: BLE001 - one channel's failure must not stop the others
            logger.exception("token check failed for channel %s in %s", channel.pk, require_tenant_schema())
        else:
            checked += 1
    if channels:
        duework.mark(CHANNEL_TOKENS, require_tenant_schema(), now + TOKEN_CHECK_EVERY - timedelta(minutes=30))
    return checked


def channel_touch(channel: Channel, at: datetime) -> None:
    Channel.objects.filter(pk=channel.pk).update(last_activity_at=at)
    channel.last_activity_at = at
