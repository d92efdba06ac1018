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


@contextmanager
def binary_cursor() -> Iterator[psycopg.Cursor]:
    """A server-binding cursor on the current Django connection (use ``%b`` placeholders)."""
    # Opening a Django cursor connects if needed and lets django-tenants set the search_path of
    # the active schema; the raw cursor then runs on that same session.
    with connection.cursor():
        pass
    raw = connection.connection
    assert raw is not None
    with psycopg.Cursor(raw) as cursor:
        yield cursor
