"""Helpers for benchmarks: a database of their own, companies, timing."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable

BENCH_DB = "bench_masteria"


def ensure_bench_database() -> None:
    """Point the default connection at ``bench_masteria`` (created and migrated if needed)."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.DATABASES["default"]["NAME"] = BENCH_DB
    connection.close()
    connection.settings_dict["NAME"] = "postgres"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE DATABASE {BENCH_DB}")
    connection.close()
    connection.settings_dict["NAME"] = BENCH_DB
    _drop_fill_companies_behind()
    call_command("bootstrap", verbosity=0)


def _drop_fill_companies_behind() -> None:
    """The thousand ``fill-`` companies are bench data: when a new migration came, making them
    again (a few minutes) is quicker than migrating each (seconds per company at that count)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('public.tenants_company') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return
        cursor.execute("SELECT schema_name FROM tenants_company WHERE slug LIKE 'fill-%%' ORDER BY slug")
        fill = [row[0] for row in cursor.fetchall()]
    from tenants.schemas import schema_behind_code

    if not fill or not schema_behind_code(fill[0]):
        return
    print(f"# a migration came: dropping the {len(fill)} fill- companies to make them again", flush=True)
    with connection.cursor() as cursor:
        # Rows of the public schema that point at a company (domains, webhook routes...).
        cursor.execute(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]"
            " WHERE c.contype = 'f' AND c.confrelid = 'public.tenants_company'::regclass"
        )
        referencing = cursor.fetchall()
    for schema in fill:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            for table, column in referencing:
                cursor.execute(
                    f'DELETE FROM {table} WHERE "{column}" IN (SELECT id FROM tenants_company WHERE schema_name = %s)',
                    [schema],
                )
            cursor.execute("DELETE FROM tenants_company WHERE schema_name = %s", [schema])


def production_connections() -> None:
    """Database connections as production keeps them: a pool per process (the test settings,
    which server subprocesses run with, open a connection per request or task instead)."""
    import django
    from django.conf import settings
    from django.db import connections

    from config.settings.base import database_connections, database_pool_options

    django.setup()
    for settings_dict in (settings.DATABASES["default"], connections["default"].settings_dict):
        settings_dict.update(database_connections())
        settings_dict["OPTIONS"] = {**settings_dict["OPTIONS"], **database_pool_options()}


def company(slug: str, name: str | None = None):
    from tenants.models import Company
    from tenants.services import company_create

    existing = Company.objects.filter(slug=slug).first()
    # Benchmarks measure sizes no plan limit should cut.
    return existing or company_create(name=name or slug.title(), slug=slug, owner=None, plan="enterprise")


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def time_calls(fn: Callable[[], object], repeat: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def host_speed() -> float:
    """Seconds a fixed pure-Python loop takes: the host's speed when it is measured. On the
    2-core development machine it ranged from 0.75 s to 1.25 s within an hour, and the figures
    move with it, so benchmarks print it next to theirs."""
    started = time.perf_counter()
    total = 0
    for i in range(20_000_000):
        total += i
    return time.perf_counter() - started


def print_host_speed() -> None:
    print(f"# host speed: a fixed Python loop took {host_speed():.2f} s (fastest seen: 0.75 s)", flush=True)


def fill_companies(count: int, prefix: str = "fill-") -> list[str]:
    """Make sure at least ``count`` companies exist (besides public), creating ``<prefix>NNNN``
    ones as needed; they stay in the bench database for the next runs. Returns the schema names
    of the ``<prefix>`` companies."""
    from tenants.models import Company
    from tenants.services import company_create

    existing = Company.objects.exclude(schema_name="public").count()
    made = Company.objects.filter(slug__startswith=prefix).count()
    started = time.perf_counter()
    for n in range(made, made + max(0, count - existing)):
        company_create(name=f"Empresa {n:04d}", slug=f"{prefix}{n:04d}", owner=None)
        if (n + 1) % 250 == 0:
            print(f"# {n + 1} {prefix} companies after {time.perf_counter() - started:.0f} s", flush=True)
    return list(Company.objects.filter(slug__startswith=prefix).order_by("slug").values_list("schema_name", flat=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    """Wait until something listens on the loopback ``port`` (a server subprocess started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


__all__ = [
    "company",
    "fill_companies",
    "free_port",
    "host_speed",
    "percentile",
    "print_host_speed",
    "statistics",
    "time_calls",
    "wait_port",
]
