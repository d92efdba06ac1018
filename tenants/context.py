"""Which company the current code runs for (the schema guards themselves are ``core.tenancy``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection

from core.tenancy import NoTenantError, current_schema, require_tenant_schema, use_public_schema

if TYPE_CHECKING:
    from tenants.models import Company

__all__ = [
    "NoTenantError",
    "company_country",
    "current_company",
    "current_schema",
    "require_tenant_schema",
    "use_public_schema",
]


def current_company() -> Company:
    """The ``Company`` whose schema is active (raises in the public schema).

    Requests and tenant tasks set the company itself on the connection; ``schema_context``
    only sets a stand-in that knows the schema name, so the company is then looked up (one
    query)."""
    from tenants.models import Company

    schema = require_tenant_schema()
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Company) and tenant.schema_name == schema:
        return tenant
    return Company.objects.get(schema_name=schema)


def company_country() -> str:
    """The current company's default country for phone numbers (ISO code, Brazil by default)."""
    return current_company().default_country or "BR"
