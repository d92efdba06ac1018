"""Reads of the Kanban board: columns with their count and total value, the first cards of each
column and the next page on scroll (keyset on ``rank``: the ``(stage, rank)`` index), filters,
a card's drawer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from kanban import tiles
from kanban.models import AIDecision, Card, CardMove, DecisionOutcome, Pipeline, SavedView, Stage, StageKind

PAGE = 25
# The columns of a card that ``column_cards`` loads (as instances; the board reads rows,
# ``kanban.tiles``).
TILE_FIELDS = (*tiles.VALUES, "pipeline_id", "contact__name", "contact__phone")
# The owner filter's value for cards nobody owns.
OWNER_NONE = "none"
FILTER_KEYS = (
    "owner",
    "tag",
    "value_min",
    "value_max",
    "stalled",
    "created_from",
    "created_to",
    "closed_from",
    "closed_to",
    "q",
)


@dataclass
class Column:
    stage: Stage
    count: int = 0
    total: Decimal = Decimal(0)
    cards: list[dict] = field(default_factory=list)
    more: bool = False


def pipelines() -> QuerySet[Pipeline]:
    return Pipeline.objects.all()


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value).replace(",", "."))
    except InvalidOperation:
        return None


def _date(value) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def clean_filters(params) -> dict:
    """The board's filters from a query string (or a saved view): unknown or malformed values
    are dropped, never an error."""
    clean: dict = {}
    for key in FILTER_KEYS:
        raw = params.get(key) if hasattr(params, "get") else None
        if raw in (None, ""):
            continue
        value: object
        if key == "owner" and str(raw) == OWNER_NONE:
            value = OWNER_NONE
        elif key in ("owner", "tag"):
            value = _int(raw)
        elif key in ("value_min", "value_max"):
            value = _decimal(raw)
        elif key == "stalled":
            value = str(raw).lower() in ("1", "true", "on", "yes") or raw is True
        elif key == "q":
            value = str(raw).strip()[:100] or None
        else:
            value = _date(raw)
        if value not in (None, False):
            clean[key] = value
    return clean


def filtered(qs: QuerySet[Card], *, pipeline: Pipeline, filters: dict, now: dt.datetime | None = None):
    f = filters or {}
    if f.get("owner") == OWNER_NONE:
        qs = qs.filter(owner_id__isnull=True)
    elif "owner" in f:
        qs = qs.filter(owner_id=f["owner"])
    if "tag" in f:
        qs = qs.filter(tag_ids__contains=[f["tag"]])
    if "value_min" in f:
        qs = qs.filter(value__gte=f["value_min"])
    if "value_max" in f:
        qs = qs.filter(value__lte=f["value_max"])
    if f.get("stalled"):
        limit = (now or timezone.now()) - dt.timedelta(days=pipeline.stalled_after_days)
        qs = qs.filter(stage__kind=StageKind.OPEN, stage_entered_at__lte=limit)
    if "created_from" in f:
        qs = qs.filter(created_at__date__gte=f["created_from"])
    if "created_to" in f:
        qs = qs.filter(created_at__date__lte=f["created_to"])
    if "closed_from" in f:
        qs = qs.filter(closed_at__date__gte=f["closed_from"])
    if "closed_to" in f:
        qs = qs.filter(closed_at__date__lte=f["closed_to"])
    if f.get("q"):
        q = f["q"]
        qs = qs.filter(Q(title__icontains=q) | Q(contact__name__icontains=q) | Q(contact__phone__contains=q))
    return qs


def board_cards(*, pipeline: Pipeline, filters: dict | None = None, now=None) -> QuerySet[Card]:
    return filtered(Card.objects.filter(pipeline=pipeline), pipeline=pipeline, filters=filters or {}, now=now)


def column_cards(
    *, stage: Stage, filters: dict | None = None, after_rank: str | None = None, limit: int = PAGE, now=None
) -> list[Card]:
    qs = (
        filtered(Card.objects.filter(stage_id=stage.pk), pipeline=stage.pipeline, filters=filters or {}, now=now)
        .select_related("contact")
        .only(*TILE_FIELDS)
    )
    if after_rank:
        qs = qs.filter(rank__gt=after_rank)
    return list(qs.order_by("rank")[:limit])


def column_tiles(
    *, board: tiles.Board, stage: Stage, filters: dict | None = None, after_rank: str | None = None, limit: int = PAGE
) -> tuple[list[dict], bool]:
    """One column's next page of tiles (scrolling) and whether more follow."""
    qs = filtered(Card.objects.filter(stage_id=stage.pk), pipeline=board.pipeline, filters=filters or {}, now=board.now)
    if after_rank:
        qs = qs.filter(rank__gt=after_rank)
    found = list(tiles.rows(qs, board.pipeline).order_by("rank")[: limit + 1])
    tiles.add_ai(found[:limit])
    return [board.tile(row) for row in found[:limit]], len(found) > limit


