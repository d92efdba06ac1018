"""The board's card tiles, read as plain rows and made ready to print.

Opening a board renders about 150 tiles; what made it slow was the template work per tile (an
include, filters, translations, lazy relations), not the database. So the columns' first pages
come in one statement (one ``UNION ALL`` of index range scans on ``(stage, rank)``, with the
contact's phone, as ``values()`` rows), the cards' last AI move and open AI suggestion in two
more reads for the whole board, and everything a tile shows (money, dates, names, the stalled flag, the
custom fields the pipeline chose) is computed here once, with the per-board lookups (members,
tags, field definitions, translated labels) read once per request. The tile template only
prints strings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import formats
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from kanban.models import ActorKind, AIDecision, Card, CardField, CardMove, DecisionOutcome, Pipeline, Stage, StageKind

TAG_CLASS = "rounded bg-ink-200 px-1 text-ink-800 dark:bg-ink-700 dark:text-ink-100"
STALLED_CLASS = "rounded bg-amber-100 px-1 text-amber-800"
# A pipeline's ``card_fields`` entry for a CRM custom field: ``cf:<key>``.
CUSTOM_PREFIX = "cf:"
VALUES = (
    "id",
    "stage_id",
    "rank",
    "title",
    "value",
    "owner_id",
    "tag_ids",
    "expected_close",
    "reason",
    "stage_entered_at",
    "contact_id",
)


def custom_keys(pipeline: Pipeline) -> list[str]:
    return [f[len(CUSTOM_PREFIX) :] for f in pipeline.card_fields or [] if f.startswith(CUSTOM_PREFIX)]


def rows(qs: QuerySet[Card], pipeline: Pipeline) -> QuerySet:
    """``qs`` as tile rows: the card's own columns and the contact's phone. The AI's part
    (:func:`add_ai`) is read afterwards for all the board's rows at once: as correlated
    subqueries in each column's query, compiling them cost more than the two reads."""
    names = list(VALUES)
    if custom_keys(pipeline):
        names.append("custom_fields")
    return qs.values(*names, "contact__phone")


def add_ai(found: list[dict]) -> None:
    """Each row's latest AI move (its stage and reason) and open suggestion (its stage's name
    and reason): two reads for the whole board (``DISTINCT ON`` the card, on the
    ``(card, -at)`` and ``(card, -created_at)`` indexes)."""
    ids = [row["id"] for row in found]
    moves = {}
    suggestions = {}
    if ids:
        moves = {
            card: (stage, reason)
            for card, stage, reason in CardMove.objects.filter(card_id__in=ids, actor_kind=ActorKind.AI)
            .order_by("card_id", "-at", "-id")
            .distinct("card_id")
            .values_list("card_id", "to_stage_id", "reason")
        }
        suggestions = {
            card: (stage, reason)
            for card, stage, reason in AIDecision.objects.filter(card_id__in=ids, outcome=DecisionOutcome.SUGGESTED)
            .order_by("card_id", "-created_at", "-id")
            .distinct("card_id")
            .values_list("card_id", "stage__name", "reason")
        }
    for row in found:
        row["ai_to"], row["ai_reason"] = moves.get(row["id"], (None, ""))
        row["suggested_stage"], row["suggested_reason"] = suggestions.get(row["id"], (None, ""))


