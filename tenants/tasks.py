"""Celery tasks that run inside a company's schema.

Every tenant task takes ``schema_name`` as its first argument (keyword or positional). The
base class enters that schema before the task body runs and refuses to run without one, so a
task can never silently work on the public schema.
"""

from __future__ import annotations

from celery import Task, shared_task
from django.db import connection
from django_tenants.utils import get_public_schema_name, get_tenant_model

from tenants.context import NoTenantError


class TenantTask(Task):
    abstract = True

    def __call__(self, *args, **kwargs):
        schema_name = kwargs.get("schema_name", args[0] if args else None)
        if not schema_name or schema_name == get_public_schema_name():
            raise NoTenantError(f"task {self.name} needs the schema_name of a company")
        company = get_tenant_model().objects.filter(schema_name=schema_name).first()
        if company is None:
            raise NoTenantError(f"task {self.name}: no company has schema {schema_name!r}")
        previous = connection.tenant if hasattr(connection, "tenant") else None
        connection.set_tenant(company)
        try:
            return super().__call__(*args, **kwargs)
        finally:
            if previous is not None and previous.schema_name != get_public_schema_name():
                connection.set_tenant(previous)
            else:
                connection.set_schema_to_public()


@shared_task(name="tenants.tokens_flush_expired", ignore_result=True)
def tokens_flush_expired() -> None:
    """Beat: forget refresh tokens past their expiry (blacklisted or not)."""
    from tenants.services import tokens_flush_expired as flush

    flush()