def tile(*, board: tiles.Board, card_id: int, filters: dict | None = None) -> dict | None:
    """One card's tile, or ``None`` when the board's filters leave it out (or it is gone)."""
    qs = filtered(
        Card.objects.filter(pk=card_id, pipeline=board.pipeline),
        pipeline=board.pipeline,
        filters=filters or {},
        now=board.now,
    )
    row = tiles.rows(qs, board.pipeline).first()
    if row is None:
        return None
    tiles.add_ai([row])
    return board.tile(row)


def stages_of(pipeline: Pipeline) -> list[Stage]:
    stages = list(pipeline.stages.all())
    for stage in stages:
        stage.pipeline = pipeline
    return stages


def board(
    *,
    pipeline: Pipeline,
    filters: dict | None = None,
    limit: int = PAGE,
    now=None,
    members: dict[int, str] | None = None,
) -> list[Column]:
    """Every column with its count and total (one grouped query) and its first ``limit`` tiles
    (all columns in one statement: a ``UNION ALL`` of one index range scan per column)."""
    now = now or timezone.now()
    stages = stages_of(pipeline)
    totals = {
        row["stage_id"]: row
        for row in board_cards(pipeline=pipeline, filters=filters, now=now)
        .order_by()
        .values("stage_id")
        .annotate(n=Count("id"), total=Sum("value"))
    }
    by_stage: dict[int, list[dict]] = {}
    wanted = [s for s in stages if s.pk in totals] if limit else []
    if wanted:
        meta = tiles.Board.load(pipeline, stages, now=now, members=members)
        parts = [
            tiles.rows(
                filtered(Card.objects.filter(stage_id=s.pk), pipeline=pipeline, filters=filters or {}, now=now),
                pipeline,
            ).order_by("rank")[: limit + 1]
            for s in wanted
        ]
        combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        for tile_row in combined:
            by_stage.setdefault(tile_row["stage_id"], []).append(tile_row)
        for found in by_stage.values():
            found.sort(key=lambda r: r["rank"])  # ASCII keys: Python's order is the C collation's
        tiles.add_ai([r for found in by_stage.values() for r in found[:limit]])
        for found in by_stage.values():
            found[:] = [meta.tile(r) for r in found[:limit]] + found[limit : limit + 1]
    columns = []
    for stage in stages:
        row: dict = dict(totals.get(stage.pk) or {})
        found = by_stage.get(stage.pk, [])
        columns.append(
            Column(
                stage=stage,
                count=row.get("n", 0),
                total=row.get("total") or Decimal(0),
                cards=found[:limit],
                more=len(found) > limit,
            )
        )
    return columns


def card_history(*, card: Card) -> list[CardMove]:
    return list(CardMove.objects.filter(card=card).select_related("from_stage", "to_stage").order_by("-at", "-id"))


def card_decisions(*, card: Card) -> list[AIDecision]:
    return list(
        AIDecision.objects.filter(card=card).select_related("stage", "from_stage").order_by("-created_at", "-id")
    )


def pipeline_decisions(*, pipeline: Pipeline, outcome: str | None = None, limit: int = 200) -> list[AIDecision]:
    qs = AIDecision.objects.filter(pipeline=pipeline).select_related("stage", "from_stage", "card")
    if outcome in DecisionOutcome.values:
        qs = qs.filter(outcome=outcome)
    return list(qs.order_by("-created_at", "-id")[:limit])


def saved_views(*, pipeline: Pipeline, user_id: int) -> list[SavedView]:
    return list(SavedView.objects.filter(pipeline=pipeline).filter(Q(user_id=user_id) | Q(shared=True)))
