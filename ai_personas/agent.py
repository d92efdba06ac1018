"""The AI agent: from a customer's burst of messages to paced replies in the inbox, or to a
person with a summary.

Flow (each step a task queued by name, none of them sleeping):
1. ``inbound_note`` (hook of an inbound message): the reply becomes due ``debounce`` seconds
   later; every new message of the burst pushes the due time and queues a countdown task.
2. ``reply_due`` (countdown): runs only once the due time has come (an earlier task, pushed
   back by a later message, finds it in the future and leaves). It checks the handoff rules,
   the 24-hour window and the budget, builds the context, calls the model (tools included),
   checks the reply for leaks, splits it and schedules its parts.
3. ``part_send`` (countdown per part): sends through ``inbox.services.message_send_text``, the
   single-send path, unless the AI was stopped meanwhile (handoff, an agent replied).
A beat sweep re-queues due work whose task was lost.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext_noop

from ai_personas import handoff as rules
from ai_personas import pacing, prompts, reply_store, tools
from ai_personas.knowledge.retrieval import Hit, retrieve
from ai_personas.llm import LLM, LLMError, Usage
from ai_personas.models import AIMessage, AIState, ConversationAI, Persona, ReplyPart, Schedule
from ai_personas.reply_store import THREAD_WINDOW
from ai_personas.usage import usage_add
from core import duework
from core.realtime import send_event_on_commit
from core.tasks import enqueue_on_commit
from core.tenancy import require_tenant_schema

logger = logging.getLogger(__name__)

HISTORY = 12  # messages of the thread given to the model
TOOL_ROUNDS = 3
TOP_K = 5
# The due-work kind (``core.duework``) of the safety sweep: a company is due once a reply or a
# part is SWEEP_GRACE seconds late (its countdown task was lost with a worker).
AI_REPLIES = "ai_replies"
SWEEP_GRACE = 30.0
duework.register(AI_REPLIES)


@dataclass
class Composed:
    """One reply as the model would give it, with everything the playground shows."""

    text: str = ""
    parts: list[str] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    handoff: tuple[str, str] | None = None
    usage: Usage = field(default_factory=Usage)
    prompt_chars: int = 0
    prompt_tokens_estimate: int = 0
    model_ms: float = 0.0
    overhead_ms: float = 0.0
    retrieval_ms: float = 0.0
    actions: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    blocked: bool = False

    @property
    def cost(self) -> Decimal:
        return self.usage.cost


def compose(
    *,
    persona: Persona,
    history: list[tuple[str, str]],
    contact=None,
    conversation=None,
    turns: int = 0,
    burst: str | None = None,
    dry_run: bool = False,
    rng: random.Random | None = None,
    llm: LLM | None = None,
    knowledge_bases: list | None = None,
) -> Composed:
    """Rules, retrieval, prompt, model (with tools), guard, splitting. Writes nothing but what
    tools do (and, unless ``dry_run``, usage). ``knowledge_bases``: the persona's, when the
    caller has read them already."""
    started = time.perf_counter()
    out = Composed()
    customer_text = "\n".join(text for role, text in history[-6:] if role == "customer")
    last_burst: list[str] = []
    for role, text in reversed(history):
        if role != "customer":
            break
        last_burst.insert(0, text)
    burst = burst or "\n".join(last_burst) or customer_text
    rule = rules.rule_for(persona=persona, text=burst, turns=turns)
    if rule:
        out.handoff = (rule, "")
        out.overhead_ms = (time.perf_counter() - started) * 1000
        return out
    if knowledge_bases is None:
        knowledge_bases = list(persona.knowledge_bases.all())
    retrieval = retrieve(question=burst, knowledge_bases=knowledge_bases, top_k=TOP_K)
    out.hits, out.retrieval_ms = retrieval.hits, retrieval.ms
    prompt = prompts.build(persona=persona, history=history[-HISTORY:], hits=out.hits, contact=contact)
    out.prompt_chars, out.prompt_tokens_estimate = prompt.chars, prompt.estimated_tokens
    allowed = tools.tools_for(persona)
    ctx = tools.ToolContext(persona=persona, conversation=conversation, contact=contact, dry_run=dry_run)
    llm = llm or LLM(persona_id=persona.pk, account=True)
    messages = list(prompt.messages)
    result = None
    try:
        for _round in range(TOOL_ROUNDS):
            result = llm.chat(
                messages,
                model=persona.model or None,
                temperature=persona.temperature,
                tools=tools.openai_tools(allowed) if allowed else None,
                max_tokens=max(64, persona.max_reply_chars // 2),
            )
            out.model_ms += result.latency_ms
            out.usage.tokens_in += result.usage.tokens_in
            out.usage.tokens_out += result.usage.tokens_out
            if not result.tool_calls:
                break
            messages.append(result.message)
            for call in result.tool_calls:
                answer = tools.run(ctx, call.name, call.arguments, allowed)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": _json(answer)})
            if ctx.handoff:
                break
    except LLMError as exc:
        out.error = exc.message
        out.handoff = ("budget" if exc.kind == "budget" else "provider_error", exc.message)
        out.actions = ctx.actions
        out.overhead_ms = (time.perf_counter() - started) * 1000 - out.model_ms
        return out
    out.actions = ctx.actions
    if ctx.handoff:
        out.handoff = ctx.handoff
    text = (result.text if result else "").strip()
    if text and prompts.leaks(text, persona=persona, canary=prompt.canary):
        out.blocked = True
        out.handoff = out.handoff or ("guard", "")
        text = ""
    if len(text) > persona.max_reply_chars * 2:
        text = text[: persona.max_reply_chars * 2].rsplit(" ", 1)[0] + "…"
    out.text = text
    out.parts = pacing.split_reply(text)
    out.delays = pacing.schedule(out.parts, rng=rng or random.Random())
    out.overhead_ms = (time.perf_counter() - started) * 1000 - out.model_ms
    return out


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


# --- which persona serves a conversation ---------------------------------------------------------


def _in_business_hours(hours: dict, at: datetime) -> bool:
    if not hours:
        return True
    local = timezone.localtime(at)
    days = hours.get("days", [0, 1, 2, 3, 4])
    start, end = hours.get("start", "09:00"), hours.get("end", "18:00")
    return local.weekday() in days and start <= local.strftime("%H:%M") < end


def _agent_available() -> bool:
    from inbox.models import AgentSettings

    return AgentSettings.objects.filter(is_available=True, capacity__gt=0).exists()


def persona_applies(persona: Persona, *, text: str, at: datetime, started: bool = False) -> bool:
    """Whether the persona's schedule lets it answer now (``started``: already answering here)."""
    if persona.schedule == Schedule.ALWAYS:
        return True
    if persona.schedule == Schedule.OUTSIDE_HOURS:
        return not _in_business_hours(persona.business_hours, at)
    if persona.schedule == Schedule.NO_AGENT:
        return not _agent_available()
    if persona.schedule == Schedule.KEYWORD:
        return started or rules.asks_for_human(text, persona.trigger_keywords or ["__none__"])
    return False


