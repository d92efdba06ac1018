"""Text folding shared by search and keyword matching (no ``unaccent`` in our PostgreSQL)."""

from __future__ import annotations

import unicodedata

from crm.models import ACCENTED, PLAIN

_FOLD_TABLE = str.maketrans(ACCENTED, PLAIN)


def fold(text: str) -> str:
    """Lower case with the accents of ``Contact.search_name`` folded (same table as the SQL)."""
    return (text or "").lower().translate(_FOLD_TABLE)


def fold_full(text: str) -> str:
    """Lower case without any combining accent (for matching short texts such as keywords)."""
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
