"""Conversation services and the realtime event log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from inbox.models import ConversationStatus, Label, RealtimeEvent
from inbox.services import (
    ERR_NOT_AN_AGENT,
    ERR_NOTE_EMPTY,
    ERR_SNOOZE_IN_PAST,
    conversation_assign,
    conversation_resolve,
    conversation_set_labels,
    conversation_snooze,
    conversations_wake_snoozed,
    note_add,
)


def test_assign_only_to_agents_of_the_company(conversation, make_member, other_company):
    agent = make_member("agent", email="a1@acme.test")
    viewer = make_member("viewer", email="v1@acme.test")
    stranger = make_member("agent", company=other_company, email="s1@other.test")
    conversation_assign(conversation=conversation, agent=agent)
    assert conversation.assignee_id == agent.pk
    for bad in (viewer, stranger):
        with pytest.raises(ValidationError) as exc:
            conversation_assign(conversation=conversation, agent=bad)
        assert exc.value.messages == [ERR_NOT_AN_AGENT]
    event = RealtimeEvent.objects.filter(type="conversation", op="assigned").latest("id")
    assert event.payload["data"]["assignee"] == agent.pk and event.conversation_id == conversation.pk


def test_resolve_snooze_and_wake(conversation):
    conversation_resolve(conversation=conversation)
    assert conversation.status == ConversationStatus.RESOLVED and conversation.resolved_at
    with pytest.raises(ValidationError) as exc:
        conversation_snooze(conversation=conversation, until=timezone.now() - timedelta(minutes=1))
    assert exc.value.messages == [ERR_SNOOZE_IN_PAST]
    conversation_snooze(conversation=conversation, until=timezone.now() + timedelta(minutes=5))
    assert conversations_wake_snoozed() == 0
    assert conversations_wake_snoozed(now=timezone.now() + timedelta(minutes=6)) == 1
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_labels_and_notes(conversation, owner):
    vip = Label.objects.create(name="VIP")
    conversation_set_labels(conversation=conversation, label_ids=[vip.pk])
    assert list(conversation.labels.values_list("name", flat=True)) == ["VIP"]
    note = note_add(conversation=conversation, body="Cliente pediu desconto", by=owner)
    assert note.kind == "note" and note.sent_by_id == owner.pk and note.provider_message_id == ""
    with pytest.raises(ValidationError) as exc:
        note_add(conversation=conversation, body="  ", by=owner)
    assert exc.value.messages == [ERR_NOTE_EMPTY]


def test_events_carry_increasing_ids_for_catch_up(conversation, owner):
    before = RealtimeEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    note_add(conversation=conversation, body="a", by=owner)
    conversation_resolve(conversation=conversation)
    rows = list(RealtimeEvent.objects.filter(id__gt=before).order_by("id"))
    assert [(r.type, r.op) for r in rows] == [("message", "new"), ("conversation", "status")]
    assert rows[0].id < rows[1].id


def test_event_groups_ticks_only_to_the_conversation():
    from inbox.realtime import groups_for

    assert groups_for(RealtimeEvent(type="message", op="new", conversation_id=7)) == ["inbox", "conversation.7"]
    assert groups_for(RealtimeEvent(type="message", op="status", conversation_id=7)) == ["conversation.7"]
    assert groups_for(RealtimeEvent(type="channel", op="status")) == ["inbox"]


def test_waking_reopens_every_due_conversation_and_marks_the_next_one(
    conversation, cloud_channel, django_capture_on_commit_callbacks
):
    from core import duework
    from crm.models import Contact
    from inbox.models import Conversation
    from inbox.services import SNOOZED

    now = timezone.now()
    others = [
        Conversation.objects.create(
            channel=cloud_channel,
            contact=Contact.objects.create(name=f"Cliente {n}", phone=f"+551198765{n:04d}"),
            last_inbound_at=now,
        )
        for n in range(2)
    ]
    Conversation.objects.filter(pk__in=[conversation.pk, others[0].pk]).update(
        status=ConversationStatus.SNOOZED, snoozed_until=now - timedelta(minutes=1)
    )
    later = now + timedelta(hours=2)
    Conversation.objects.filter(pk=others[1].pk).update(status=ConversationStatus.SNOOZED, snoozed_until=later)
    duework.forget(SNOOZED)
    with django_capture_on_commit_callbacks(execute=True):
        assert conversations_wake_snoozed(now=now) == 2
    statuses = dict(Conversation.objects.values_list("pk", "status"))
    assert statuses[conversation.pk] == statuses[others[0].pk] == ConversationStatus.OPEN
    assert statuses[others[1].pk] == ConversationStatus.SNOOZED
    events = RealtimeEvent.objects.filter(type="conversation", op="status").order_by("conversation_id")
    assert [e.conversation_id for e in events] == sorted([conversation.pk, others[0].pk])
    assert all(e.payload["data"]["status"] == ConversationStatus.OPEN for e in events)
    assert list(duework.marks(SNOOZED).values()) == [pytest.approx(later.timestamp())]
    # nothing due: the next moment is still marked
    duework.forget(SNOOZED)
    with django_capture_on_commit_callbacks(execute=True):
        assert conversations_wake_snoozed(now=now) == 0
    assert list(duework.marks(SNOOZED).values()) == [pytest.approx(later.timestamp())]