def persona_for(conversation, *, text: str, at: datetime, current: Persona | None = None) -> Persona | None:
    if current is not None and current.is_active and persona_applies(current, text=text, at=at, started=True):
        return current
    candidates = Persona.objects.filter(is_active=True).prefetch_related("channels").order_by("pk")
    for persona in candidates:
        channel_ids = {c.pk for c in persona.channels.all()}
        if channel_ids and conversation.channel_id not in channel_ids:
            continue
        if persona_applies(persona, text=text, at=at):
            return persona
    return None


# --- inbox flow ----------------------------------------------------------------------------------


def _state_for_update(conversation_id: int) -> ConversationAI:
    state = ConversationAI.objects.select_for_update().filter(conversation_id=conversation_id).first()
    if state is None:
        ConversationAI.objects.get_or_create(conversation_id=conversation_id)
        state = ConversationAI.objects.select_for_update().get(conversation_id=conversation_id)
    return state


def _resolved_since(conversation_id: int, since: datetime | None) -> bool:
    """The conversation was resolved after the handoff (read from the inbox's event log)."""
    from inbox.models import RealtimeEvent

    if since is None:
        return False
    return RealtimeEvent.objects.filter(
        type="conversation",
        op="status",
        conversation_id=conversation_id,
        created_at__gt=since,
        payload__data__status="resolved",
    ).exists()


