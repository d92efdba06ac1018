"""The AI replies safety sweep visits only the companies with a reply or a part waiting
(``core.duework``)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from ai_personas import agent, tasks
from ai_personas.models import ConversationAI
from ai_personas.tests.test_agent import customer_says
from core import duework


@pytest.fixture
def channel(tenant):
    from inbox.services import channel_create

    return channel_create(kind="sandbox", name="Sandbox")


def test_a_waiting_reply_marks_its_company_and_a_lost_countdown_is_requeued(
    persona, channel, openai_stub, acme, queued_tasks, django_capture_on_commit_callbacks
):
    duework.forget(agent.AI_REPLIES)
    duework.full_sweep_due(agent.AI_REPLIES)  # the safety sweep has run: only marks count now
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        message = customer_says(channel, "oi")
        state = agent.inbound_note(message_id=message.pk, now=t0)
    assert state is not None and state.due_at is not None
    due = state.due_at.timestamp() + agent.SWEEP_GRACE
    assert duework.marks(agent.AI_REPLIES) == {acme.schema_name: pytest.approx(due)}

    # Before the mark is due the sweep visits nobody, even with a reply late in the table.
    late = t0 - timedelta(minutes=2)
    ConversationAI.objects.filter(pk=state.pk).update(due_at=late)
    queued_tasks.clear()
    tasks.replies_sweep_all()
    assert queued_tasks.tasks("ai_personas.reply_due") == []

    # Its countdown task was lost: once the mark is due, the sweep queues the reply again and
    # marks the company for the reply still waiting (its task may be lost too).
    duework.mark(agent.AI_REPLIES, acme.schema_name, at=time.time() - 1)
    tasks.replies_sweep_all()
    assert [t.args for t in queued_tasks.tasks("ai_personas.reply_due")] == [
        [acme.schema_name, message.conversation_id]
    ]
    assert duework.marks(agent.AI_REPLIES) == {acme.schema_name: pytest.approx(late.timestamp() + agent.SWEEP_GRACE)}

    # Answered: the next visit leaves no mark.
    ConversationAI.objects.filter(pk=state.pk).update(due_at=None)
    tasks.replies_sweep_all()
    assert duework.marks(agent.AI_REPLIES) == {}
