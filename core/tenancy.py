"""Schema guards: which company schema the current code runs in, failing closed outside one.

The ``Company`` a schema belongs to is the ``tenants`` app's business (``tenants.context``).
"""

from __future__ import annotations

from django.db import connection
from django_tenants.utils import get_public_schema_name


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