def emit_state(state: ConversationAI) -> None:
    """Agents' screens learn the AI state of the conversation (the panel's toggle)."""
    send_event_on_commit(
        {
            "type": "ai",
            "op": "state",
            "conversation": state.conversation_id,
            "state": state.state,
            "reason": state.handoff_reason,
            "persona": state.persona.name if state.persona else "",
        },
        groups=["inbox", f"conversation.{state.conversation_id}"],
    )


@transaction.atomic
def inbound_note(*, message_id: int, now: datetime | None = None) -> ConversationAI | None:
    """A customer message arrived: make the reply due after the persona's debounce."""
    from inbox.models import Direction, Message, MessageKind

    now = now or timezone.now()
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or message.direction != Direction.INBOUND or message.kind != MessageKind.TEXT:
        return None
    conversation = message.conversation
    state = _state_for_update(conversation.pk)
    if state.state == AIState.OFF:
        return state
    if state.state == AIState.HANDED_OFF:
        if not _resolved_since(conversation.pk, state.handed_off_at):
            return state  # a person has it
        state.state, state.handoff_reason, state.turns = AIState.ACTIVE, "", 0
        state.answered_inbound_id = state.last_inbound_id or 0
    persona = persona_for(conversation, text=message.body, at=now, current=state.persona)
    if persona is None:
        if state.persona_id is not None or state.due_at is not None:
            state.persona, state.due_at = None, None
            state.save(update_fields=["persona", "due_at", "state", "handoff_reason", "turns", "updated_at"])
        return state
    state.persona = persona
    state.due_at = now + timedelta(seconds=persona.debounce_seconds)
    state.last_inbound_id = max(message.pk, state.last_inbound_id or 0)
    state.save(
        update_fields=[
            "persona",
            "due_at",
            "last_inbound_id",
            "state",
            "handoff_reason",
            "turns",
            "answered_inbound_id",
            "updated_at",
        ]
    )
    enqueue_on_commit(
        "ai_personas.reply_due", require_tenant_schema(), conversation.pk, countdown=persona.debounce_seconds + 0.05
    )
    duework.mark_on_commit(AI_REPLIES, require_tenant_schema(), state.due_at.timestamp() + SWEEP_GRACE)
    return state


@dataclass
class Thread:
    history: list[tuple[str, str]]
    burst: str
    human_replied: bool


def _thread(conversation, *, since_id: int, upto_id: int, rows: list | None = None) -> Thread:
    """History for the model, the burst being answered and whether a person replied since the
    last answer, from one read of the latest messages (``rows``: already read with the reply's
    context, newest first), more only for a very long thread."""
    from inbox.models import Direction, MessageKind

    if rows is None:
        rows = list(
            conversation.messages.order_by("-created_at", "-id").values_list(
                "id", "direction", "kind", "body", "sent_by_id"
            )[:THREAD_WINDOW]
        )
    covered = len(rows) < THREAD_WINDOW or (rows and rows[-1][0] <= since_id)
    if not covered:
        return Thread(
            history=_history(conversation, upto_id=upto_id),
            burst=_burst(conversation, since_id=since_id, upto_id=upto_id),
            human_replied=_human_replied(conversation, since_id=since_id),
        )
    texts = [r for r in rows if r[2] == MessageKind.TEXT and r[0] <= upto_id][:HISTORY]
    history = [("customer" if r[1] == Direction.INBOUND else "assistant", r[3]) for r in reversed(texts)]
    burst = "\n".join(
        r[3]
        for r in reversed(rows)
        if r[1] == Direction.INBOUND and r[2] == MessageKind.TEXT and since_id < r[0] <= upto_id
    )
    human = any(
        r[1] == Direction.OUTBOUND and r[2] != MessageKind.NOTE and r[4] is not None and r[0] > since_id for r in rows
    )
    return Thread(history=history, burst=burst, human_replied=human)


