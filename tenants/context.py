"""Which company the current code runs for (the schema guards themselves are ``core.tenancy``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection

from core.tenancy import NoTenantError, current_schema, require_tenant_schema, use_public_schema

if TYPE_CHECKING:
    from tenants.models import Company

__all__ = [
    "NoTenantError",
    "connection_tenant",
    "current_company",
    "current_schema",
    "require_tenant_schema",
    "use_public_schema",
]


def connection_tenant() -> Company:
    """The tenant django-tenants set on the connection, without the public-schema guard (in the
    public schema it is django-tenants' placeholder for it, not a saved ``Company``)."""
    return connection.tenant  # type: ignore[attr-defined]  # set by django-tenants' backend


def current_company() -> Company:
    """The ``Company`` whose schema is active (raises in the public schema)."""
    require_tenant_schema()
    return connection_tenant()
