"""Conversations and the tools agents work them with: assignment (manual and round-robin),
status (resolve, reopen, snooze), labels, read state, private notes, canned responses and the
agents' round-robin settings."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core import duework
from core.tasks import enqueue_on_commit
from inbox import realtime
from inbox.models import (
    AgentSettings,
    CannedResponse,
    Channel,
    ChannelKind,
    Conversation,
    ConversationStatus,
    Direction,
    Label,
    Message,
)
from inbox.providers import get_provider
from inbox.providers.base import ProviderError
from tenants.context import current_company, current_schema
from tenants.models import User
from tenants.selectors import company_agents

logger = logging.getLogger(__name__)

# The due-work kind (``core.duework``) of snoozed conversations to reopen: a company is marked
# for the earliest moment one of its conversations wakes.
SNOOZED = "snoozed"
duework.register(SNOOZED)

ERR_NOT_AN_AGENT = gettext_noop("This person is not an agent of the company.")
ERR_LABEL_UNKNOWN = gettext_noop("Unknown label.")
ERR_SNOOZE_IN_PAST = gettext_noop("Choose a moment in the future to snooze until.")
ERR_STATUS_INVALID = gettext_noop("Unknown conversation status.")
ERR_LABEL_NAME = gettext_noop("Give the label a name (at most 50 characters).")
ERR_LABEL_EXISTS = gettext_noop("A label with this name already exists.")
ERR_SHORTCUT_INVALID = gettext_noop("Use 1 to 40 lowercase letters, digits, hyphens or underscores.")
ERR_SHORTCUT_EXISTS = gettext_noop("Another canned response already uses this shortcut.")
ERR_CANNED_BODY = gettext_noop("Write the text of the canned response.")
ERR_CAPACITY = gettext_noop("Capacity must be between 0 and 500 conversations.")


def conversation_get_or_create(*, channel: Channel, contact) -> tuple[Conversation, bool]:
    """The (channel, contact) thread, locked for update. Race-free thanks to the unique pair."""
    conversation = Conversation.objects.select_for_update().filter(channel=channel, contact=contact).first()
    if conversation is not None:
        return conversation, False
    try:
        with transaction.atomic():
            return Conversation.objects.create(channel=channel, contact=contact), True
    except IntegrityError:
        return Conversation.objects.select_for_update().get(channel=channel, contact=contact), False


def _is_agent(user) -> bool:
    return user is not None and company_agents(company=current_company()).filter(user_id=user.pk).exists()


def agent_get(*, user_id: int | None) -> User:
    """The company's agent with this user id: a member who answers conversations (owner,
    admin or agent). Raises ``ValidationError(ERR_NOT_AN_AGENT)`` for anyone else."""
    membership = company_agents(company=current_company()).filter(user_id=user_id or 0).first()
    if membership is None:
        raise ValidationError(_(ERR_NOT_AN_AGENT))
    return membership.user


@transaction.atomic
def conversation_assign(*, conversation: Conversation, agent, by=None) -> Conversation:
    """Assign to ``agent`` (a member with at least the agent role) or unassign with ``None``."""
    if agent is not None and not _is_agent(agent):
        raise ValidationError(_(ERR_NOT_AN_AGENT))
    new_id = agent.pk if agent is not None else None
    if conversation.assignee_id == new_id:
        return conversation
    conversation.assignee_id = new_id
    conversation.save(update_fields=["assignee", "updated_at"])
    if agent is not None:
        AgentSettings.objects.filter(user_id=agent.pk).update(last_assigned_at=timezone.now())
    realtime.emit_conversation(conversation, "assigned", by=getattr(by, "pk", None))
    return conversation


@transaction.atomic
def conversation_auto_assign(*, conversation: Conversation) -> Conversation:
    """Round-robin: the available agent with free capacity who was assigned longest ago.

    Agent settings rows are locked in primary-key order, so two inbound messages assigning at
    the same time queue up instead of both picking the same agent (and never deadlock).
    """
    if conversation.assignee_id is not None:
        return conversation
    agent_ids = set(company_agents(company=current_company()).values_list("user_id", flat=True))
    candidates = list(
        AgentSettings.objects.select_for_update()
        .filter(is_available=True, capacity__gt=0, user_id__in=agent_ids)
        .order_by("pk")
    )
    if not candidates:
        return conversation
    load = dict(
        Conversation.objects.filter(
            assignee_id__in=[c.user_id for c in candidates],
            status__in=[ConversationStatus.OPEN, ConversationStatus.PENDING],
        )
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    free = [c for c in candidates if load.get(c.user_id, 0) < c.capacity]
    if not free:
        return conversation
    epoch = datetime.min.replace(tzinfo=timezone.get_current_timezone())
    chosen = min(free, key=lambda c: (c.last_assigned_at or epoch, c.pk))
    chosen.last_assigned_at = timezone.now()
    chosen.save(update_fields=["last_assigned_at"])
    conversation.assignee_id = chosen.user_id
    conversation.save(update_fields=["assignee", "updated_at"])
    realtime.emit_conversation(conversation, "assigned", by=None, automatic=True)
    return conversation


@transaction.atomic
def conversation_set_status(
    *, conversation: Conversation, status: str, by=None, snoozed_until: datetime | None = None
) -> Conversation:
    if status not in ConversationStatus.values:
        raise ValidationError(_(ERR_STATUS_INVALID))
    now = timezone.now()
    if status == ConversationStatus.SNOOZED:
        if snoozed_until is None or snoozed_until <= now:
            raise ValidationError(_(ERR_SNOOZE_IN_PAST))
        conversation.snoozed_until = snoozed_until
        duework.mark_on_commit(SNOOZED, current_schema(), snoozed_until)
    else:
        conversation.snoozed_until = None
    conversation.resolved_at = now if status == ConversationStatus.RESOLVED else None
    conversation.status = status
    conversation.save(update_fields=["status", "snoozed_until", "resolved_at", "updated_at"])
    realtime.emit_conversation(conversation, "status", by=getattr(by, "pk", None))
    return conversation


def conversation_resolve(*, conversation: Conversation, by=None) -> Conversation:
    return conversation_set_status(conversation=conversation, status=ConversationStatus.RESOLVED, by=by)


def conversation_reopen(*, conversation: Conversation, by=None) -> Conversation:
    return conversation_set_status(conversation=conversation, status=ConversationStatus.OPEN, by=by)


def conversation_snooze(*, conversation: Conversation, until: datetime, by=None) -> Conversation:
    return conversation_set_status(
        conversation=conversation, status=ConversationStatus.SNOOZED, by=by, snoozed_until=until
    )


@transaction.atomic
def conversations_wake_snoozed(*, now: datetime | None = None) -> int:
    """Reopen snoozed conversations whose time has come (beat task), and mark the company due
    again for the next one to wake (one locked by someone else now included).

    One statement takes the due rows (``SKIP LOCKED``), reopens them and finds the next moment
    among the ones left snoozed: a sweep's cost is mostly round trips, per company."""
    now = now or timezone.now()
    table = Conversation._meta.db_table
    woken = list(
        Conversation.objects.raw(
            f"""
            WITH due AS (
                SELECT id FROM {table} WHERE status = %s AND snoozed_until <= %s ORDER BY id FOR UPDATE SKIP LOCKED
            ), woken AS (
                UPDATE {table} c SET status = %s, snoozed_until = NULL, resolved_at = NULL, updated_at = %s
                FROM due WHERE c.id = due.id RETURNING c.*
            )
            SELECT woken.*, (
                SELECT min(snoozed_until) FROM {table}
                WHERE status = %s AND id NOT IN (SELECT id FROM woken)
            ) AS following_at FROM woken ORDER BY woken.id
            """,
            [ConversationStatus.SNOOZED, now, ConversationStatus.OPEN, timezone.now(), ConversationStatus.SNOOZED],
        )
    )
    for conversation in woken:
        realtime.emit_conversation(conversation, "status", by=None)
    if woken:
        following = getattr(woken[0], "following_at")  # noqa: B009 - an annotation of the raw query
    else:
        following = Conversation.objects.filter(status=ConversationStatus.SNOOZED).aggregate(at=Min("snoozed_until"))[
            "at"
        ]
    if following is not None:
        duework.mark_on_commit(SNOOZED, current_schema(), following)
    return len(woken)