def _history(conversation, *, upto_id: int) -> list[tuple[str, str]]:
    from inbox.models import Direction, Message, MessageKind

    rows = list(
        Message.objects.filter(conversation=conversation, kind=MessageKind.TEXT, pk__lte=upto_id)
        .order_by("-created_at", "-id")
        .values_list("direction", "body")[:HISTORY]
    )
    return [("customer" if d == Direction.INBOUND else "assistant", b) for d, b in reversed(rows)]


def _burst(conversation, *, since_id: int, upto_id: int) -> str:
    """The customer's messages this reply answers."""
    from inbox.models import Direction, Message, MessageKind

    return "\n".join(
        Message.objects.filter(
            conversation=conversation,
            direction=Direction.INBOUND,
            kind=MessageKind.TEXT,
            pk__gt=since_id,
            pk__lte=upto_id,
        )
        .order_by("created_at", "id")
        .values_list("body", flat=True)
    )


def _human_replied(conversation, *, since_id: int) -> bool:
    from inbox.models import Direction, Message, MessageKind

    return (
        Message.objects.filter(conversation=conversation, direction=Direction.OUTBOUND, pk__gt=since_id)
        .exclude(kind=MessageKind.NOTE)
        .exclude(sent_by_id=None)
        .exists()
    )


def hand_off(*, state: ConversationAI, reason: str, summary: str = "", detail: str = "") -> ConversationAI:
    """Give the conversation to a person: round-robin assignment, a private note, AI silent.
    Call inside a transaction holding the state's row lock."""
    from inbox.services import conversation_auto_assign, note_add

    conversation = state.conversation
    state.state, state.handoff_reason, state.handed_off_at, state.due_at = (
        AIState.HANDED_OFF,
        reason[:30],
        timezone.now(),
        None,
    )
    state.save(update_fields=["state", "handoff_reason", "handed_off_at", "due_at", "updated_at"])
    ReplyPart.objects.filter(conversation_ai=state, message_id=None, cancelled=False).update(cancelled=True)
    if reason != "agent_active":
        conversation_auto_assign(conversation=conversation)
        note_add(conversation=conversation, body=_summary_note(state, reason, summary, detail), by=None)
        if reason not in SILENT_HANDOFFS:
            _tell_customer(state)
    usage_add(persona_id=state.persona_id, handoffs=1)
    emit_state(state)
    return state


# Handoffs after which the customer gets no message from the AI: a person is already writing,
# the window allows no free text, or the AI's own reply was the problem.
SILENT_HANDOFFS = {"agent_active", "window_closed", "guard"}
MSG_HOLD = gettext_noop("One moment, please: a person from our team will continue with you here.")


def _tell_customer(state: ConversationAI) -> None:
    """A customer is never left without an answer: say a person takes over (best effort)."""
    from django.utils import translation
    from django.utils.translation import gettext

    from inbox.services import message_send_text

    persona = state.persona
    with translation.override(persona.language if persona else "pt-br"):
        text = gettext(MSG_HOLD)
    payload = {"ai": {"persona": persona.name if persona else "AI", "citations": [], "cost": "0", "tokens": 0}}
    try:
        with transaction.atomic():
            message_send_text(
                conversation=state.conversation,
                text=text,
                by=None,
                idempotency_key=f"ai-hold-{state.pk}-{int(state.handed_off_at.timestamp() * 1e6) if state.handed_off_at else 0}",
                payload=payload,
            )
    except ValidationError:
        logger.info("could not tell the customer of conversation %s about the handoff", state.conversation_id)


