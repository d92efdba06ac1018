"""Bulk loads: a large import into a small contact table drops the search, name and tag
indexes and builds them again at the end; a load that died is repaired by the next import or
the periodic task (``contact_indexes_ensure``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction

from crm.models import Contact
from tenants.context import current_company, current_schema

# --- Bulk loads --------------------------------------------------------------------------------
# A large import into an empty (or small) contact table skips these indexes and builds them
# once at the end. Keeping them current row by row was most of a million-row import (the
# INSERT alone, measured on 1M rows: 38.6 s with them, 22.5 s without; building the three
# afterwards: 5.2 s, about 3 s on two connections), the GIN search index above all. The unique
# phone index stays: ON CONFLICT and every concurrent writer (a webhook creating a contact
# while the import runs) rely on it; the partial indexes (wa_id, owner, interaction) get no
# entries from an import anyway.
BULK_INDEXES = ("crm_contact_search_gin", "crm_contact_name", "crm_contact_tags_gin")
# Below this many rows keeping the indexes current costs less than rebuilding them.
BULK_MIN_ROWS = 50_000
BULK_MAINTENANCE_WORK_MEM = "256MB"


def _bulk_lock_key() -> str:
    return f"crm_contact_bulk_load:{current_schema()}"


def _bulk_index_sql() -> dict[str, str]:
    """CREATE INDEX statements of ``BULK_INDEXES``, from the model (never out of step with
    the migrations)."""
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        return {
            index.name: str(index.create_sql(Contact, editor))
            for index in Contact._meta.indexes
            if index.name in BULK_INDEXES
        }


def _missing_bulk_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'crm_contact'"
        )
        present = {row[0] for row in cursor.fetchall()}
    return {name: sql for name, sql in _bulk_index_sql().items() if name not in present}


def _build_indexes(statements: list[str], tenant=None) -> None:
    """Run CREATE INDEX statements on this thread's connection (a thread of its own opens a
    connection for ``tenant``)."""
    if tenant is not None:
        connection.set_tenant(tenant)  # type: ignore[attr-defined]  # django-tenants' backend
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{BULK_MAINTENANCE_WORK_MEM}'")
        for sql in statements:
            cursor.execute(sql)


def _restore_indexes(*, parallel: bool) -> list[str]:
    """Create the bulk-load indexes that are missing; returns their names. ``parallel``: the
    biggest (the GIN search index) builds on a connection of its own while this one builds
    the others (two cores, both busy)."""
    missing = _missing_bulk_indexes()
    if not missing:
        return []
    statements = [missing[name] for name in BULK_INDEXES if name in missing]
    if parallel and len(statements) > 1:
        errors: list[BaseException] = []
        tenant = current_company()

        def build_first() -> None:
            try:
                _build_indexes(statements[:1], tenant)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)
            finally:
                connection.close()

        thread = threading.Thread(target=build_first, name="crm-import-index", daemon=True)
        thread.start()
        try:
            _build_indexes(statements[1:])
        finally:
            thread.join()
        if errors:
            raise errors[0]
    else:
        _build_indexes(statements)
    with connection.cursor() as cursor:
        # The table went from (nearly) empty to its new size: searches right after the import
        # need statistics that say so.
        cursor.execute("ANALYZE crm_contact")
    return list(missing)


def _try_bulk_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [_bulk_lock_key()])
        return bool(cursor.fetchone()[0])


def _indexes_check_later() -> None:
    """Mark the company for the periodic check of its contact indexes (``contact_indexes_ensure``)
    while a bulk load has them dropped: should the load die, the check puts them back."""
    import datetime as dt

    from django.utils import timezone

    from core import duework
    from crm.bulk_actions import CONTACTS_MAINTENANCE

    duework.mark(CONTACTS_MAINTENANCE, current_schema(), timezone.now() + dt.timedelta(minutes=15))


def _bulk_unlock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_bulk_lock_key()])


def contact_indexes_ensure() -> list[str]:
    """Rebuild contact indexes a bulk load left out (its process died before restoring them);
    returns the names rebuilt. Does nothing while a bulk load of the company runs (but looks
    again later: it may die)."""
    if not _try_bulk_lock():
        _indexes_check_later()
        return []
    try:
        return _restore_indexes(parallel=False)
    finally:
        _bulk_unlock()


def _bulk_load_wanted(total_rows: int) -> bool:
    if total_rows < BULK_MIN_ROWS:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT 1 FROM crm_contact LIMIT %s) s", [total_rows + 1])
        existing = cursor.fetchone()[0]
    # Rebuilding costs (existing + new) rows once; keeping current costs the new rows, each
    # several times dearer: rebuild when the import at least doubles the table.
    return existing <= total_rows


def contacts_empty() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM crm_contact)")
        return bool(cursor.fetchone()[0])


@contextmanager
def bulk_load(total_rows: int, *, parallel: bool) -> Iterator[bool]:
    """Drop ``BULK_INDEXES`` for a large import into a small table and build them again at the
    end, whatever happens in between (yields whether it did). One bulk load per company at a
    time (advisory lock, released by PostgreSQL if the process dies; ``contact_indexes_ensure``
    then rebuilds what is missing: at the next import, or from the periodic task)."""
    if not _try_bulk_lock():
        yield False  # another import of this company holds it: load through the indexes
        return
    try:
        dropped = False
        if _bulk_load_wanted(total_rows):
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    # Never queue behind a long query (and block the company's contact reads
                    # behind this lock): load through the indexes instead.
                    cursor.execute("SET LOCAL lock_timeout = '2s'")
                    cursor.execute("DROP INDEX IF EXISTS " + ", ".join(BULK_INDEXES))
                dropped = True
                _indexes_check_later()
            except DatabaseError:
                dropped = False
        if not dropped:
            _restore_indexes(parallel=False)  # left out by a load that died
        try:
            yield dropped
        finally:
            if dropped:
                _restore_indexes(parallel=parallel)
    finally:
        _bulk_unlock()
