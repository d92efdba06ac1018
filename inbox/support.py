"""The inbox's sections of the support admin (``tenants.support``): conversations with their
thread (read-only) and channels (health and last activity, never their secrets), with the
actions support needs: disconnect a channel, reprocess its dead webhook deliveries."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from tenants.support import Action, Section, register

THREAD_MESSAGES = 200


def _conversation_rows(search: str, offset: int, limit: int) -> list:
    from inbox.models import Conversation

    qs = Conversation.objects.order_by("-last_message_at", "-id")
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        cond = Q(contact__name__icontains=search)
        if digits:
            cond |= Q(contact__phone__contains=digits)
        qs = qs.filter(cond)
    return list(
        qs.values(
            "pk",
            "contact__name",
            "contact__phone",
            "channel__name",
            "status",
            "last_message_at",
            "last_message_preview",
        )[offset : offset + limit]
    )


def _conversation_detail(pk: int) -> dict | None:
    from inbox.models import Conversation, Message

    conversation = Conversation.objects.select_related("contact", "channel", "assignee").filter(pk=pk).first()
    if conversation is None:
        return None
    messages = list(
        Message.objects.filter(conversation=conversation)
        .order_by("-created_at", "-id")
        .values("direction", "kind", "body", "status", "created_at", "error_title")[:THREAD_MESSAGES]
    )
    messages.reverse()
    return {
        "title": f"{conversation.contact.name or conversation.contact.phone} · {conversation.channel.name}",
        "fields": [
            (gettext_lazy("Contact"), f"{conversation.contact.name} {conversation.contact.phone}"),
            (gettext_lazy("Channel"), conversation.channel.name),
            (gettext_lazy("Status"), conversation.get_status_display()),
            (gettext_lazy("Assigned to"), str(conversation.assignee or "")),
            (gettext_lazy("Last message at"), conversation.last_message_at),
        ],
        "thread": messages,
    }


def _channel_rows(search: str, offset: int, limit: int) -> list:
    from inbox.models import Channel, WebhookEvent

    qs = Channel.objects.all()
    if search:
        qs = qs.filter(name__icontains=search)
    # Only these columns: the tokens and app secret never leave the model.
    rows: list[dict] = [
        dict(row)
        for row in qs.order_by("-is_active", "name").values(
            "pk", "name", "kind", "status", "is_active", "last_activity_at", "token_expires_at"
        )[offset : offset + limit]
    ]
    dead = dict(
        WebhookEvent.objects.filter(channel_id__in=[r["pk"] for r in rows], dead_at__isnull=False)
        .values_list("channel_id")
        .annotate(n=Count("id"))
        .values_list("channel_id", "n")
    )
    for row in rows:
        row["dead"] = dead.get(row["pk"], 0)
    return rows


def _channel_detail(pk: int) -> dict | None:
    from inbox.models import Channel, WebhookEvent

    channel = Channel.objects.filter(pk=pk).first()
    if channel is None:
        return None
    dead = WebhookEvent.objects.filter(channel=channel, dead_at__isnull=False).count()
    retrying = WebhookEvent.objects.filter(channel=channel, processed_at__isnull=True, attempts__gt=0).count()
    return {
        "title": channel.name,
        "fields": [
            (gettext_lazy("Kind"), channel.get_kind_display()),
            (gettext_lazy("Status"), channel.get_status_display()),
            (gettext_lazy("Status detail"), channel.status_detail),
            (gettext_lazy("Phone"), channel.display_phone),
            (gettext_lazy("Active"), channel.is_active),
            (gettext_lazy("Last activity"), channel.last_activity_at),
            (gettext_lazy("Token expires at"), channel.token_expires_at),
            (gettext_lazy("Token checked at"), channel.token_checked_at),
            (gettext_lazy("Webhook deliveries that could not be processed"), dead),
            (gettext_lazy("Webhook deliveries being retried"), retrying),
            (gettext_lazy("Created at"), channel.created_at),
        ],
    }


def _disconnect(pk: int, staff) -> str:
    from django.core.exceptions import ValidationError

    from inbox.models import Channel
    from inbox.services import channel_disconnect

    channel = Channel.objects.filter(pk=pk, is_active=True).first()
    if channel is None:
        raise ValidationError(_("This channel is already disconnected."))
    channel_disconnect(channel=channel)
    return _("Channel %(name)s disconnected.") % {"name": channel.name}


def _reprocess(pk: int, staff) -> str:
    from inbox.models import WebhookEvent
    from inbox.services import webhook_events_reprocess

    ids = list(WebhookEvent.objects.filter(channel_id=pk, dead_at__isnull=False).values_list("pk", flat=True))
    count = webhook_events_reprocess(event_ids=ids) if ids else 0
    return ngettext(
        "%(count)d delivery sent back to the queue.", "%(count)d deliveries sent back to the queue.", count
    ) % {"count": count}


def register_sections() -> None:
    register(
        Section(
            key="conversations",
            label=gettext_lazy("Conversations"),
            order=20,
            columns=[
                ("contact__name", gettext_lazy("Contact")),
                ("contact__phone", gettext_lazy("Phone")),
                ("channel__name", gettext_lazy("Channel")),
                ("status", gettext_lazy("Status")),
                ("last_message_at", gettext_lazy("Last message at")),
                ("last_message_preview", gettext_lazy("Last message")),
            ],
            rows=_conversation_rows,
            detail=_conversation_detail,
            search_help=gettext_lazy("Contact name or phone digits"),
        )
    )
    register(
        Section(
            key="channels",
            label=gettext_lazy("Channels"),
            order=30,
            columns=[
                ("name", gettext_lazy("Name")),
                ("kind", gettext_lazy("Kind")),
                ("status", gettext_lazy("Status")),
                ("is_active", gettext_lazy("Active")),
                ("last_activity_at", gettext_lazy("Last activity")),
                ("token_expires_at", gettext_lazy("Token expires at")),
                ("dead", gettext_lazy("Dead webhook deliveries")),
            ],
            rows=_channel_rows,
            detail=_channel_detail,
            actions=(
                Action(
                    key="reprocess",
                    label=gettext_lazy("Reprocess dead webhook deliveries"),
                    run=_reprocess,
                ),
                Action(
                    key="disconnect",
                    label=gettext_lazy("Disconnect the channel"),
                    run=_disconnect,
                    confirm=gettext_lazy("The company stops receiving and sending on this channel. Disconnect it?"),
                ),
            ),
            search_help=gettext_lazy("Channel name"),
        )
    )
