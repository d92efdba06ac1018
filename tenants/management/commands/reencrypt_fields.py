"""Re-encrypt every encrypted field value under the newest key of FIELD_ENCRYPTION_KEYS."""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name, schema_context

from tenants import crypto
from tenants.fields import EncryptedTextField
from tenants.models import Company

BATCH = 500


def encrypted_fields():
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            yield model, fields


def reencrypt_schema(schema_name: str) -> int:
    """Rewrite values whose key id is not the primary one. Returns how many were rewritten."""
    ring = crypto.key_ring()
    changed = 0
    with schema_context(schema_name):
        for model, fields in encrypted_fields():
            table = model._meta.db_table
            if table not in connection.introspection.table_names():
                continue
            for field in fields:
                column = field.column
                aad_field = field._aad_field()
                last_pk = 0
                while True:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(
                            f'SELECT id, "{column}" FROM "{table}" WHERE id > %s AND "{column}" IS NOT NULL '
                            f'AND "{column}" <> \'\' AND "{column}" NOT LIKE %s ORDER BY id LIMIT %s FOR UPDATE',
                            [last_pk, f"{crypto.PREFIX}:{ring.primary_id}:%", BATCH],
                        )
                        rows = cursor.fetchall()
                        if not rows:
                            break
                        for pk, token in rows:
                            plain = crypto.decrypt(token, company=schema_name, field=aad_field, ring=ring)
                            cursor.execute(
                                f'UPDATE "{table}" SET "{column}" = %s WHERE id = %s',
                                [crypto.encrypt(plain, company=schema_name, field=aad_field, ring=ring), pk],
                            )
                            changed += 1
                        last_pk = rows[-1][0]
    return changed


class Command(BaseCommand):
    help = "Re-encrypt all encrypted fields with the newest key (run after adding a key)."

    def add_arguments(self, parser):
        parser.add_argument("--schema", help="only this company schema")

    def handle(self, *args, **options):
        if options.get("schema"):
            if not Company.objects.filter(schema_name=options["schema"]).exists():
                raise CommandError(f"no company has schema {options['schema']!r}")
            schemas = [options["schema"]]
        else:
            schemas = [get_public_schema_name()] + list(
                Company.objects.exclude(schema_name=get_public_schema_name()).values_list("schema_name", flat=True)
            )
        total = 0
        for schema in schemas:
            count = reencrypt_schema(schema)
            total += count
            if count:
                self.stdout.write(f"{schema}: {count} values re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"done: {total} values re-encrypted"))
