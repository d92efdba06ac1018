"""Server-side pagination for the table component (templates/components/table.html).

Two modes, one result type (``TablePage``):
- offset (default): ``?page=N&size=M``; shows "1–25 of 1,234" and page links.
- keyset (``keyset="-id"``, any unique, indexed column): ``?after=<value>`` / ``?before=<value>``;
  the cost of a page does not grow with its depth, which large tables (contacts, messages) need.
  ``count=False`` skips the COUNT(*) as well for tables where even that is too slow.
The page size comes from ``?size=`` limited to ``PAGE_SIZES``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25


@dataclass
class TablePage:
    items: list[Any]
    total: int | None
    page_size: int
    mode: str = "offset"
    number: int = 1
    num_pages: int = 1
    has_previous: bool = False
    has_next: bool = False
    next_cursor: str | None = None
    previous_cursor: str | None = None
    page_sizes: tuple[int, ...] = field(default=PAGE_SIZES)

    @property
    def start_index(self) -> int:
        if not self.items:
            return 0
        return (self.number - 1) * self.page_size + 1 if self.mode == "offset" else 1

    @property
    def end_index(self) -> int:
        return self.start_index + len(self.items) - 1 if self.items else 0

    @property
    def next_params(self) -> dict[str, Any]:
        """Query parameters of the next page (to combine with ``{% querystring %}``)."""
        if self.mode == "keyset":
            return {"after": self.next_cursor, "before": None, "page": None}
        return {"page": self.number + 1}

    @property
    def previous_params(self) -> dict[str, Any]:
        if self.mode == "keyset":
            return {"before": self.previous_cursor, "after": None, "page": None}
        return {"page": self.number - 1}

    @property
    def page_range(self) -> list[int | None]:
        """Page numbers to show, ``None`` for a gap: 1 … 4 5 6 … 20."""
        if self.mode != "offset":
            return []
        pages = {1, self.num_pages, self.number - 1, self.number, self.number + 1}
        shown = sorted(p for p in pages if 1 <= p <= self.num_pages)
        out: list[int | None] = []
        for p in shown:
            if out and p - (out[-1] or 0) > 1:
                out.append(None)
            out.append(p)
        return out


def page_size_from(request, default: int = DEFAULT_PAGE_SIZE, sizes: tuple[int, ...] = PAGE_SIZES) -> int:
    try:
        size = int(request.GET.get("size", default))
    except (TypeError, ValueError):
        return default
    return size if size in sizes else default


def paginate(
    request,
    queryset: QuerySet | Sequence[Any],
    *,
    page_size: int | None = None,
    keyset: str | None = None,
    count: bool = True,
    sizes: tuple[int, ...] = PAGE_SIZES,
) -> TablePage:
    """One page of ``queryset`` for the request's ``page``/``after``/``before``/``size``.

    ``queryset`` must already be filtered (search) and, in offset mode, ordered by a unique key
    (a list works too, in offset mode: rows built in Python).
    In keyset mode ``keyset`` names that key (``"-id"`` for newest first) and the ordering is
    applied here. Bad parameters fall back to the first page instead of failing.
    """
    size = page_size or page_size_from(request, sizes=sizes)
    if keyset:
        assert isinstance(queryset, QuerySet), "keyset pages need a queryset"
        return _keyset_page(request, queryset, keyset=keyset, size=size, count=count, sizes=sizes)
    total = queryset.count() if isinstance(queryset, QuerySet) else len(queryset)
    num_pages = max(1, -(-total // size))
    try:
        number = int(request.GET.get("page", 1))
    except (TypeError, ValueError):
        number = 1
    number = min(max(number, 1), num_pages)
    offset = (number - 1) * size
    items = list(queryset[offset : offset + size])
    return TablePage(
        items=items,
        total=total,
        page_size=size,
        number=number,
        num_pages=num_pages,
        has_previous=number > 1,
        has_next=number < num_pages,
        page_sizes=sizes,
    )


def _keyset_page(request, queryset: QuerySet, *, keyset: str, size: int, count: bool, sizes) -> TablePage:
    descending = keyset.startswith("-")
    column = keyset.lstrip("-")
    model_field = queryset.model._meta.get_field("id" if column == "pk" else column)
    total = queryset.count() if count else None

    def parse(raw: str | None):
        if raw in (None, ""):
            return None
        try:
            return model_field.to_python(raw)
        except Exception:  # noqa: BLE001 - a bad cursor means "first page"
            return None

    after, before = parse(request.GET.get("after")), parse(request.GET.get("before"))
    forward_op, backward_op = ("lt", "gt") if descending else ("gt", "lt")
    if before is not None:
        # Walk backwards from the cursor, then restore display order.
        rows = list(
            queryset.filter(**{f"{column}__{backward_op}": before}).order_by(column if descending else f"-{column}")[
                : size + 1
            ]
        )
        has_previous = len(rows) > size
        items = list(reversed(rows[:size]))
        has_next = True
    else:
        qs = queryset.order_by(keyset)
        if after is not None:
            qs = qs.filter(**{f"{column}__{forward_op}": after})
        rows = list(qs[: size + 1])
        has_next = len(rows) > size
        items = rows[:size]
        has_previous = after is not None
    first = getattr(items[0], column) if items else None
    last = getattr(items[-1], column) if items else None
    return TablePage(
        items=items,
        total=total,
        page_size=size,
        mode="keyset",
        has_previous=has_previous and first is not None,
        has_next=has_next and last is not None,
        next_cursor=str(last) if last is not None else None,
        previous_cursor=str(first) if first is not None else None,
        page_sizes=sizes,
    )
