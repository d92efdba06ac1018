"""Creating a company (schema, migrations, domain) versus migrating a bare schema alone (the floor)."""

from __future__ import annotations

import time
import uuid

from django.core.management import call_command
from django.db import connection

from tenants.models import Company
from tenants.services import company_create


def run(report) -> None:
    samples = []
    created = []
    for _ in range(5):
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        created.append(company_create(name="Bench", slug=slug, owner=None))
        samples.append(time.perf_counter() - started)
    samples.sort()
    report("company_create_p50", samples[len(samples) // 2], "s")
    report("company_create_max", samples[-1], "s")
    # Baseline: the same schema built by running every tenant migration.
    schema = f"bench_migrate_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    call_command("migrate_schemas", schema_name=schema, interactive=False, verbosity=0)
    baseline = time.perf_counter() - started
    report("company_create_p50.baseline", baseline, "s")
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
    for company in created:
        Company.objects.filter(pk=company.pk).first().delete(force_drop=True)