def _summary_note(state: ConversationAI, reason: str, summary: str, detail: str) -> str:
    from django.utils.translation import gettext as _

    from inbox.models import Direction, Message, MessageKind

    name = state.persona.name if state.persona else "AI"
    lines = [
        _("🤖 %(name)s handed this conversation to a person: %(reason)s.")
        % {"name": name, "reason": rules.reason_text(reason)}
    ]
    if detail:
        lines.append(detail)
    if summary:
        lines.append(_("Summary: %(summary)s") % {"summary": summary})
    else:
        asked = list(
            Message.objects.filter(
                conversation_id=state.conversation_id, direction=Direction.INBOUND, kind=MessageKind.TEXT
            )
            .order_by("-created_at", "-id")
            .values_list("body", flat=True)[:3]
        )
        if asked:
            lines.append(_("The customer wrote: %(text)s") % {"text": " / ".join(reversed([a[:200] for a in asked]))})
    return "\n".join(lines)[:4000]


def reply_due(
    *, conversation_id: int, now: datetime | None = None, rng: random.Random | None = None, llm: LLM | None = None
) -> str:
    """Answer the burst if its time has come. Returns what happened (for tests and logs).

    The common path is four statements around the model call (claim, context, retrieval,
    finish: ``reply_store``); every other outcome is decided under the state's row lock."""
    from inbox.selectors import window_is_open

    now = now or timezone.now()
    claimed = reply_store.claim(conversation_id=conversation_id, now=now)
    if claimed is None:
        outcome = _unclaimed(conversation_id=conversation_id, now=now)
        if outcome != "due":
            return outcome
        # Made due between the claim and the look (a test clock, a message in between).
        claimed = reply_store.claim(conversation_id=conversation_id, now=now)
        if claimed is None:
            return "not_yet"
    read = reply_store.context(state_id=claimed.state_id)
    if read is None:
        return "inactive"  # its persona was deleted since the claim
    state = read.state
    conversation, persona = state.conversation, read.persona
    thread = _thread(conversation, since_id=claimed.since, upto_id=claimed.upto, rows=read.thread)
    if thread.human_replied:
        return _hand_off_locked(state_id=state.pk, reason="agent_active")
    if not window_is_open(conversation, now=now):
        return _hand_off_locked(state_id=state.pk, reason="window_closed")
    llm = llm or LLM(persona_id=persona.pk, account=True)
    llm.use_endpoint_version(read.provider_version)
    llm.defer_usage()  # written with the reply, in one statement
    llm.assume_month_tokens(read.month_tokens)
    composed = compose(
        persona=persona,
        history=thread.history,
        contact=conversation.contact,
        conversation=conversation,
        turns=state.turns,
        burst=thread.burst,
        rng=rng,
        llm=llm,
        knowledge_bases=read.knowledge_bases,
    )
    usage = llm.deferred_usage
    if composed.parts and not composed.handoff:
        sent_at = timezone.now()
        stored = reply_store.finish(
            state_id=state.pk,
            persona_id=persona.pk,
            upto=claimed.upto,
            parts=composed.parts,
            send_at=[sent_at + timedelta(seconds=delay) for delay in composed.delays],
            citations=[h.citation() for h in composed.hits],
            usage=usage,
            now=sent_at,
        )
        if stored is not None:
            _parts_queued(stored, composed.delays)
            typing_start(conversation_id, persona.name)
            return "replied"
    return _settle(state_id=state.pk, upto=claimed.upto, composed=composed, usage=usage)


def _unclaimed(*, conversation_id: int, now: datetime) -> str:
    """Why there was no reply to claim: "nothing", "not_yet", "inactive" (its due time is then
    cleared) or "due" (it became claimable meanwhile)."""
    with transaction.atomic():
        state = ConversationAI.objects.select_for_update().filter(conversation_id=conversation_id).first()
        if state is None or state.due_at is None:
            return "nothing"
        if state.due_at > now:
            return "not_yet"
        if state.state != AIState.ACTIVE or state.persona_id is None:
            state.due_at = None
            state.save(update_fields=["due_at", "updated_at"])
            return "inactive"
        return "due"


