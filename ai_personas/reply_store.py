"""The database side of one AI reply: on the common path, three statements of its own around
the retrieval's one.

``agent.reply_due`` runs once per customer burst and every statement it sends is a round trip
to PostgreSQL (and, on a busy host, a wait for a time slice), so the common path is shaped
around them:

1. :func:`claim`: one ``UPDATE ... RETURNING`` takes the due reply (clears ``due_at``, moves
   ``answered_inbound_id``) if it is due, active and has a persona. Locking and claiming in one
   autocommitted statement replaces a transaction of five.
2. :func:`context`: one ``SELECT`` reads everything the reply is built from: the state, its
   persona, the conversation with its contact and channel (model instances made from the raw
   row: the ORM would spend several times the query's own time compiling this read), the
   latest messages of the thread, the persona's knowledge bases (model, dimensions, language,
   threshold), the month's tokens for the budget check and the version of the provider
   settings (the endpoint is cached by it, see ``llm.company_endpoint_of``).
3. (the hybrid retrieval, one statement of its own, then the model)
4. :func:`finish`: one statement checks the state is still active and not superseded, adds the
   turn, inserts the reply's parts (citations and cost on the first) and adds the tokens and
   the reply to the day's usage.

Anything off the common path (not due yet, inactive, a handoff, superseded) goes back to the
row-locked transactions of ``agent``, where the rules are spelled out in the ORM.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, models
from django.utils import timezone

from ai_personas.llm import Usage
from ai_personas.models import AIState, ConversationAI, KnowledgeBase, Persona, ProviderSettings, UsageDay
from ai_personas.usage import cost_of, upsert_sql
from tenants.fields import EncryptedTextField

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
    state: ConversationAI  # with .persona and .conversation (.contact, .channel) attached
    persona: Persona
    knowledge_bases: list[KnowledgeBase]  # metadata only: what retrieval needs
    thread: list[tuple[int, str, str, str, int | None]]  # (id, direction, kind, body, sent_by), newest first
    month_tokens: int
    provider_version: str | None  # for llm.company_endpoint_of


def _loaded_fields(model) -> tuple:
    """The columns read for ``model``: all but generated ones (search vectors) and encrypted
    ones (a reply never uses a channel's secrets; touched, they load as deferred fields do)."""
    return tuple(
        f for f in model._meta.concrete_fields if not isinstance(f, models.GeneratedField | EncryptedTextField)
    )


def _hydrate(model, values: list):
    """A model instance from its columns of a raw row, with the fields' own conversions (JSON,
    decryption) applied as the ORM does."""
    fields = _loaded_fields(model)
    converted = []
    for field, value in zip(fields, values, strict=True):
        for converter in field.get_db_converters(connection):
            value = converter(value, field, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


@functools.cache
def _row_models() -> tuple:
    """(model, table alias) in the order of the context row's columns."""
    from crm.models import Contact
    from inbox.models import Channel, Conversation

    return ((ConversationAI, "s"), (Persona, "p"), (Conversation, "c"), (Contact, "ct"), (Channel, "ch"))


@functools.cache
def _context_sql() -> str:
    """The context's one statement, built once from the models' metadata (compiling the same
    read with the ORM costs several times its execution)."""
    from crm.models import Contact
    from inbox.models import Channel, Conversation, Message

    columns = ", ".join(f'{alias}."{f.column}"' for model, alias in _row_models() for f in _loaded_fields(model))
    through = Persona.knowledge_bases.through._meta
    return f"""
SELECT {columns},
    ARRAY(
        SELECT json_build_array(m.id, m.direction, m.kind, m.body, m.sent_by_id)
        FROM {Message._meta.db_table} m WHERE m.conversation_id = s.conversation_id
        ORDER BY m.created_at DESC, m.id DESC LIMIT %(window)s
    ),
    ARRAY(
        SELECT json_build_array(kb.id, kb.embedding_model, kb.embedding_dims, kb.language, kb.min_score)
        FROM {KnowledgeBase._meta.db_table} kb
        JOIN {through.db_table} pk ON pk.knowledgebase_id = kb.id
        WHERE pk.persona_id = s.persona_id ORDER BY kb.id
    ),
    (SELECT coalesce(sum(tokens_in + tokens_out), 0) FROM {UsageDay._meta.db_table}
     WHERE day >= %(month_start)s AND day <= %(today)s),
    -- the provider settings row as it changes through save(): for the endpoint cache
    (SELECT id::text || '@' || updated_at::text FROM {ProviderSettings._meta.db_table} ORDER BY id LIMIT 1)
FROM {ConversationAI._meta.db_table} s
JOIN {Persona._meta.db_table} p ON p.id = s.persona_id
JOIN {Conversation._meta.db_table} c ON c.id = s.conversation_id
JOIN {Contact._meta.db_table} ct ON ct.id = c.contact_id
JOIN {Channel._meta.db_table} ch ON ch.id = c.channel_id
WHERE s.id = %(state)s
"""


def context(*, state_id: int) -> Context | None:
    """Everything a reply is built from, in one statement; ``None`` if the state or its persona
    is gone."""
    sql = _context_sql()
    today = timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute(
            sql, {"state": state_id, "window": THREAD_WINDOW, "month_start": today.replace(day=1), "today": today}
        )
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    instances = []
    for model, _alias in _row_models():
        width = len(_loaded_fields(model))
        instances.append(_hydrate(model, values[:width]))
        values = values[width:]
    state, persona, conversation, contact, channel = instances
    conversation.contact, conversation.channel = contact, channel
    state.conversation, state.persona = conversation, persona
    thread_rows, base_rows, month_tokens, provider_version = values
    bases = [_json(b) for b in base_rows]
    return Context(
        state=state,
        persona=persona,
        knowledge_bases=[
            KnowledgeBase(pk=b[0], embedding_model=b[1], embedding_dims=b[2], language=b[3], min_score=b[4])
            for b in bases
        ],
        thread=[tuple(_json(m)) for m in thread_rows],
        month_tokens=int(month_tokens or 0),
        provider_version=provider_version,
    )


def _json(value):
    # json arrives decoded or as text, depending on the driver's loaders.
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
