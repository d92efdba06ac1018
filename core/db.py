"""Raw database access for the few set-based statements that carry thousands of values.

Django's PostgreSQL backend binds parameters on the client (psycopg's ``ClientCursor``): every
value is quoted into the SQL text in Python. For a text array that means escaping each element
with regular expressions, which costs more than the statement itself once the arrays hold
thousands of provider ids or payloads. ``binary_cursor`` gives a server-binding psycopg cursor on
Django's own connection (same transaction, same tenant ``search_path``) so ``%b`` placeholders
send arrays in PostgreSQL's binary format: length-prefixed copies, no escaping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection

# Django turns psycopg's automatic prepared statements off (``prepare_threshold=None``, for
# connection poolers of old). A prepared cursor sets the threshold of its connection so high
# that nothing is prepared automatically, and prepares its own statements explicitly.
_EXPLICIT_ONLY = 2**31 - 1


class _PreparedCursor(psycopg.Cursor):
    """Every statement prepared once per connection (parsed once; after five runs PostgreSQL
    may keep a generic plan): for the few statements a worker runs thousands of times with
    parameters of the same size (a claim of 20 rows), never for one that carries twenty ids
    one time and ten thousand the next (the generic plan of the few can ruin the many).
    PostgreSQL plans again by itself when the ``search_path`` (the tenant) or a table changes."""

    def execute(self, query, params=None, *, prepare=None, binary=None):  # type: ignore[override]
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


@contextmanager
def binary_cursor(*, prepared: bool = False) -> Iterator[psycopg.Cursor]:
    """A server-binding cursor on the current Django connection (use ``%b`` placeholders);
    ``prepared``: its statements are prepared statements (hot paths with a fixed SQL text)."""
    # Opening a Django cursor connects if needed and lets django-tenants set the search_path of
    # the active schema; the raw cursor then runs on that same session.
    with connection.cursor():
        pass
    raw = connection.connection
    assert raw is not None
    if prepared and raw.prepare_threshold is None:
        raw.prepare_threshold = _EXPLICIT_ONLY
    with (_PreparedCursor if prepared else psycopg.Cursor)(raw) as cursor:
        yield cursor
