"""Importing 1,000,000 contacts from a messy Brazilian spreadsheet export.

The file is what Excel writes on a Brazilian Windows machine: ``;``-separated, Latin-1, phones
in every shape people type (``(11) 98765-4321``, ``+55 11 9...``, ``011 ...``, mobiles
without the ninth digit, landlines), a few invalid rows and duplicates. The import runs the
real code path into an empty company: inspection, normalization, the bulk load of
``crm.importing`` (search/tag/name indexes dropped and rebuilt, chunks COPYed straight into the
empty table by two writers, the failed-rows file) and the statistics update. Baseline, same
run: PostgreSQL ``COPY`` of the same file into a bare table.

Rows: ``BENCH_CRM_ROWS`` (default 1,000,000).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid

from django.db import connection
from django_tenants.utils import schema_context

from benchmarks.support import company

DDDS = [11, 21, 31, 41, 51, 61, 71, 81, 91, 19, 27, 48, 85, 62, 67, 98]
FIRST = ["João", "Maria", "José", "Ana", "Antônio", "Francisca", "Luís", "Márcia", "Conceição", "Sérgio", "Júlia"]
LAST = ["Silva", "Souza", "Conceição", "Araújo", "Gonçalves", "Simões", "Müller", "Brandão", "Pereira", "Lima"]


def phone_variant(i: int, rng: random.Random) -> str:
    ddd = DDDS[i % len(DDDS)]
    n = 60000000 + (i // len(DDDS))  # unique per (ddd, n); starts with 6-7: a mobile
    s = str(n)
    shape = rng.randrange(8)
    if shape == 0:
        return f"({ddd}) 9{s[:4]}-{s[4:]}"
    if shape == 1:
        return f"+55 {ddd} 9{s[:4]} {s[4:]}"
    if shape == 2:
        return f"{ddd}9{s}"
    if shape == 3:
        return f"0{ddd} 9{s[:4]}-{s[4:]}"
    if shape == 4:
        return f"55{ddd}9{s}"
    if shape == 5:
        return f"({ddd}) {s[:4]}-{s[4:]}"  # without the ninth digit
    if shape == 6:
        return f"0 21 {ddd} 9{s[:4]}-{s[4:]}"  # carrier code
    return f"+55 ({ddd}) 9{s[:1]} {s[1:4]}-{s[4:]}"


def generate(path: str, rows: int) -> None:
    rng = random.Random(42)
    with open(path, "w", encoding="latin-1", newline="") as out:
        out.write("Nome;Telefone;E-mail;Etiquetas\r\n")
        buffer = []
        for i in range(rows):
            if i % 1000 == 999:
                phone = "12345"  # invalid
            elif i % 1000 == 998:
                phone = phone_variant(i - 500, rng)  # duplicate of an earlier row
            else:
                phone = phone_variant(i, rng)
            name = f"{FIRST[i % len(FIRST)]} {LAST[(i // 7) % len(LAST)]}"
            email = f"cliente{i}@exemplo.com.br" if i % 3 else ""
            tags = "VIP" if i % 10 == 0 else ("Lead, Site" if i % 10 == 1 else "")
            buffer.append(f"{name};{phone};{email};{tags}\r\n")
            if len(buffer) >= 10000:
                out.write("".join(buffer))
                buffer = []
        out.write("".join(buffer))


def copy_baseline(path: str) -> float:
    with connection.cursor() as wrapper:
        cursor = wrapper.cursor
        cursor.execute("DROP TABLE IF EXISTS bench_copy_baseline")
        cursor.execute("CREATE TABLE bench_copy_baseline (nome text, telefone text, email text, etiquetas text)")
        started = time.perf_counter()
        with (
            cursor.copy(
                "COPY bench_copy_baseline FROM STDIN WITH (FORMAT csv, DELIMITER ';', HEADER true, ENCODING 'LATIN1')"
            ) as copy,
            open(path, "rb") as handle,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy_baseline")
    return elapsed


def run(report) -> None:
    from crm.importing import inspect_file, run_import
    from crm.models import Contact, ContactImport
    from crm.services import contact_import_create

    rows = int(os.environ.get("BENCH_CRM_ROWS", "1000000"))
    # The machine is shared: the load tells how much of it this run had.
    print("# load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
    tmpdir = tempfile.mkdtemp(prefix="bench-crm-")
    path = os.path.join(tmpdir, "contatos.csv")
    generate(path, rows)
    report("crm_import_file_mb", os.path.getsize(path) / 1e6, "MB")
    target = company(f"bench-imp-{uuid.uuid4().hex[:6]}", "Bench Import")
    try:
        with schema_context(target.schema_name):
            connection.set_tenant(target)
            started = time.perf_counter()
            inspection = inspect_file(path, "contatos.csv")
            contact_import = contact_import_create(
                stored_name="bench/contatos.csv", original_name="contatos.csv", inspection=inspection
            )
            ContactImport.objects.filter(pk=contact_import.pk).update(status="queued")
            contact_import.refresh_from_db()
            # The generated file is read in place (no copy through storage in the benchmark).
            run_import(contact_import, path=path)
            elapsed = time.perf_counter() - started
            imported = Contact.objects.count()
            assert inspection.encoding == "cp1252", inspection.encoding
            assert inspection.delimiter == ";", inspection.delimiter
            print(
                f"# rows={rows} created={contact_import.created_count} failed={contact_import.failed_count}"
                f" in table={imported}",
                flush=True,
            )
            assert imported == contact_import.created_count
            # The time includes rebuilding the indexes the bulk load left out: all are back.
            from crm.importing import BULK_INDEXES

            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ANY(%s)",
                    [list(BULK_INDEXES)],
                )
                assert cursor.fetchone()[0] == len(BULK_INDEXES)
        baseline = copy_baseline(path)
        report("crm_import_1m", elapsed, "s")
        report("crm_import_1m.baseline", baseline, "s")
        report("crm_import_1m_ratio", elapsed / baseline, "x")
        report("crm_import_rows_per_s", rows / elapsed, "rows/s")
        print("# load average after {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
    finally:
        connection.set_schema_to_public()
        target.delete(force_drop=True)
        os.remove(path)
        os.rmdir(tmpdir)
