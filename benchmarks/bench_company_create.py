"""Creating a company (row, schema, domain) with 1,000 companies already there, versus migrating
a bare schema in the same run (the baseline: what creation cost before the template's SQL).

The 1,000 companies (``fill-NNNN``) are made once and kept in the bench database (the beat
sweep benchmark visits them too); each measured company is deleted again, so every sample is
taken with exactly ``COMPANIES`` existing. ``BENCH_COMPANIES`` changes the count.
"""

from __future__ import annotations

import os
import time
import uuid

from django.core.management import call_command
from django.db import connection

from benchmarks.support import fill_companies, percentile, print_host_speed
from tenants import schemas
from tenants.models import Company
from tenants.services import company_create

COMPANIES = int(os.environ.get("BENCH_COMPANIES", "1000"))
SAMPLES = 21
BASELINE_SAMPLES = 3


def run(report) -> None:
    fill_companies(COMPANIES)
    existing = Company.objects.exclude(schema_name="public").count()
    schemas.template_ddl()  # generated once per migration state (by the first company of a process)
    samples = []
    for _ in range(SAMPLES):
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        company = company_create(name="Bench", slug=slug, owner=None)
        samples.append(time.perf_counter() - started)
        company.delete(force_drop=True)
    report("company_create_existing", existing, "count")
    report("company_create_p50", percentile(samples, 50), "s")
    report("company_create_max", max(samples), "s")
    # Baseline: the same schema built by running every tenant migration.
    baseline = []
    for _ in range(BASELINE_SAMPLES):
        schema = f"bench_migrate_{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{schema}"')
        call_command("migrate_schemas", schema_name=schema, interactive=False, verbosity=0)
        baseline.append(time.perf_counter() - started)
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
    report("company_create_p50.baseline", percentile(baseline, 50), "s")
    started = time.perf_counter()
    schemas.cache_clear()
    schemas.template_ddl()
    report("company_schema_sql_generate", time.perf_counter() - started, "s")
    print_host_speed()
