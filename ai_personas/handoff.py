"""When the AI gives a conversation to a person, by rules that need no model call.

The model itself can also hand off (the ``handoff`` tool: no answer in the knowledge, out of
scope); provider errors, the budget and the 24-hour window hand off from ``agent``.
"""

from __future__ import annotations

import functools
import re

from django.utils.translation import gettext_lazy as _

from ai_personas.knowledge.embedders import fold
from ai_personas.models import DEFAULT_HANDOFF_KEYWORDS

REASONS = {
    "asked_for_human": _("the customer asked for a person"),
    "no_answer": _("the knowledge base does not answer the question"),
    "out_of_scope": _("the request is outside what the AI may do"),
    "negative": _("the customer seems upset"),
    "max_turns": _("too many replies without a resolution"),
    "agent_active": _("an agent is working on the conversation"),
    "provider_error": _("the AI provider failed"),
    "budget": _("the monthly AI budget is used up"),
    "window_closed": _("the 24-hour window is closed (only templates can be sent)"),
    "guard": _("the AI reply was held back by the safety check"),
    "model": _("the AI decided to hand off"),
    "other": _("the AI decided to hand off"),
}

NEGATIVE = [
    "pessimo", "horrivel", "absurdo", "ridiculo", "palhacada", "vergonha", "procon", "reclame aqui",
    "lixo", "raiva", "odeio", "nunca mais", "enganado", "enganada", "golpe", "descaso", "desrespeito",
    "processar", "advogado", "furioso", "furiosa", "inaceitavel", "porcaria", "decepcionado", "decepcionada",
    "terrible", "awful", "worst", "ridiculous", "scam", "lawyer", "furious", "unacceptable", "hate",
]  # fmt: skip


@functools.lru_cache(maxsize=256)
def _phrases(phrases: tuple[str, ...]) -> re.Pattern | None:
    """One pattern for a list of phrases (folded, whole words), compiled once per list."""
    folded = sorted({fold(p).strip() for p in phrases} - {""}, key=len, reverse=True)
    if not folded:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in folded) + r")(?!\w)")


def _has_any(folded: str, phrases: list[str]) -> bool:
    pattern = _phrases(tuple(phrases))
    return pattern is not None and pattern.search(folded) is not None


def asks_for_human(text: str, keywords: list[str] | None = None) -> bool:
    return _has_any(fold(text), keywords or DEFAULT_HANDOFF_KEYWORDS)


def is_negative(text: str) -> bool:
    if _has_any(fold(text), NEGATIVE):
        return True
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.8
    return shouting and "!" in text


def rule_for(*, persona, text: str, turns: int) -> str | None:
    """The rule that hands off before any model call, or ``None``."""
    if asks_for_human(text, persona.handoff_keywords or None):
        return "asked_for_human"
    if persona.handoff_on_negative and is_negative(text):
        return "negative"
    if persona.max_turns and turns >= persona.max_turns:
        return "max_turns"
    return None


def reason_text(reason: str) -> str:
    return str(REASONS.get(reason, REASONS["other"]))
