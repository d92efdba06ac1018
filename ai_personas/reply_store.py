"""The database side of one AI reply, in three round trips on the common path.

``agent.reply_due`` runs once per customer burst and every statement it sends is a round trip
to PostgreSQL (and, on a busy host, a wait for a time slice), so the common path is shaped
around them:

1. :func:`claim`: one ``UPDATE ... RETURNING`` takes the due reply (clears ``due_at``, moves
   ``answered_inbound_id``) if it is due, active and has a persona. Locking and claiming in one
   autocommitted statement replaces a transaction of five.
2. :func:`context`: one ``SELECT`` reads everything the reply is built from: the state, its
   persona, the conversation with its contact and channel, the latest messages of the thread,
   the persona's knowledge bases (model, dimensions, language, threshold), the month's tokens
   for the budget check and the version of the provider settings (the endpoint is cached by
   it, see ``llm.company_endpoint_of``).
3. (the hybrid retrieval, one statement of its own, then the model)
4. :func:`finish`: one statement checks the state is still active and not superseded, adds the
   turn, inserts the reply's parts (citations and cost on the first) and adds the tokens and
   the reply to the day's usage.

Anything off the common path (not due yet, inactive, a handoff, superseded) goes back to the
row-locked transactions of ``agent``, where the rules are spelled out in the ORM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat, JSONObject
from django.utils import timezone

from ai_personas.llm import Usage
from ai_personas.models import AIState, ConversationAI, KnowledgeBase, ProviderSettings
from ai_personas.usage import cost_of, month_tokens_expression, upsert_sql

THREAD_WINDOW = 40  # latest messages read with the context (a longer burst reads more)


@dataclass(frozen=True)
class Claim:
    state_id: int
    since: int  # last customer message answered before this reply
    upto: int  # last customer message this reply answers


_CLAIM = f"""
WITH due AS (
    SELECT id, coalesce(answered_inbound_id, 0) AS since
    FROM ai_personas_conversationai
    WHERE conversation_id = %(conversation)s AND due_at <= %(now)s
      AND state = '{AIState.ACTIVE.value}' AND persona_id IS NOT NULL
    FOR UPDATE
)
UPDATE ai_personas_conversationai s
SET due_at = NULL, answered_inbound_id = coalesce(s.last_inbound_id, 0), updated_at = %(now)s
FROM due WHERE s.id = due.id
RETURNING s.id, due.since, s.answered_inbound_id
"""


def claim(*, conversation_id: int, now: datetime) -> Claim | None:
    """Take the conversation's due reply, or ``None`` when there is none to take now (a later
    message's task will, or the state says why: see ``agent._unclaimed``)."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, {"conversation": conversation_id, "now": now})
        row = cursor.fetchone()
    return Claim(state_id=row[0], since=row[1], upto=row[2]) if row else None


@dataclass
class Context:
    state: ConversationAI  # with .persona and .conversation (.contact, .channel) loaded
    knowledge_bases: list[KnowledgeBase]  # metadata only: what retrieval needs
    thread: list[tuple[int, str, str, str, int | None]]  # (id, direction, kind, body, sent_by), newest first
    month_tokens: int
    provider_version: str | None  # for llm.company_endpoint_of


def _provider_version() -> Subquery:
    """The company's provider settings row as it changes through ``save()``: id@updated_at."""
    return Subquery(
        ProviderSettings.objects.order_by("pk")
        .annotate(version=Concat(Cast("id", CharField()), Value("@"), Cast("updated_at", CharField())))
        .values("version")[:1]
    )


