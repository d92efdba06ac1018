"""What support staff browse of a company from the admin (``CompanyAdmin``'s support pages).

The admin runs on the public domain and this app sits below the ones that own the data, so each
app registers its sections in ``AppConfig.ready()``: a list (columns, rows found by a search),
an optional detail (fields, and a read-only thread), and the few actions support needs. The
admin runs every function inside the company's schema, behind a live support access (the
audited reason step), and writes each view and action to the support audit log.

Rows and details are plain values (strings, numbers, dates), escaped by the templates: a
section never hands out a secret (a channel's tokens stay out of its rows and detail).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PAGE_SIZE = 50


@dataclass(frozen=True)
class Action:
    key: str
    label: Any
    # run(pk, staff) -> message shown to staff; raises ValidationError to refuse.
    run: Callable[[int, Any], str]
    confirm: Any = ""


@dataclass(frozen=True)
class Section:
    key: str
    label: Any
    order: int
    columns: list[tuple[str, Any]]
    # rows(search, offset, limit) -> dicts with "pk" and each column's key
    rows: Callable[[str, int, int], list[dict]]
    detail: Callable[[int], dict | None] | None = None  # {"title", "fields": [(label, value)], "thread": [...]}
    actions: tuple[Action, ...] = field(default_factory=tuple)
    search_help: Any = ""


_sections: dict[str, Section] = {}


def register(section: Section) -> None:
    _sections[section.key] = section


def sections() -> list[Section]:
    return sorted(_sections.values(), key=lambda s: (s.order, s.key))


def section(key: str) -> Section | None:
    return _sections.get(key)
