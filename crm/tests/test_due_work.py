"""The CRM's housekeeping visits only the companies that have some (``core.duework``)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import duework
from crm.models import BulkAction, BulkOperation, Contact
from crm.services import CONTACTS_MAINTENANCE, UNDO_WINDOW, contacts_bulk_action
from crm.tasks import bulk_operations_purge_all
from crm.tests.factories import ContactFactory


@pytest.fixture
def regular_sweeps(db):
    duework.forget(CONTACTS_MAINTENANCE)
    duework.full_sweep_due(CONTACTS_MAINTENANCE)


def test_a_bulk_operation_marks_its_company_for_when_its_undo_window_closes(
    regular_sweeps, tenant, other_company, django_capture_on_commit_callbacks
):
    ContactFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = contacts_bulk_action(queryset=Contact.objects.all(), action=BulkAction.DELETE, params={})
        second = contacts_bulk_action(queryset=Contact.objects.all(), action=BulkAction.DELETE, params={})
    closes = (first.created_at + UNDO_WINDOW).timestamp()
    assert duework.marks(CONTACTS_MAINTENANCE) == {"c_acme": pytest.approx(closes)}
    BulkOperation.objects.filter(pk=first.pk).update(created_at=timezone.now() - dt.timedelta(hours=2))
    duework.mark(CONTACTS_MAINTENANCE, "c_acme", at=time.time() - 1)  # the window closed
    connection.set_schema_to_public()

    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        assert bulk_operations_purge_all() > 0  # the operation and its deleted contact

    connection.set_tenant(tenant)
    assert list(BulkOperation.objects.values_list("pk", flat=True)) == [second.pk]
    visited = {q["sql"].split('"')[1] for q in queries if q["sql"].startswith('SET search_path = "c_')}
    assert visited == {"c_acme"}
    # due again when the second operation's window closes
    assert duework.marks(CONTACTS_MAINTENANCE) == {
        "c_acme": pytest.approx((second.created_at + UNDO_WINDOW).timestamp())
    }