@transaction.atomic
def conversation_set_labels(*, conversation: Conversation, label_ids: list[int], by=None) -> Conversation:
    """Replace the conversation's labels. An id that is not one of the company's labels
    refuses the whole change (it would otherwise drop silently, and with it every label)."""
    wanted = set(label_ids)
    labels = list(Label.objects.filter(pk__in=wanted))
    if len(labels) != len(wanted):
        raise ValidationError({"labels": [_(ERR_LABEL_UNKNOWN)]})
    conversation.labels.set(labels)
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    realtime.emit_conversation(
        conversation, "labels", labels=[{"id": lb.pk, "name": lb.name, "color": lb.color} for lb in labels]
    )
    return conversation


@transaction.atomic
def conversation_mark_read(*, conversation: Conversation, by=None) -> Conversation:
    """Clear the unread counter and tell the provider the customer's messages were read."""
    if conversation.unread_count == 0:
        return conversation
    conversation.unread_count = 0
    conversation.save(update_fields=["unread_count", "updated_at"])
    last_inbound = (
        Message.objects.filter(conversation=conversation, direction=Direction.INBOUND)
        .exclude(provider_message_id="")
        .order_by("-created_at", "-id")
        .first()
    )
    if last_inbound is not None and conversation.channel.kind == ChannelKind.WHATSAPP_CLOUD:
        enqueue_on_commit("inbox.provider_mark_read", current_schema(), last_inbound.pk)
    realtime.emit_conversation(conversation, "read", by=getattr(by, "pk", None))
    return conversation