@dataclass
class Board:
    """What every tile of one board shares, read once per request."""

    pipeline: Pipeline
    stages: dict[int, Stage]
    members: dict[int, str] = field(default_factory=dict)
    tags: dict[int, str] = field(default_factory=dict)
    definitions: dict[str, Any] = field(default_factory=dict)
    now: dt.datetime | None = None
    shown: frozenset[str] = frozenset()
    stalled_label: str = ""
    _money: dict = field(default_factory=dict)
    _dates: dict = field(default_factory=dict)

    @classmethod
    def load(cls, pipeline: Pipeline, stages: list[Stage], *, now: dt.datetime, members: dict[int, str] | None = None):
        shown = frozenset(pipeline.card_fields or [])
        board = cls(pipeline=pipeline, stages={s.pk: s for s in stages}, now=now, shown=shown)
        board.stalled_label = _("Stalled")
        board.members = members or {}
        if CardField.TAGS in shown:
            from crm.models import Tag

            board.tags = dict(Tag.objects.values_list("id", "name"))
        keys = custom_keys(pipeline)
        if keys:
            from crm.models import CustomFieldDefinition

            found = {d.key: d for d in CustomFieldDefinition.objects.filter(key__in=keys)}
            board.definitions = {key: found[key] for key in keys if key in found}
        return board

    def money(self, value) -> str:
        text = self._money.get(value)
        if text is None:
            from ui.templatetags.ui import currency

            text = self._money[value] = currency(value, self.pipeline.currency)
        return text

    def date(self, value: dt.date) -> str:
        text = self._dates.get(value)
        if text is None:
            text = self._dates[value] = formats.date_format(value, "SHORT_DATE_FORMAT")
        return text

    def tile(self, row: dict) -> dict:
        """The row with the strings its tile prints."""
        shown = self.shown
        stage = self.stages.get(row["stage_id"])
        row["url"] = f"/cards/{row['id']}/"
        row["value_text"] = self.money(row["value"]) if CardField.VALUE in shown else ""
        row["owner_text"] = self.members.get(row["owner_id"], "") if CardField.OWNER in shown else ""
        row["tag_names"] = [self.tags[t] for t in row["tag_ids"] if t in self.tags] if self.tags else ()
        close = row["expected_close"]
        row["close_text"] = self.date(close) if close and CardField.EXPECTED_CLOSE in shown else ""
        phone = row.get("contact__phone")
        if phone and CardField.PHONE in shown:
            from ui.phones import format_phone

            row["phone_text"] = format_phone(phone)
        else:
            row["phone_text"] = ""
        days = (self.now - row["stage_entered_at"]).days if self.now else 0
        row["age_text"] = _("%(days)s d in stage") % {"days": days} if CardField.AGE in shown else ""
        is_open = stage is None or stage.kind == StageKind.OPEN
        row["stalled"] = is_open and days >= self.pipeline.stalled_after_days
        row["extras"] = self._extras(row) if self.definitions else ()
        row["meta"] = self._meta(row)
        row["ai_moved_reason"] = row["ai_reason"] if row["ai_to"] and row["ai_to"] == row["stage_id"] else None
        suggested = row["suggested_stage"]
        row["suggestion_text"] = _("AI suggests: %(stage)s") % {"stage": suggested} if suggested else ""
        return row

    def _meta(self, row: dict) -> SafeString:
        """The tile's line of facts as HTML, escaped here: a dozen template ``if`` tags per
        tile, 150 times, were most of the board's rendering."""
        parts = []
        for text, attr in (
            (row["value_text"], " data-card-value"),
            (row["owner_text"], " data-card-owner"),
            (row["phone_text"], ""),
            (row["close_text"], ""),
            (row["age_text"], ""),
        ):
            if text:
                parts.append(f"<span{attr}>{escape(text)}</span>")
        parts.extend(f'<span class="{TAG_CLASS}">{escape(name)}</span>' for name in row["tag_names"])
        parts.extend(f"<span data-card-field>{escape(label)}: {escape(value)}</span>" for label, value in row["extras"])
        if row["stalled"]:
            parts.append(f'<span class="{STALLED_CLASS}" data-stalled>{escape(self.stalled_label)}</span>')
        if row["reason"]:
            parts.append(f'<span class="italic">{escape(row["reason"])}</span>')
        return mark_safe("".join(parts))  # noqa: S308 - every part escaped above

    def _extras(self, row: dict) -> list[tuple[str, str]]:
        from crm.fields import display_value

        values = row.get("custom_fields") or {}
        extras = []
        for key, definition in self.definitions.items():
            if values.get(key) is not None:
                extras.append((definition.label, display_value(definition, values[key])))
        return extras


def labels() -> dict[str, str]:
    """The translated words every tile repeats, translated once per page."""
    return {"move": _("Move to stage"), "stalled": _("Stalled"), "ai_moved": _("Moved by AI")}
