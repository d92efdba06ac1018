"""Test fixtures shared by every app.

One set of company schemas per test database: ``acme`` (the tenant most tests use) and
``other`` (to prove isolation), created once and kept with ``--reuse-db``. Each test runs in a
transaction that is rolled back, in whichever schema it selects.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from tests.conftest_helpers import TEST_PASSWORD, BrokerQueue, query_count  # noqa: E402, F401 - query_count: a fixture


def pytest_configure(config):
    """Hypothesis runs the ``ci`` profile (derandomized: the same examples every run) unless
    HYPOTHESIS_PROFILE names another (``fuzz``: random and long, see tests/fuzz.py)."""
    import os

    from hypothesis import settings

    import tests.fuzz  # noqa: F401 - registers the profiles

    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _ensure_company(slug: str, name: str):
    from tenants.models import Company
    from tenants.services import company_create

    company = Company.objects.filter(slug=slug).first()
    if company is None:
        company = company_create(name=name, slug=slug, owner=None)
    # No plan limit gets in the way of tests about something else; the limits' own tests set
    # a plan or an override (rolled back with the test).
    if company.plan_id != "enterprise":
        Company.objects.filter(pk=company.pk).update(plan="enterprise")
        company.refresh_from_db()
    return company


def _repair_interrupted_companies() -> None:
    """A run killed while creating a company leaves a row whose schema is missing, and
    migrating every schema at the next start then fails: repair the kept test database first
    (``tenants.services.missing_schemas_repair``, as ``bootstrap`` does)."""
    from django.db import DatabaseError

    from tenants.services import missing_schemas_repair

    name = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = connection.creation._get_test_db_name()
    try:
        missing_schemas_repair()
    except DatabaseError:
        pass  # no test database yet, or not migrated yet
    finally:
        connection.close()
        connection.settings_dict["NAME"] = name


def _migrate_companies_behind() -> None:
    """Companies of a kept database still behind the template once Django's migrate has run,
    migrated as ``bootstrap`` does, and named on stderr. Once, with two new migrations, the kept
    database's first three companies were left without them (the schema test then failed); two
    probe migrations, one a no-op and one DDL, did not bring it back. The warning says if it
    recurs, and the run tests the code it was given instead of a half-migrated database."""
    import sys

    from django.core.management import call_command

    from tenants import schemas
    from tenants.models import Company

    companies = list(Company.objects.exclude(schema_name="public").values_list("schema_name", flat=True))
    behind = schemas.schemas_behind(companies, schemas.migration_state(schemas.template_schema()))
    if behind:
        sys.stderr.write(f"\ntest database: companies behind the template after migrate, migrated now: {behind}\n")
    for schema in behind:
        call_command("migrate_schemas", schema_name=schema, interactive=False, verbosity=0)


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_keepdb, django_db_createdb):
    """The test database, always set up (pytest-django's own fixture sets up only the
    databases that collected tests name, and browser tests reach it through a live server)."""
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases

    from tenants.models import Company, Domain
    from tenants.services import ensure_template_schema

    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        if keepdb:
            _repair_interrupted_companies()
        db_cfg = setup_databases(
            verbosity=request.config.option.verbose, interactive=False, keepdb=keepdb, aliases={"default"}
        )
        public, _ = Company.objects.get_or_create(
            schema_name="public", defaults={"name": "Master IA", "slug": "public"}
        )
        Domain.objects.get_or_create(domain=settings.BASE_DOMAIN, defaults={"tenant": public})
        ensure_template_schema()
        _ensure_company("acme", "Acme Ltda")
        _ensure_company("other", "Other Corp")
        _migrate_companies_behind()
        connection.set_schema_to_public()
    yield
    if not keepdb:
        with django_db_blocker.unblock():
            teardown_databases(db_cfg, verbosity=request.config.option.verbose)


@pytest.fixture
def acme(db):
    from tenants.models import Company

    return Company.objects.get(slug="acme")


@pytest.fixture
def other_company(db):
    from tenants.models import Company

    return Company.objects.get(slug="other")


@pytest.fixture
def tenant(acme):
    """Run the test inside the ``acme`` schema."""
    connection.set_tenant(acme)
    yield acme
    connection.set_schema_to_public()


@pytest.fixture
def make_user(db):
    from tenants.models import User

    counter = {"n": 0}

    def make(email: str | None = None, password: str = TEST_PASSWORD, **extra):
        counter["n"] += 1
        email = email or f"user{counter['n']}@example.com"
        user = User.objects.create_user(email=email, password=password, **extra)
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        return user

    return make


@pytest.fixture
def make_member(make_user, acme):
    from tenants.models import Membership

    def make(role: str = "owner", company=None, **kwargs):
        user = make_user(**kwargs)
        Membership.objects.create(user=user, company=company or acme, role=role)
        return user

    return make


@pytest.fixture
def owner(make_member):
    return make_member("owner", email="owner@acme.test")


def host_for(company) -> str:
    from django.conf import settings

    return f"{company.slug}.{settings.BASE_DOMAIN}"


@pytest.fixture
def public_client(db):
    from django.conf import settings

    return Client(HTTP_HOST=settings.BASE_DOMAIN)


@pytest.fixture
def tenant_client_factory(db):
    """``tenant_client_factory(company, user=None)``: a test client on the company's domain."""

    def make(company, user=None):
        client = Client(HTTP_HOST=host_for(company))
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def owner_client(tenant_client_factory, acme, owner):
    return tenant_client_factory(acme, owner)


@pytest.fixture(autouse=True)
def _reset_schema():
    yield
    try:
        connection.set_schema_to_public()
    except Exception:  # noqa: BLE001 - connection may be closed by the test
        pass


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    yield
    try:
        cache.clear()
    except Exception:  # noqa: BLE001
        pass
    _clear_login_lockouts()


@pytest.fixture
def queued_tasks():
    """The tasks queued on the real broker during the test (``queued_tasks.tasks()``). Work is
    queued after commit: run the test's commit callbacks (``django_capture_on_commit_callbacks``
    with ``execute=True``) first."""
    from django.conf import settings

    queue = BrokerQueue(settings.CELERY_BROKER_URL)
    queue.clear()
    yield queue
    queue.clear()


def _clear_login_lockouts() -> None:
    """Login failures live in the app Redis (tenants.lockout), shared by every test."""
    from core.redis import redis_client
    from tenants.lockout import KEY_PREFIX

    client = redis_client()
    keys = list(client.scan_iter(match=KEY_PREFIX + "*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _forget_due_work():
    """Every test starts with an empty due-work index (``core.duework``): its keys live in
    Redis, outside the test's rolled-back transaction."""
    yield
    from core import duework

    try:
        duework.forget_all()
    except Exception:  # noqa: BLE001 - Redis may be stopped by the test
        pass
