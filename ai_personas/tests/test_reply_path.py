"""The reply's database path (``ai_personas.reply_store``): few statements on the common path,
and the same outcomes as the row-locked path when something changes while the model thinks."""

from __future__ import annotations

import random
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ai_personas import agent
from ai_personas.llm import LLM
from ai_personas.models import AIState, ConversationAI, ReplyPart, UsageDay
from ai_personas.tests.test_agent import customer_says, run_burst
from tests.stubs.openai import Reply, rate_limited


def _statements(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]


def test_a_reply_takes_four_statements_whatever_the_thread_length(persona, channel, openai_stub):
    # given a warm process (statistics cached, the connection's search settings made)
    assert run_burst(customer_says(channel, "oi", phone="5511900000001")) == "replied"

    def statements(messages: int) -> int:
        phone = f"55119000{messages:05d}"
        for i in range(messages - 1):
            customer_says(channel, f"mensagem {i}", phone=phone)
        message = customer_says(channel, "qual o prazo de entrega para Campinas?", phone=phone)
        now = timezone.now()
        agent.inbound_note(message_id=message.pk, now=now)
        with CaptureQueriesContext(connection) as captured:
            outcome = agent.reply_due(
                conversation_id=message.conversation_id, now=now + timedelta(seconds=30), rng=random.Random(1)
            )
        assert outcome == "replied"
        return len(_statements(captured))

    # then claim, context, retrieval and finish, for a short thread and a long one
    assert statements(1) == statements(30) == 4


def test_the_reply_is_stored_with_its_citations_cost_and_usage_in_one_go(persona, channel, openai_stub):
    openai_stub.push(
        Reply(
            content="Para Campinas o prazo é de 2 a 4 dias úteis.\n\nO frete é grátis nas compras acima de R$ 200, viu?"
        )
    )
    message = customer_says(channel, "qual o prazo de entrega para Campinas?")
    assert run_burst(message) == "replied"
    first, second = ReplyPart.objects.order_by("position")
    assert first.citations and first.cost > 0 and first.tokens_in > 0
    assert second.citations == [] and second.cost == 0 and second.tokens_in == 0
    assert first.send_at < second.send_at
    state = ConversationAI.objects.get()
    assert state.turns == 1 and state.due_at is None and state.answered_inbound_id == message.pk
    usage = UsageDay.objects.get(persona=persona)
    assert (usage.replies, usage.tokens_in, usage.tokens_out) == (1, first.tokens_in, first.tokens_out)
    assert usage.cost == first.cost


class _CustomerWritesDuringTheCall(LLM):
    """The customer sends another message while the model is answering (through the inbox, as
    in production); injected through ``reply_due(llm=...)``."""

    def __init__(self, channel, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel = channel

    def chat(self, *args, **kwargs):
        result = super().chat(*args, **kwargs)
        later = customer_says(self.channel, "ah, e para Santos?")
        agent.inbound_note(message_id=later.pk)
        return result


def test_a_message_while_the_model_thinks_supersedes_the_reply(persona, channel, openai_stub):
    message = customer_says(channel, "qual o prazo de entrega para Campinas?")
    now = timezone.now()
    agent.inbound_note(message_id=message.pk, now=now - timedelta(minutes=1))
    outcome = agent.reply_due(
        conversation_id=message.conversation_id,
        now=now,
        llm=_CustomerWritesDuringTheCall(channel, persona_id=persona.pk),
    )
    # nothing is sent, the model's tokens are counted, and the next burst is still due
    assert outcome == "superseded"
    assert not ReplyPart.objects.exists()
    usage = UsageDay.objects.get(persona=persona)
    assert usage.tokens_in > 0 and usage.replies == 0
    state = ConversationAI.objects.get()
    assert state.due_at is not None and state.turns == 0
    assert (
        agent.reply_due(conversation_id=message.conversation_id, now=state.due_at + timedelta(seconds=1)) == "replied"
    )
    assert "Santos" in openai_stub.chat_requests()[-1].body["messages"][-1]["content"]


def test_tokens_of_a_tool_round_are_counted_when_a_later_round_fails(persona, channel, agent_user, openai_stub):
    openai_stub.push(
        Reply(
            tool_calls=[{"name": "contact_read", "arguments": {}}], usage={"prompt_tokens": 70, "completion_tokens": 5}
        ),
        rate_limited(),
        rate_limited(),
        rate_limited(),
    )
    message = customer_says(channel, "qual o prazo?")
    assert run_burst(message) == "handoff:provider_error"
    usage = UsageDay.objects.get(persona=persona)
    assert (usage.tokens_in, usage.tokens_out, usage.handoffs, usage.replies) == (70, 5, 1, 0)


def test_the_budget_counts_the_tokens_of_earlier_tool_rounds(persona, channel, agent_user, openai_stub, settings):
    from ai_personas.usage import usage_add

    # given a budget with room for one call only
    usage_add(persona_id=None, tokens_in=900)
    settings.AI_MONTHLY_TOKEN_BUDGET = 1000
    openai_stub.push(
        Reply(
            tool_calls=[{"name": "contact_read", "arguments": {}}], usage={"prompt_tokens": 150, "completion_tokens": 5}
        )
    )
    message = customer_says(channel, "qual o prazo?")
    # then the second round is refused
    assert run_burst(message) == "handoff:budget"
    assert len(openai_stub.chat_requests()) == 1


def test_a_due_reply_of_a_conversation_turned_off_is_dropped(persona, channel, openai_stub):
    message = customer_says(channel, "oi")
    now = timezone.now()
    agent.inbound_note(message_id=message.pk, now=now)
    ConversationAI.objects.filter(conversation_id=message.conversation_id).update(state=AIState.OFF)
    assert agent.reply_due(conversation_id=message.conversation_id, now=now + timedelta(minutes=1)) == "inactive"
    assert ConversationAI.objects.get().due_at is None
    assert openai_stub.chat_requests() == []


def test_an_agent_reply_before_the_claim_hands_off_without_a_model_call(persona, channel, agent_user, openai_stub):
    from inbox.services import message_send_text

    message = customer_says(channel, "oi")
    now = timezone.now()
    agent.inbound_note(message_id=message.pk, now=now)
    message_send_text(conversation=message.conversation, text="Olá, sou a Ana.", by=agent_user)
    assert agent.reply_due(conversation_id=message.conversation_id, now=now + timedelta(minutes=1)) == "agent_active"
    state = ConversationAI.objects.get()
    assert state.state == AIState.HANDED_OFF and state.due_at is None
    assert openai_stub.chat_requests() == []


def test_a_provider_timeout_leaves_neither_customer_nor_agent_without_word(
    persona, channel, agent_user, openai_stub, settings
):
    from inbox.models import Conversation, Direction, Message, MessageKind

    settings.OPENAI_TIMEOUT = 0.2
    openai_stub.push(*[Reply(content="tarde", delay=0.5)] * 3)
    message = customer_says(channel, "qual o prazo?")
    assert run_burst(message) == "handoff:provider_error"
    conversation = Conversation.objects.get(pk=message.conversation_id)
    # the customer is told a person takes over, an agent has it with a note saying why
    [hold] = Message.objects.filter(conversation=conversation, direction=Direction.OUTBOUND, kind=MessageKind.TEXT)
    assert hold.body.startswith("Um momento")
    assert conversation.assignee_id == agent_user.pk
    assert Message.objects.filter(conversation=conversation, kind=MessageKind.NOTE).exists()
