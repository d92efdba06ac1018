"""A company whose creation was interrupted (row committed, schema never made) is repaired."""

from __future__ import annotations

from django.db import connection

from tenants.models import Company
from tenants.services import missing_schemas_repair


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def test_a_company_row_without_its_schema_gets_one_back(db):
    # bulk_create skips the model's save(), which is what makes the schema: the row of a
    # creation killed before its schema was migrated.
    Company.objects.bulk_create([Company(name="Interrompida", slug="interrompida", schema_name="c_interrompida")])
    assert not _schema_exists("c_interrompida")
    assert missing_schemas_repair() == ["c_interrompida"]
    assert _schema_exists("c_interrompida") and _schema_exists("c_acme")
    with connection.cursor() as cursor:  # the template's schema, not an empty one
        cursor.execute("SELECT count(*) FROM c_interrompida.django_migrations")
        assert cursor.fetchone()[0] > 40
    assert missing_schemas_repair() == []  # nothing left to repair; existing schemas untouched