def context(*, state_id: int) -> Context:
    from inbox.models import Message

    messages = (
        Message.objects.filter(conversation_id=OuterRef("conversation_id"))
        .order_by("-created_at", "-id")
        .values(row=JSONObject(id="id", direction="direction", kind="kind", body="body", sent_by="sent_by_id"))[
            :THREAD_WINDOW
        ]
    )
    persona_bases = (
        KnowledgeBase.objects.filter(personas=OuterRef("persona_id"))
        .order_by("pk")
        .values(
            row=JSONObject(
                id="id", model="embedding_model", dims="embedding_dims", language="language", min_score="min_score"
            )
        )
    )
    state = (
        ConversationAI.objects.select_related("persona", "conversation__contact", "conversation__channel")
        .annotate(
            thread_rows=ArraySubquery(messages),
            base_rows=ArraySubquery(persona_bases),
            month_tokens=month_tokens_expression(),
            provider_version=_provider_version(),
        )
        .get(pk=state_id)
    )
    bases = [_json(row) for row in state.base_rows]
    thread = [_json(row) for row in state.thread_rows]
    return Context(
        state=state,
        knowledge_bases=[
            KnowledgeBase(
                pk=b["id"],
                embedding_model=b["model"],
                embedding_dims=b["dims"],
                language=b["language"],
                min_score=b["min_score"],
            )
            for b in bases
        ],
        thread=[(m["id"], m["direction"], m["kind"], m["body"], m["sent_by"]) for m in thread],
        month_tokens=int(state.month_tokens or 0),
        provider_version=state.provider_version,
    )


def _json(value):
    # jsonb arrives decoded; a driver or a Django version that hands back text still works.
    return json.loads(value) if isinstance(value, str) else value


_FINISH = f"""
WITH turn AS (
    UPDATE ai_personas_conversationai
    SET turns = turns + 1, updated_at = %(now)s
    WHERE id = %(state)s AND state = '{AIState.ACTIVE.value}'
      AND NOT (coalesce(last_inbound_id, 0) > %(upto)s AND due_at IS NOT NULL)
    RETURNING id
), parts AS (
    INSERT INTO ai_personas_replypart
        (conversation_ai_id, persona_id, position, text, send_at, message_id, cancelled,
         citations, cost, tokens_in, tokens_out)
    SELECT turn.id, %(persona)s, p.position, p.text, p.send_at, NULL, false,
           p.citations, p.cost, p.tokens_in, p.tokens_out
    FROM turn, unnest(%(positions)s::int[], %(texts)s::text[], %(send_at)s::timestamptz[],
                      %(citations)s::jsonb[], %(costs)s::numeric[], %(tokens_in)s::int[], %(tokens_out)s::int[])
         AS p(position, text, send_at, citations, cost, tokens_in, tokens_out)
    RETURNING id, position, send_at
), usage AS (
    {upsert_sql("SELECT %(day)s, %(persona)s, %(usage_in)s, %(usage_out)s, %(usage_cost)s, 1, 0 FROM turn")}
)
SELECT id, send_at FROM parts ORDER BY position
"""


def finish(
    *,
    state_id: int,
    persona_id: int,
    upto: int,
    parts: list[str],
    send_at: list[datetime],
    citations: list[dict],
    usage: Usage,
    now: datetime,
) -> list[tuple[int, datetime]] | None:
    """Store a reply: ``(part id, send_at)`` of each part, or ``None`` (nothing written) when
    the conversation is no longer the AI's or the customer wrote again meanwhile."""
    first = [True] + [False] * (len(parts) - 1)
    cost = cost_of(usage.tokens_in, usage.tokens_out)
    with connection.cursor() as cursor:
        cursor.execute(
            _FINISH,
            {
                "now": now,
                "state": state_id,
                "upto": upto,
                "persona": persona_id,
                "positions": list(range(len(parts))),
                "texts": parts,
                "send_at": send_at,
                "citations": [json.dumps(citations if f else [], ensure_ascii=False) for f in first],
                "costs": [cost if f else Decimal(0) for f in first],
                "tokens_in": [usage.tokens_in if f else 0 for f in first],
                "tokens_out": [usage.tokens_out if f else 0 for f in first],
                "day": timezone.localdate(),
                "usage_in": usage.tokens_in,
                "usage_out": usage.tokens_out,
                "usage_cost": cost,
            },
        )
        rows = cursor.fetchall()
    return [(r[0], r[1]) for r in rows] or None