def _locked_state(state_id: int) -> ConversationAI:
    return (
        ConversationAI.objects.select_for_update(of=("self",))
        .select_related("persona", "conversation__contact", "conversation__channel")
        .get(pk=state_id)
    )


def _hand_off_locked(*, state_id: int, reason: str) -> str:
    with transaction.atomic():
        state = _locked_state(state_id)
        if state.state != AIState.ACTIVE:
            return "inactive"
        hand_off(state=state, reason=reason)
    return reason


def _settle(*, state_id: int, upto: int, composed: Composed, usage: Usage) -> str:
    """The reply's outcome off the common path: a handoff (with or without parts to send), or
    nothing to do because a person took over or the customer wrote again meanwhile."""
    with transaction.atomic():
        state = _locked_state(state_id)
        persona = state.persona
        # The model's tokens were spent whatever happens next.
        usage_add(persona_id=state.persona_id, tokens_in=usage.tokens_in, tokens_out=usage.tokens_out)
        if state.state != AIState.ACTIVE:
            return "inactive"
        if (state.last_inbound_id or 0) > upto and state.due_at is not None:
            return "superseded"  # the customer wrote again while the model was thinking
        if composed.handoff:
            reason, summary = composed.handoff
            hand_off(
                state=state,
                reason=reason,
                summary=summary if reason not in ("provider_error", "budget") else "",
                detail=composed.error,
            )
            if not composed.parts:
                return f"handoff:{reason}"
        if not composed.parts:
            hand_off(state=state, reason="no_answer")
            return "handoff:no_answer"
        _schedule_parts(state=state, composed=composed, now=timezone.now())
        state.turns = state.turns + 1
        state.save(update_fields=["turns", "updated_at"])
        usage_add(persona_id=state.persona_id, replies=1)
        typing_start(state.conversation_id, persona.name if persona else "AI")
    return "replied" if not composed.handoff else f"replied+handoff:{composed.handoff[0]}"


def typing_start(conversation_id: int, name: str) -> None:
    """The conversation shows the AI typing (queued on the sender loop: not waited for)."""
    send_event_on_commit(
        {"type": "typing", "op": "start", "conversation": conversation_id, "name": name, "ai": True},
        groups=[f"conversation.{conversation_id}"],
        queued=True,
    )


def _parts_queued(parts: list[tuple[int, datetime]], delays: list[float]) -> None:
    """Each stored part's countdown task, and the sweep's due mark for the earliest."""
    schema = require_tenant_schema()
    for (part_id, _send_at), delay in zip(parts, delays, strict=True):
        enqueue_on_commit("ai_personas.part_send", schema, part_id, countdown=delay)
    earliest = min(send_at for _part_id, send_at in parts)
    duework.mark_on_commit(AI_REPLIES, schema, earliest.timestamp() + SWEEP_GRACE)


def _schedule_parts(*, state: ConversationAI, composed: Composed, now: datetime) -> list[ReplyPart]:
    citations = [h.citation() for h in composed.hits]
    parts = []
    for position, (text, delay) in enumerate(zip(composed.parts, composed.delays, strict=True)):
        first = position == 0
        parts.append(
            ReplyPart(
                conversation_ai=state,
                persona=state.persona,
                position=position,
                text=text,
                send_at=now + timedelta(seconds=delay),
                citations=citations if first else [],
                cost=composed.cost if first else 0,
                tokens_in=composed.usage.tokens_in if first else 0,
                tokens_out=composed.usage.tokens_out if first else 0,
            )
        )
    parts = ReplyPart.objects.bulk_create(parts)
    if parts:
        _parts_queued([(part.pk, part.send_at) for part in parts], composed.delays)
    return parts


