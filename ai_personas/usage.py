"""Usage accounting: tokens, estimated cost, replies and handoffs per persona per day.

Written with one upsert per call (``ON CONFLICT ... DO UPDATE``), so concurrent workers add up
instead of overwriting each other. The month's total is what the token budget checks.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from ai_personas.models import UsageDay

_INSERT = "INSERT INTO ai_personas_usageday AS u (day, persona_id, tokens_in, tokens_out, cost, replies, handoffs)"
_ADD_UP = """ON CONFLICT (day, persona_id) DO UPDATE SET
    tokens_in = u.tokens_in + EXCLUDED.tokens_in,
    tokens_out = u.tokens_out + EXCLUDED.tokens_out,
    cost = u.cost + EXCLUDED.cost,
    replies = u.replies + EXCLUDED.replies,
    handoffs = u.handoffs + EXCLUDED.handoffs"""
_UPSERT = f"{_INSERT}\nVALUES (%s, %s, %s, %s, %s, %s, %s)\n{_ADD_UP}"


def upsert_sql(select: str) -> str:
    """The usage upsert fed by ``select`` (day, persona_id, tokens_in, tokens_out, cost,
    replies, handoffs), for a statement that writes usage along with other rows."""
    return f"{_INSERT}\n{select}\n{_ADD_UP}"


def cost_of(tokens_in: int, tokens_out: int) -> Decimal:
    per_in = Decimal(str(settings.AI_PRICE_INPUT_PER_MTOK))
    per_out = Decimal(str(settings.AI_PRICE_OUTPUT_PER_MTOK))
    return ((per_in * tokens_in + per_out * tokens_out) / Decimal(1_000_000)).quantize(Decimal("0.000001"))


def usage_add(
    *,
    persona_id: int | None,
    tokens_in: int = 0,
    tokens_out: int = 0,
    replies: int = 0,
    handoffs: int = 0,
    day: dt.date | None = None,
) -> None:
    if not (tokens_in or tokens_out or replies or handoffs):
        return
    cost = cost_of(tokens_in, tokens_out)
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT,
            [day or timezone.localdate(), persona_id, tokens_in, tokens_out, cost, replies, handoffs],
        )


def month_tokens(*, today: dt.date | None = None) -> int:
    """Tokens (in + out) the company used this calendar month."""
    today = today or timezone.localdate()
    totals = UsageDay.objects.filter(day__gte=today.replace(day=1), day__lte=today).aggregate(
        i=Sum("tokens_in"), o=Sum("tokens_out")
    )
    return int(totals["i"] or 0) + int(totals["o"] or 0)


def usage_rows(*, since: dt.date, until: dt.date, persona_id: int | None = None) -> list[dict]:
    qs = UsageDay.objects.filter(day__gte=since, day__lte=until)
    if persona_id is not None:
        qs = qs.filter(persona_id=persona_id)
    return [
        {
            "day": row["day"],
            "persona": row["persona_id"],
            "persona_name": row["persona__name"] or "",
            "tokens_in": row["tokens_in"],
            "tokens_out": row["tokens_out"],
            "cost": row["cost"] or Decimal(0),
            "replies": row["replies"],
            "handoffs": row["handoffs"],
        }
        for row in qs.order_by("-day", "persona_id").values(
            "day", "persona_id", "persona__name", "tokens_in", "tokens_out", "cost", "replies", "handoffs"
        )
    ]


def usage_totals(*, since: dt.date, until: dt.date) -> dict:
    totals = UsageDay.objects.filter(day__gte=since, day__lte=until).aggregate(
        tokens_in=Sum("tokens_in"),
        tokens_out=Sum("tokens_out"),
        cost=Sum("cost"),
        replies=Sum("replies"),
        handoffs=Sum("handoffs"),
    )
    return {k: (v or 0) for k, v in totals.items()}
