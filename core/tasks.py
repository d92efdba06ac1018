"""Queuing Celery tasks by their registered name, and the sweep over companies.

Services queue work by name (``"inbox.deliver_message"``), so no service imports a task module
and no import circle runs through ``tasks.py``. Periodic tasks that visit companies go through
:func:`for_each_company`, the one place that decides which companies a sweep visits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.db import transaction
from django_tenants.utils import get_public_schema_name, get_tenant_model, schema_context

logger = logging.getLogger(__name__)


def enqueue(name: str, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """Queue the task registered as ``name`` now (outside a transaction, or on purpose)."""
    options = {"countdown": countdown} if countdown else {}
    current_app.send_task(name, args=args, kwargs=kwargs, **options)


def enqueue_on_commit(name: str, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """Queue the task registered as ``name`` once the current transaction commits (nothing if it
    rolls back). Tenant tasks take the schema name first: ``enqueue_on_commit("x", schema, pk)``."""
    transaction.on_commit(lambda: enqueue(name, *args, countdown=countdown, **kwargs))


def company_schemas(*, work: str | None = None, include_inactive: bool = False) -> list[str]:
    """Schemas of the companies a sweep visits.

    ``work`` names the kind of due work the sweep looks for (``"webhooks"``, ``"snoozed"``,
    ...); it is the hook where a public due-work index narrows the visit to the companies that
    have some. Without an index every (active) company is visited.
    """
    companies = get_tenant_model().objects.exclude(schema_name=get_public_schema_name())
    if not include_inactive:
        companies = companies.filter(is_active=True)
    return list(companies.order_by("pk").values_list("schema_name", flat=True))


def for_each_company(
    fn: Callable[[str], Any], *, work: str | None = None, include_inactive: bool = False
) -> dict[str, Any]:
    """Call ``fn(schema_name)`` inside each company's schema; one company's failure is logged and
    never stops the others. Returns the results by schema (failed companies left out)."""
    results: dict[str, Any] = {}
    for schema in company_schemas(work=work, include_inactive=include_inactive):
        try:
            with schema_context(schema):
                results[schema] = fn(schema)
        except Exception:  # noqa: BLE001 - one company's failure must not stop the sweep
            logger.exception("periodic work %s failed for %s", getattr(fn, "__name__", fn), schema)
    return results
