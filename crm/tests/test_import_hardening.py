"""Import files that used to hurt the server (audit H4, M8): a 1.5 KB spreadsheet that asked
the reader for 512 GiB (the web process aborted), a zip bomb, and cells that made the email
check run for minutes. Each is refused with a clear message; nothing else is harmed."""

from __future__ import annotations

import io
import re
import time
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import translation

from crm.importing import ImportFileError, inspect_file
from crm.importing.inspect import ERR_SHEET_TOO_LARGE
from crm.importing.mapping import EMAIL_RE, ERR_ROW_CELL_TOO_LONG, MAX_CELL
from crm.importing.sheet_child import MAX_CELLS, MAX_COLUMNS

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Contatos" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)


def xlsx(rows_xml: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr(
            "xl/worksheets/sheet1.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<dimension ref="A1:B2"/>'  # the declared size lies; the cells do not
            f"<sheetData>{rows_xml}</sheetData></worksheet>",
        )
    return buffer.getvalue()


SPARSE = xlsx(
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Telefone</t></is></c></row>'
    '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
)
GOOD = xlsx(
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Nome</t></is></c><c r="B1" t="inlineStr"><is><t>Telefone</t></is></c></row>'
    '<row r="2"><c r="A2" t="inlineStr"><is><t>Maria</t></is></c><c r="B2"><v>5511987654321</v></c></row>'
)


def _too_large() -> str:
    with translation.override("en"):
        return str(ERR_SHEET_TOO_LARGE % {"columns": MAX_COLUMNS, "cells": f"{MAX_CELLS:,}"})


def _write(tmp_path, data: bytes, name="contatos.xlsx") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_the_audits_sparse_xlsx_is_refused_and_nothing_crashes(tmp_path):
    assert len(SPARSE) < 2000
    with translation.override("en"), pytest.raises(ImportFileError) as exc:
        inspect_file(_write(tmp_path, SPARSE), "contatos.xlsx")
    assert str(exc.value.message) == _too_large()


def test_a_sheet_that_slips_past_the_bounds_dies_alone(tmp_path, monkeypatch):
    """The reader's abort (here with the bounds switched off) ends the child process only."""
    monkeypatch.setenv("IMPORT_SHEET_MAX_COLUMNS", "100000")
    monkeypatch.setenv("IMPORT_SHEET_MAX_CELLS", str(10**13))
    with translation.override("en"), pytest.raises(ImportFileError) as exc:
        inspect_file(_write(tmp_path, SPARSE), "contatos.xlsx")
    assert str(exc.value.message) == _too_large()


def test_a_zip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("IMPORT_SHEET_MAX_UNCOMPRESSED_MB", "1")
    padding = "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(2, 60_000))
    with translation.override("en"), pytest.raises(ImportFileError) as exc:
        inspect_file(_write(tmp_path, xlsx('<row r="1"><c r="A1"><v>1</v></c></row>' + padding)), "b.xlsx")
    assert str(exc.value.message) == _too_large()


def test_a_normal_spreadsheet_still_reads(tmp_path):
    inspection = inspect_file(_write(tmp_path, GOOD), "contatos.xlsx")
    assert inspection.headers == ["Nome", "Telefone"]
    assert inspection.preview == [["Maria", "5511987654321"]]
    assert inspection.total_rows == 1


def test_the_upload_page_and_api_answer_with_the_message(owner_client, acme):
    owner_client.cookies["django_language"] = "en"
    page = owner_client.post(
        "/imports/",
        {"file": SimpleUploadedFile("contatos.xlsx", SPARSE)},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert page.status_code in (200, 400)  # the form again, with the reason
    assert _too_large().replace("'", "&#x27;") in page.content.decode()
    api = owner_client.post(
        "/api/v1/imports/", {"file": SimpleUploadedFile("contatos.xlsx", SPARSE)}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert api.status_code == 400
    assert _too_large() in api.content.decode()
    connection.set_tenant(acme)
    from crm.models import ContactImport

    assert not ContactImport.objects.exists()


def test_the_email_check_is_linear():
    """Audit M8: ``a@`` then dots then ``@`` backtracked quadratically (75 s for one cell)."""
    evil = "a@" + "." * 20_000 + "@"
    started = time.perf_counter()
    assert EMAIL_RE.match(evil) is None
    assert time.perf_counter() - started < 0.05
    assert EMAIL_RE.match("joao@exemplo.com.br") and EMAIL_RE.match("a.b+c@d-e.f.gh")
    assert not EMAIL_RE.match("joao@exemplo") and not EMAIL_RE.match("a@b..c") and not EMAIL_RE.match("a b@c.d")


def test_long_cells_and_long_emails_fail_their_row_quickly(tenant, tmp_path):
    from crm.tests.test_import import _import

    long_email = "a@" + "." * 9_000 + "@"
    long_name = "N" * (MAX_CELL + 1)
    content = (
        "Nome;Telefone;E-mail\r\n"
        f"Maria;11987654321;{long_email}\r\n"
        f"{long_name};11987654322;\r\n"
        "João;11987654323;joao@exemplo.com.br\r\n"
    )
    started = time.perf_counter()
    result = _import(tmp_path, content, encoding="utf-8")
    assert time.perf_counter() - started < 10
    assert (result.created_count, result.failed_count) == (1, 2)
    failed = result.failed_file.open("rb").read().decode("utf-8-sig")
    with translation.override("en"):
        assert str(ERR_ROW_CELL_TOO_LONG % {"limit": MAX_CELL}) in failed
    assert len(failed) < 2 * MAX_CELL + 20_000  # the reasons quote a bounded part of the cell
    assert re.search(r"Invalid email", failed) or "e-mail" in failed.lower()
