"""Queuing Celery tasks by their registered name, and the sweep over companies.

Services queue work by name (``"inbox.deliver_message"``), so no service imports a task module
and no import circle runs through ``tasks.py``. Periodic tasks that visit companies go through
:func:`for_each_company`, the one place that decides which companies a sweep visits: with a
``work`` name, only those the due-work index (``core.duework``) holds as due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from celery import current_app
from django.db import transaction
from django_tenants.utils import get_public_schema_name, get_tenant_model, schema_context

from core import duework, realtime

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
    ...): when the kind is registered with the due-work index (``core.duework``), only the
    companies it holds as due are visited, and their marks are taken off, so the caller must
    visit them (each visit marks again what it leaves for later). Every company is visited when
    the kind's safety sweep is due (hourly by default), when Redis does not answer, for a kind
    nobody registered, and without ``work``.
    """
    companies = get_tenant_model().objects.exclude(schema_name=get_public_schema_name())
    if not include_inactive:
        companies = companies.filter(is_active=True)
    if work is not None and duework.indexed(work):
        try:
            due = duework.pop_due(work)
        except redis.RedisError:
            logger.warning("Redis unavailable: the %s sweep visits every company", work)
        else:
            if not duework.full_sweep_due(work):
                if not due:
                    return []
                companies = companies.filter(schema_name__in=due)
            else:
                logger.info("safety sweep of %s work: every company is visited", work)
    return list(companies.order_by("pk").values_list("schema_name", flat=True))


def for_each_company(
    fn: Callable[[str], Any], *, work: str | None = None, include_inactive: bool = False
) -> dict[str, Any]:
    """Call ``fn(schema_name)`` inside each company's schema; one company's failure is logged and
    never stops the others (with ``work``, the company is marked due again for the next sweep).
    Returns the results by schema (failed companies left out).

    With ``work``, only the companies with due work of that kind are visited (see
    :func:`company_schemas`); ``fn`` marks again (``core.duework.mark``) what it leaves for later.
    """
    results: dict[str, Any] = {}
    for schema in company_schemas(work=work, include_inactive=include_inactive):
        try:
            # realtime events of a sweep leave in order without holding up the next company
            with schema_context(schema), realtime.queued_sends():
                results[schema] = fn(schema)
        except Exception:  # noqa: BLE001 - one company's failure must not stop the sweep
            logger.exception("periodic work %s failed for %s", getattr(fn, "__name__", fn), schema)
            if work is not None:
                duework.mark(work, schema)
    return results
