"""Base for management commands that work inside one company's schema."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django_tenants.utils import get_public_schema_name

from tenants.models import Company


class TenantCommand(BaseCommand):
    """Requires ``--schema``; enters that company's schema before ``handle_tenant`` runs."""

    def add_arguments(self, parser):
        parser.add_argument("--schema", required=True, help="schema name of the company")

    def handle(self, *args, **options):
        schema = options["schema"]
        if schema == get_public_schema_name():
            raise CommandError("this command runs inside a company schema, not public")
        company = Company.objects.filter(schema_name=schema).first()
        if company is None:
            raise CommandError(f"no company has schema {schema!r}")
        connection.set_tenant(company)
        try:
            return self.handle_tenant(company, *args, **options)
        finally:
            connection.set_schema_to_public()

    def handle_tenant(self, company, *args, **options):  # pragma: no cover - abstract
        raise NotImplementedError