@transaction.atomic
def part_send(*, part_id: int, now: datetime | None = None) -> str:
    """Send one scheduled part through the inbox's single-send path."""
    from inbox.models import Conversation
    from inbox.services import message_send_text

    now = now or timezone.now()
    part = (
        ReplyPart.objects.select_for_update(of=("self",))
        .select_related("conversation_ai", "persona")
        .filter(pk=part_id)
        .first()
    )
    if part is None or part.cancelled or part.message_id:
        return "nothing"
    if part.send_at > now:
        return "not_yet"
    state = ConversationAI.objects.select_for_update().get(pk=part.conversation_ai_id)
    conversation = Conversation.objects.select_related("channel", "contact").get(pk=state.conversation_id)
    state.conversation = conversation
    if state.state != AIState.ACTIVE:
        part.cancelled = True
        part.save(update_fields=["cancelled"])
        return "cancelled"
    if _human_replied(conversation, since_id=state.answered_inbound_id or 0):
        part.cancelled = True
        part.save(update_fields=["cancelled"])
        hand_off(state=state, reason="agent_active")
        return "cancelled"
    persona = part.persona
    payload = {
        "ai": {
            "persona": persona.name if persona else "AI",
            "citations": part.citations,
            "cost": str(part.cost),
            "tokens": part.tokens_in + part.tokens_out,
        }
    }
    try:
        message, _created = message_send_text(
            conversation=conversation, text=part.text, by=None, idempotency_key=f"ai-part-{part.pk}", payload=payload
        )
    except ValidationError as exc:
        part.cancelled = True
        part.save(update_fields=["cancelled"])
        hand_off(state=state, reason="window_closed", detail="; ".join(exc.messages))
        return "refused"
    part.message_id = message.pk
    part.save(update_fields=["message_id"])
    AIMessage.objects.get_or_create(
        message_id=message.pk,
        defaults={
            "persona": persona,
            "citations": part.citations,
            "tokens_in": part.tokens_in,
            "tokens_out": part.tokens_out,
            "cost": part.cost,
        },
    )
    return "sent"


@transaction.atomic
def agent_replied(*, conversation_id: int) -> str:
    """A person wrote to the customer (the inbox's ``on_agent_message``): the AI steps back
    at once, its unsent parts cancelled, until the conversation is resolved or given back."""
    state = ConversationAI.objects.select_for_update(of=("self",)).filter(conversation_id=conversation_id).first()
    if state is None or state.state != AIState.ACTIVE:
        return "nothing"
    hand_off(state=state, reason="agent_active")
    return "agent_active"


def sweep(*, now: datetime | None = None, grace: float = SWEEP_GRACE) -> int:
    """Re-queue replies and parts whose countdown task was lost (beat); mark the company due
    again for the earliest reply or part still waiting (one requeued here included: its task
    may be lost too)."""
    now = now or timezone.now()
    edge = now - timedelta(seconds=grace)
    schema = require_tenant_schema()
    from core.tasks import enqueue

    queued = 0
    for conversation_id in ConversationAI.objects.filter(due_at__lte=edge).values_list("conversation_id", flat=True)[
        :500
    ]:
        enqueue("ai_personas.reply_due", schema, conversation_id)
        queued += 1
    for part_id in ReplyPart.objects.filter(message_id=None, cancelled=False, send_at__lte=edge).values_list(
        "pk", flat=True
    )[:500]:
        enqueue("ai_personas.part_send", schema, part_id)
        queued += 1
    waiting = [
        ConversationAI.objects.filter(due_at__isnull=False).aggregate(at=Min("due_at"))["at"],
        ReplyPart.objects.filter(message_id=None, cancelled=False).aggregate(at=Min("send_at"))["at"],
    ]
    if any(waiting):
        duework.mark(AI_REPLIES, schema, min(at for at in waiting if at).timestamp() + SWEEP_GRACE)
    return queued
