"""Running a mapped import to the end (the Celery task calls ``run_import``), with the file of
failed rows."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.files import File
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from crm.exporting import spreadsheet_text
from crm.importing.bulk import bulk_load, contacts_empty
from crm.importing.copy import ChunkWriter, copy_line, copy_tail
from crm.importing.inspect import iter_rows
from crm.importing.mapping import RowParser
from crm.models import ContactImport, CustomFieldDefinition, ImportStatus
from tenants import limits
from tenants.context import company_country, current_company, current_schema

CHUNK_ROWS = 50_000

ERR_LIMIT_CUT = gettext_noop(
    "%(count)s new contacts were not imported: your plan (%(plan)s) allows %(limit)s contacts. "
    "Delete contacts you no longer need or ask us to raise the limit, then import the file again: "
    "the contacts already imported are recognised and the missing ones are added."
)


def limit_cut_message(count: int, limit: int | None) -> str:
    """Written in the company's language (the worker has no request to take it from)."""
    from django.utils import translation
    from django.utils.formats import number_format

    company = current_company()
    with translation.override(company.locale or "pt-br"):
        return gettext(ERR_LIMIT_CUT) % {
            "count": number_format(count, force_grouping=True),
            "plan": company.plan.name,
            "limit": number_format(limit or 0, force_grouping=True),
        }


@contextmanager
def _local_copy(file_field, path: str | None = None) -> Iterator[str]:
    """A local path for a stored file (S3 in production: downloaded to a temporary file)."""
    if path:
        yield path
        return
    try:
        yield file_field.path
        return
    except NotImplementedError:
        pass
    suffix = os.path.splitext(file_field.name)[1]
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        with file_field.open("rb") as source:
            while chunk := source.read(1 << 20):
                tmp.write(chunk)
        tmp.flush()
        yield tmp.name


class FailedRows:
    """The failed-rows file: line number, the row as it was, and the reason."""

    def __init__(self, headers: list[str], delimiter: str):
        self.tmp = tempfile.NamedTemporaryFile("w+", encoding="utf-8-sig", newline="", suffix=".csv")  # noqa: SIM115
        self.writer = csv.writer(self.tmp, delimiter=delimiter or ";")
        self.writer.writerow([gettext("line"), *(spreadsheet_text(h) for h in headers), gettext("reason")])
        self.width = len(headers)
        self.count = 0

    def add(self, line: int, row: list[str], reason) -> None:
        cells = row[: self.width] + [""] * (self.width - len(row))
        # The file goes back to a spreadsheet: the uploaded cells must not run there.
        self.writer.writerow([line, *(spreadsheet_text(c) for c in cells), spreadsheet_text(str(reason))])
        self.count += 1

    def save_to(self, contact_import: ContactImport) -> None:
        if not self.count:
            self.tmp.close()
            return
        self.tmp.flush()
        self.tmp.seek(0)
        base = os.path.splitext(os.path.basename(contact_import.original_name))[0] or "import"
        contact_import.failed_file.save(
            f"{current_schema()}/{contact_import.pk}/{base}-{gettext('failed')}.csv", File(self.tmp), save=False
        )
        self.tmp.close()


def run_import(
    contact_import: ContactImport, *, progress=None, chunk_rows: int = CHUNK_ROWS, path: str | None = None
) -> ContactImport:
    """Run a configured import to the end (the Celery task calls this).

    Chunks commit one by one, so progress is visible to the page while it runs; the counts on
    ``contact_import`` are saved after every chunk. ``path`` overrides the stored file (the
    benchmark reads its generated file in place).
    """
    definitions = list(CustomFieldDefinition.objects.all())
    parser = RowParser(
        headers=contact_import.headers,
        mapping=contact_import.mapping,
        definitions=definitions,
        import_tag_ids=list(contact_import.tag_ids or []),
        country=company_country(),
    )
    failed = FailedRows(contact_import.headers, contact_import.delimiter or ";")
    contact_import.status = ImportStatus.RUNNING
    contact_import.started_at = timezone.now()
    contact_import.processed_rows = contact_import.created_count = contact_import.updated_count = 0
    contact_import.skipped_count = contact_import.failed_count = 0
    contact_import.save(
        update_fields=[
            "status",
            "started_at",
            "processed_rows",
            "created_count",
            "updated_count",
            "skipped_count",
            "failed_count",
        ]
    )
    processed = 0
    tails = copy_tail(contact_import, contact_import.started_at.isoformat())
    with bulk_load(contact_import.total_rows, parallel=not connection.in_atomic_block):
        contacts_limit = limits.limit_of(current_company(), limits.CONTACTS)
        writer = ChunkWriter(contact_import, progress, direct=contacts_empty(), limit=contacts_limit)
        try:
            with _local_copy(contact_import.file, path) as local_path:
                rows_iter = iter_rows(
                    local_path, contact_import.file_format, contact_import.encoding, contact_import.delimiter
                )
                next(rows_iter, None)  # header
                batch: list[str] = []
                for line, row in enumerate(rows_iter, start=2):
                    if not any(row) or not "".join(row).strip():
                        continue  # blank line
                    result = parser.parse(line, row)
                    processed += 1
                    if isinstance(result, tuple):
                        batch.append(copy_line(result, tails))
                    else:
                        failed.add(line, row, result)
                    if len(batch) >= chunk_rows:
                        writer.submit(batch, processed, failed.count)
                        batch = []
                writer.submit(batch, processed, failed.count)
        finally:
            writer.finish()
    failed.save_to(contact_import)
    contact_import.status = ImportStatus.DONE
    contact_import.finished_at = timezone.now()
    contact_import.total_rows = processed
    fields = ["status", "finished_at", "failed_file", "total_rows"]
    if writer.cut:
        # Cut rows count as skipped; the message says why and how to get them in.
        contact_import.error = limit_cut_message(writer.cut, contacts_limit)
        fields.append("error")
    contact_import.save(update_fields=fields)
    if progress:
        progress(contact_import)
    return contact_import
