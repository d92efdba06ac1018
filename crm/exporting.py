"""Contact export: the columns, the rows in id order fetched in batches (bounded memory at any
size), and the two file formats (CSV for Excel in Brazil: ``;``-separated with a BOM; XLSX)."""

from __future__ import annotations

import csv
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from crm.fields import display_value
from crm.models import Contact, CustomFieldDefinition, Tag
from tenants.models import Company
from tenants.selectors import company_users

EXPORT_BATCH = 5000


def export_header(definitions: list[CustomFieldDefinition]) -> list[str]:
    return [
        _("Name"),
        _("Phone"),
        _("Email"),
        _("Tags"),
        _("Marketing consent"),
        pgettext("contact", "Owner"),
        _("Source"),
        _("Created at"),
        _("Last interaction"),
        *[d.label for d in definitions],
    ]


def export_rows(
    queryset: QuerySet[Contact], definitions: list[CustomFieldDefinition], company: Company
) -> Iterator[list[Any]]:
    """Rows of the export in id order, fetched in batches (bounded memory at any size)."""
    connection.set_tenant(company)  # type: ignore[attr-defined]  # a streaming response may be consumed on another thread
    tags = {t.id: t.name for t in Tag.objects.all()}
    owners: dict[int | None, str] = {u.pk: u.email for u in company_users(company=company)}
    last = 0
    while True:
        batch = list(queryset.filter(pk__gt=last).order_by("pk")[:EXPORT_BATCH])
        if not batch:
            return
        for c in batch:
            yield [
                c.name,
                c.phone,
                c.email,
                ", ".join(tags[t] for t in c.tag_ids if t in tags),
                c.get_consent_status_display(),
                owners.get(c.owner_id, ""),
                c.source,
                timezone.localtime(c.created_at).strftime("%d/%m/%Y %H:%M"),
                timezone.localtime(c.last_interaction_at).strftime("%d/%m/%Y %H:%M") if c.last_interaction_at else "",
                *[display_value(d, c.custom_fields.get(d.key)) for d in definitions],
            ]
        last = batch[-1].pk


# A spreadsheet runs a cell that starts with one of these as a formula (HYPERLINK exfiltration,
# WEBSERVICE, DDE in older Excel); the full-width forms are read as the same by some.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"^[+-][\d\s().,/-]*$")  # "+55 11 98765-4321", "-10": no formula


def spreadsheet_text(value: Any) -> Any:
    """The cell as text a spreadsheet shows but does not run (OWASP: a leading apostrophe).
    Phone numbers and plain signed numbers are left alone."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


class _Echo:
    def write(self, value):
        return value


def csv_chunks(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    """The CSV text line by line: ``;``-separated, with a BOM so Excel reads it as UTF-8."""
    writer = csv.writer(_Echo(), delimiter=";")
    yield "\ufeff" + writer.writerow([spreadsheet_text(v) for v in header])
    for row in rows:
        yield writer.writerow([spreadsheet_text(v) for v in row])


def xlsx_file(header: list[str], rows: Iterable[list[Any]]) -> IO[bytes]:
    """The workbook as an open file, already unlinked: it goes away when the caller closes it.
    ``write_only`` keeps one row in memory."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Contacts"))

    def text_cells(values):
        # openpyxl stores a string that starts with "=" as a formula: every string is written
        # as a string cell, so the workbook holds no formula at all.
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
            cells.append(cell)
        return cells

    sheet.append(text_cells(header))
    for row in rows:
        sheet.append(text_cells(row))
    tmp = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False)  # noqa: SIM115
    tmp.close()
    workbook.save(tmp.name)
    handle = open(tmp.name, "rb")  # noqa: SIM115
    os.unlink(tmp.name)  # the open handle keeps the data until it is closed
    return handle