def message_mark_read(*, message: Message) -> None:
    """Provider read receipt for one inbound message (blue ticks on the customer's phone)."""
    if message.direction != Direction.INBOUND or not message.provider_message_id:
        return
    try:
        get_provider(message.channel).mark_read(provider_message_id=message.provider_message_id)
    except ProviderError as exc:
        logger.info("mark_read failed for message %s: %s", message.pk, exc.title)


# --- labels, canned responses, agents -----------------------------------------------------------


@transaction.atomic
def label_create(*, name: str, color: str = "slate") -> Label:
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise ValidationError({"name": _(ERR_LABEL_NAME)})
    if Label.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": _(ERR_LABEL_EXISTS)})
    label = Label.objects.create(name=name, color=(color or "slate")[:20])
    realtime.emit(type="label", op="created", payload={"label": {"id": label.pk, "name": label.name}})
    return label


@transaction.atomic
def label_update(*, label: Label, name: str | None = None, color: str | None = None) -> Label:
    if name is not None:
        name = name.strip()
        if not name or len(name) > 50:
            raise ValidationError({"name": _(ERR_LABEL_NAME)})
        if Label.objects.filter(name__iexact=name).exclude(pk=label.pk).exists():
            raise ValidationError({"name": _(ERR_LABEL_EXISTS)})
        label.name = name
    if color:
        label.color = color[:20]
    label.save()
    return label


@transaction.atomic
def label_delete(*, label: Label) -> None:
    label.delete()


def _validate_shortcut(shortcut: str, *, exclude_pk: int | None = None) -> str:
    shortcut = (shortcut or "").strip().lstrip("/").lower()
    if not re.fullmatch(r"[a-z0-9_-]{1,40}", shortcut):
        raise ValidationError({"shortcut": _(ERR_SHORTCUT_INVALID)})
    clash = CannedResponse.objects.filter(shortcut=shortcut)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError({"shortcut": _(ERR_SHORTCUT_EXISTS)})
    return shortcut


@transaction.atomic
def canned_response_create(*, shortcut: str, body: str, title: str = "", by=None) -> CannedResponse:
    shortcut = _validate_shortcut(shortcut)
    if not (body or "").strip():
        raise ValidationError({"body": _(ERR_CANNED_BODY)})
    return CannedResponse.objects.create(
        shortcut=shortcut, body=body.strip(), title=(title or "").strip()[:80], created_by_id=getattr(by, "pk", None)
    )


@transaction.atomic
def canned_response_update(
    *, canned: CannedResponse, shortcut: str | None = None, body: str | None = None, title: str | None = None
) -> CannedResponse:
    if shortcut is not None:
        canned.shortcut = _validate_shortcut(shortcut, exclude_pk=canned.pk)
    if body is not None:
        if not body.strip():
            raise ValidationError({"body": _(ERR_CANNED_BODY)})
        canned.body = body.strip()
    if title is not None:
        canned.title = title.strip()[:80]
    canned.save()
    return canned


@transaction.atomic
def canned_response_delete(*, canned: CannedResponse) -> None:
    canned.delete()


@transaction.atomic
def agent_settings_update(*, user, capacity: int | None = None, is_available: bool | None = None) -> AgentSettings:
    settings_row, _created = AgentSettings.objects.get_or_create(user_id=user.pk)
    if capacity is not None:
        if not 0 <= int(capacity) <= 500:
            raise ValidationError({"capacity": _(ERR_CAPACITY)})
        settings_row.capacity = int(capacity)
    if is_available is not None:
        settings_row.is_available = bool(is_available)
    settings_row.save()
    return settings_row
