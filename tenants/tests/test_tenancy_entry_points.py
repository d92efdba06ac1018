"""Celery tasks, cache keys and management commands always run in an explicit company schema."""

from __future__ import annotations

from io import StringIO

import pytest
from celery import shared_task
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context

from tenants.context import NoTenantError, require_tenant_schema
from tenants.tasks import TenantTask


@shared_task(base=TenantTask, name="tests.schema_probe")
def schema_probe(schema_name: str) -> str:
    return connection.schema_name


def test_tenant_task_enters_the_schema_it_carries(acme, other_company):
    assert schema_probe.apply(kwargs={"schema_name": "c_acme"}).get() == "c_acme"
    assert schema_probe.apply(args=["c_other"]).get() == "c_other"
    # and leaves the connection where it was
    assert connection.schema_name == "public"


def test_tenant_task_without_schema_raises(db):
    result = schema_probe.apply(kwargs={"schema_name": ""})
    assert isinstance(result.result, NoTenantError)
    result = schema_probe.apply(kwargs={"schema_name": "public"})
    assert isinstance(result.result, NoTenantError)


def test_tenant_task_with_unknown_schema_raises(db):
    result = schema_probe.apply(kwargs={"schema_name": "c_nope"})
    assert isinstance(result.result, NoTenantError)


def test_tenant_code_in_public_schema_raises(db):
    with pytest.raises(NoTenantError):
        require_tenant_schema()


def test_cache_keys_carry_the_schema(acme, other_company):
    with schema_context("c_acme"):
        cache.set("greeting", "olá acme")
    with schema_context("c_other"):
        assert cache.get("greeting") is None
        cache.set("greeting", "hello other")
    with schema_context("c_acme"):
        assert cache.get("greeting") == "olá acme"
    raw_keys = [k.decode() for k in cache._cache.get_client().keys("*greeting*")]
    assert any(k.startswith("c_acme:") for k in raw_keys)
    assert any(k.startswith("c_other:") for k in raw_keys)


def test_schema_command_requires_a_company_schema(acme):
    out = StringIO()
    call_command("company_stats", schema="c_acme", stdout=out)
    assert "schema c_acme" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("company_stats", schema="public")
    with pytest.raises(CommandError):
        call_command("company_stats", schema="c_missing")
    with pytest.raises(CommandError):
        call_command("company_stats")
