"""Fixtures of the cadences tests. Most run in the test's transaction (the tick, exits,
enrolment); the tests that send through the campaign engine reuse campaigns' ``committed``
fixture (the engine works on committed rows from its own threads)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from campaigns.tests.conftest import _graph_server, committed, graph  # noqa: F401 - fixtures

SP = ZoneInfo("America/Sao_Paulo")
# A Tuesday morning in Sao Paulo, inside the default window (09:00-18:00, Monday-Friday).
TUESDAY = dt.datetime(2026, 12, 1, 10, 0, tzinfo=SP)


@pytest.fixture(autouse=True)
def _english():
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def channel(tenant):
    from inbox.services import channel_create

    return channel_create(kind="sandbox", name="Sandbox")


@pytest.fixture
def contacts(tenant):
    from crm.models import Contact

    def make(count: int = 3, **extra):
        import uuid

        base = uuid.uuid4().int % 10**5
        return Contact.objects.bulk_create(
            [Contact(name=f"Cliente {i}", phone=f"+55119{base:05d}{i:03d}", **extra) for i in range(count)]
        )

    return make


@pytest.fixture
def make_cadence(tenant, channel):
    from cadences import services

    def make(steps: list[tuple[str, dict]] | None = None, *, activate: bool = True, **fields):
        cadence = services.cadence_create(
            name=fields.pop("name", "Follow-up"), channel=fields.pop("channel", channel), **fields
        )
        for kind, config in steps if steps is not None else [("send", {"body": "Olá {{1}}!"})]:
            services.step_add(cadence=cadence, kind=kind, config=config)
        if activate:
            services.cadence_set_status(cadence=cadence, status="active")
        cadence.refresh_from_db()
        return cadence

    return make


def tick(now: dt.datetime):
    from cadences.engine import cadences_tick

    return cadences_tick(now=now, budget_s=60)


@pytest.fixture
def tenant_client_factory(tenant_client_factory):
    """Clients that ask for English, whatever the company's language."""
    from django.conf import settings

    def make(company, user=None):
        client = tenant_client_factory(company, user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make
