"""Celery tasks of the CRM (each takes the company schema first, see ``tenants.tasks``)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from core.tasks import for_each_company
from tenants.tasks import TenantTask

logger = logging.getLogger(__name__)


def _progress_event(contact_import) -> None:
    """Move the import's progress bar on every open page of the company (the shell's
    ``job`` events; the page also polls, so a missed event costs nothing)."""
    from core.realtime import send_event

    try:
        send_event(
            {
                "type": "job",
                "op": "progress",
                "id": f"crm-import-{contact_import.pk}",
                "done": contact_import.processed_rows,
                "total": contact_import.total_rows,
                "status": contact_import.status,
            }
        )
    except Exception:  # noqa: BLE001 - progress is best effort
        logger.warning("could not publish import progress", exc_info=True)


@shared_task(base=TenantTask, bind=True, name="crm.contact_import_run")
def contact_import_run(self, schema_name: str, import_id: int) -> None:
    from crm.importing import run_import
    from crm.models import ContactImport, ImportStatus
    from crm.services import contact_import_fail

    with transaction.atomic():
        contact_import = ContactImport.objects.select_for_update().filter(pk=import_id).first()
        if contact_import is None or contact_import.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return  # already done (a redelivered task) or gone
    try:
        run_import(contact_import, progress=_progress_event)
    except Exception as exc:
        logger.exception("import %s failed", import_id)
        contact_import_fail(contact_import=contact_import, error=exc)
        _progress_event(contact_import)


@shared_task(name="crm.bulk_operations_purge_all")
def bulk_operations_purge_all() -> int:
    """Forget bulk operations past their undo window, and rebuild contact indexes a bulk import
    left out if its worker died mid-way (see ``crm.importing.bulk_load``), in the companies
    the due-work index holds as due (beat, every 10 min)."""
    from crm.importing import contact_indexes_ensure
    from crm.services import CONTACTS_MAINTENANCE, bulk_operations_purge

    def maintain(schema: str) -> int:
        purged = bulk_operations_purge()
        rebuilt = contact_indexes_ensure()
        if rebuilt:
            logger.warning("rebuilt contact indexes %s in %s", ", ".join(rebuilt), schema)
        return purged

    return sum(for_each_company(maintain, work=CONTACTS_MAINTENANCE, include_inactive=True).values())


@shared_task(base=TenantTask, bind=True, name="crm.contacts_bulk_action_run")
def contacts_bulk_action_run(self, schema_name: str, action: str, params: dict, filters: str, user_id: int) -> int:
    """A bulk action over every contact matching ``filters`` (the list's query string)."""
    from django.http import QueryDict

    from crm.listing import contacts_for_query
    from crm.services import contacts_bulk_action

    queryset, _clean, _segment = contacts_for_query(QueryDict(filters))
    return contacts_bulk_action(queryset=queryset, action=action, params=params, by=user_id).affected
