"""Which company the current code runs for, and guards that fail closed outside one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection
from django_tenants.utils import get_public_schema_name

if TYPE_CHECKING:
    from tenants.models import Company


class NoTenantError(RuntimeError):
    """Tenant code ran without a company schema selected."""


def current_schema() -> str:
    return connection.schema_name  # type: ignore[attr-defined]  # set by django-tenants' backend


def use_public_schema() -> None:
    connection.set_schema_to_public()  # type: ignore[attr-defined]


def require_tenant_schema() -> str:
    """Return the current company schema; raise when running in the public schema."""
    schema = current_schema()
    if not schema or schema == get_public_schema_name():
        raise NoTenantError("tenant code called in the public schema")
    return schema


def connection_tenant() -> Company:
    """The tenant django-tenants set on the connection, without the public-schema guard (in the
    public schema it is django-tenants' placeholder for it, not a saved ``Company``)."""
    return connection.tenant  # type: ignore[attr-defined]  # set by django-tenants' backend


def current_company() -> Company:
    """The ``Company`` whose schema is active (raises in the public schema)."""
    require_tenant_schema()
    return connection_tenant()
