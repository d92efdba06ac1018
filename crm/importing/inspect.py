"""Reading an uploaded file: format, encoding, separator, header row, the first rows, and the
number of data rows (for the progress bar)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.utils.translation import gettext_lazy as _

ERR_FILE_EMPTY = _("The file is empty.")
ERR_FILE_TYPE = _("Upload a CSV or XLSX file.")
ERR_FILE_TOO_BIG = _("The file is larger than %(size)s MB.")
ERR_FILE_UNREADABLE = _("We could not read this file. Save it as CSV or XLSX and try again.")
ERR_FILE_NO_HEADER = _("The first row must hold the column names.")

MAX_UPLOAD_MB = 100
PREVIEW_ROWS = 5
DELIMITERS = (";", ",", "\t", "|")


class ImportFileError(ValueError):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def detect_encoding(path: str) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 (what Excel writes on Brazilian
    Windows; a superset of Latin-1 for text), else Latin-1 (every byte decodes)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        for encoding in ("utf-8", "cp1252"):
            handle.seek(0)
            decoder = codecs.getincrementaldecoder(encoding)()
            try:
                while chunk := handle.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
                return encoding
            except UnicodeDecodeError:
                continue
    return "latin-1"


def detect_delimiter(sample_lines: list[str]) -> str:
    """The separator that splits the first lines into the same number (> 1) of columns."""
    best, best_score = ";", (-1, 0)
    lines = [line for line in sample_lines if line.strip()][:50]
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if not counts:
            continue
        mode, frequency = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        score = (frequency, mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "sim" if value else "não"
    if isinstance(value, float):
        # Excel stores long numbers (phones) as floats: 5511987654321.0
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def iter_rows(path: str, file_format: str, encoding: str = "", delimiter: str = "") -> Iterator[list[str]]:
    """Every row of the file (header included) as a list of strings."""
    if file_format == "xlsx":
        from python_calamine import CalamineWorkbook

        workbook = CalamineWorkbook.from_path(path)
        sheet = workbook.get_sheet_by_index(0)
        for row in sheet.iter_rows():
            yield [_cell(v) for v in row]
        return
    with open(path, encoding=encoding or "utf-8", newline="", errors="replace") as handle:
        yield from csv.reader(handle, delimiter=delimiter or ";")


def count_data_rows(path: str, file_format: str) -> int:
    """Rows after the header (fast: counts line breaks; XLSX: the sheet's height)."""
    if file_format == "xlsx":
        from python_calamine import CalamineWorkbook

        return max(0, CalamineWorkbook.from_path(path).get_sheet_by_index(0).height - 1)
    lines = 0
    last = b"\n"
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return max(0, lines - 1)


@dataclass
class Inspection:
    file_format: str
    encoding: str
    delimiter: str
    headers: list[str]
    preview: list[list[str]]
    total_rows: int


def inspect_file(path: str, original_name: str) -> Inspection:
    """Format, encoding, separator, headers and the first rows of an uploaded file."""
    name = original_name.lower()
    if os.path.getsize(path) == 0:
        raise ImportFileError(ERR_FILE_EMPTY)
    if name.endswith((".xlsx", ".xlsm", ".xls", ".ods")):
        file_format, encoding, delimiter = "xlsx", "", ""
        try:
            rows = iter_rows(path, "xlsx")
            header = next(rows, None)
            preview = [r for _, r in zip(range(PREVIEW_ROWS), rows, strict=False)]
        except Exception:  # noqa: BLE001 - calamine raises its own error types for corrupt files
            raise ImportFileError(ERR_FILE_UNREADABLE) from None
    elif name.endswith((".csv", ".txt", ".tsv")):
        file_format = "csv"
        encoding = detect_encoding(path)
        with open(path, encoding=encoding, newline="", errors="replace") as handle:
            sample = [line for _, line in zip(range(50), handle, strict=False)]
        delimiter = detect_delimiter(sample)
        rows = iter_rows(path, "csv", encoding, delimiter)
        header = next(rows, None)
        preview = [r for _, r in zip(range(PREVIEW_ROWS), rows, strict=False)]
    else:
        raise ImportFileError(ERR_FILE_TYPE)
    headers = [h.strip() for h in header or []]
    while headers and not headers[-1]:
        headers.pop()
    if not headers or not any(headers):
        raise ImportFileError(ERR_FILE_NO_HEADER)
    return Inspection(
        file_format=file_format,
        encoding=encoding,
        delimiter=delimiter,
        headers=headers,
        preview=[row[: len(headers)] + [""] * (len(headers) - len(row)) for row in preview],
        total_rows=count_data_rows(path, file_format),
    )


@contextmanager
def upload_local_path(stored_name: str, upload) -> Iterator[str]:
    """A local path to read ``upload``, just saved in storage as ``stored_name``: the stored
    file itself, or (storage without paths, S3) a temporary copy of the upload, removed after."""
    try:
        path = default_storage.path(stored_name)
    except NotImplementedError:
        path = None
    if path is not None:
        yield path
        return
    tmp = tempfile.NamedTemporaryFile(suffix=os.path.splitext(upload.name)[1], delete=False)  # noqa: SIM115
    try:
        for chunk in upload.chunks():
            tmp.write(chunk)
        tmp.close()
        yield tmp.name
    finally:
        tmp.close()
        os.unlink(tmp.name)
