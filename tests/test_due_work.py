"""The due-work index (``core.duework``) and the sweep over companies (``core.tasks``)."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import override_settings

from core import duework
from core.redis import reset_clients
from core.tasks import company_schemas, for_each_company

KIND = "test_work"
duework.register(KIND)


@pytest.fixture
def regular_sweeps(db):
    """The kind's full (safety) sweep has just run: sweeps now visit marked companies only."""
    duework.forget(KIND)
    assert duework.full_sweep_due(KIND)
    return KIND


def _visit(kind: str) -> dict[str, str]:
    return for_each_company(lambda schema: connection.schema_name, work=kind)


def test_a_company_with_due_work_is_visited_in_its_schema_and_others_are_not(regular_sweeps, acme, other_company):
    duework.mark(KIND, acme.schema_name)
    duework.mark(KIND, other_company.schema_name, at=time.time() + 3600)  # due in an hour

    assert _visit(KIND) == {"c_acme": "c_acme"}  # run inside acme's schema, not other's
    assert _visit(KIND) == {}  # the visit took acme's mark off; nothing is due
    assert duework.marks(KIND).keys() == {"c_other"}


def test_the_earliest_mark_wins(regular_sweeps, acme):
    now = time.time()
    assert duework.mark(KIND, acme.schema_name, at=now + 100) is True  # new
    assert duework.mark(KIND, acme.schema_name, at=now + 50) is False
    assert duework.mark(KIND, acme.schema_name, at=now + 200) is False
    assert duework.marks(KIND) == {"c_acme": pytest.approx(now + 50)}


def test_a_visit_marks_again_what_it_leaves_for_later(regular_sweeps, acme):
    later = time.time() + 600
    duework.mark(KIND, acme.schema_name)

    for_each_company(lambda schema: duework.mark(KIND, schema, at=later), work=KIND)

    assert duework.marks(KIND) == {"c_acme": pytest.approx(later)}


def test_a_failed_visit_is_tried_again_at_the_next_sweep(regular_sweeps, acme):
    duework.mark(KIND, acme.schema_name)

    def broken(schema):
        raise RuntimeError("boom")

    assert for_each_company(broken, work=KIND) == {}
    assert duework.due(KIND) == ["c_acme"]


def test_a_lost_mark_is_caught_by_the_safety_sweep(regular_sweeps, acme, other_company):
    # acme has work but its mark was lost (Redis failed over, say): regular sweeps miss it...
    assert _visit(KIND) == {}
    # ...until the safety-sweep interval has passed (its key expired), when every company is
    # visited, once.
    duework.redis_client().delete(duework._key(KIND) + ":full")
    visited = _visit(KIND)
    assert visited["c_acme"] == "c_acme" and visited["c_other"] == "c_other"
    assert _visit(KIND) == {}


def test_a_kind_never_swept_starts_with_a_full_sweep(db, acme, other_company):
    duework.forget(KIND)  # a new kind, or a Redis that lost its data
    assert {"c_acme", "c_other"} <= set(company_schemas(work=KIND))
    assert company_schemas(work=KIND) == []


def test_a_kind_nobody_registered_visits_every_company(regular_sweeps, acme, other_company):
    # (the WhatsApp Web session manager finds the channels to resume this way, say)
    duework.mark("unregistered_work", acme.schema_name)
    assert {"c_acme", "c_other"} <= set(company_schemas(work="unregistered_work"))
    assert {"c_acme", "c_other"} <= set(company_schemas(work="unregistered_work"))


def test_without_redis_every_company_is_visited_and_marks_fail_quietly(db, acme, other_company):
    with override_settings(REDIS_APP_URL="redis://127.0.0.1:9/0"):
        reset_clients()
        try:
            assert duework.mark(KIND, acme.schema_name) is None
            assert {"c_acme", "c_other"} <= set(company_schemas(work=KIND))
        finally:
            reset_clients()


def test_marks_belong_to_their_database(regular_sweeps, acme):
    from django.conf import settings

    duework.mark(KIND, acme.schema_name)
    name = settings.DATABASES["default"]["NAME"]
    settings.DATABASES["default"]["NAME"] = "bench_masteria"  # the benchmarks' database
    try:
        assert duework.due(KIND) == []
    finally:
        settings.DATABASES["default"]["NAME"] = name
    assert duework.due(KIND) == ["c_acme"]


def test_throttled_marks(regular_sweeps, acme, django_capture_on_commit_callbacks):
    now = time.time()
    with pytest.raises(ValueError):
        duework.mark_on_commit_throttled(KIND, acme.schema_name, now + 60)  # due too soon to skip
    with django_capture_on_commit_callbacks(execute=True):
        duework.mark_on_commit_throttled(KIND, acme.schema_name, now + 7 * 86400)
    duework.clear(KIND, acme.schema_name)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        duework.mark_on_commit_throttled(KIND, acme.schema_name, now + 8 * 86400)  # later: skipped
    assert callbacks == [] and duework.marks(KIND) == {}
    with django_capture_on_commit_callbacks(execute=True):
        duework.mark_on_commit_throttled(KIND, acme.schema_name, now + 86400)  # earlier: marked
    assert duework.marks(KIND) == {"c_acme": pytest.approx(now + 86400)}
