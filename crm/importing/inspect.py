"""Reading an uploaded file: format, encoding, separator, header row, the first rows, and the
number of data rows (for the progress bar)."""

from __future__ import annotations

import codecs
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.core.files.storage import default_storage
from django.utils.translation import gettext_lazy as _

from crm.importing.sheet_child import MAX_CELLS, MAX_COLUMNS

ERR_FILE_EMPTY = _("The file is empty.")
ERR_FILE_TYPE = _("Upload a CSV or XLSX file.")
ERR_FILE_TOO_BIG = _("The file is larger than %(size)s MB.")
ERR_FILE_UNREADABLE = _("We could not read this file. Save it as CSV or XLSX and try again.")
ERR_FILE_NO_HEADER = _("The first row must hold the column names.")
ERR_SHEET_TOO_LARGE = _(
    "This spreadsheet is too large to read: at most %(columns)s columns and %(cells)s cells. "
    "Keep only the contact columns (or save it as CSV) and try again."
)
ERR_FILE_BINARY = _(
    "This file holds binary data (NUL bytes), not text. Save it as CSV (UTF-8 or Latin-1) or XLSX and try again."
)

SHEET_CHILD = Path(__file__).with_name("sheet_child.py")
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
        handle.seek(0)
        utf16 = _utf16_without_bom(handle.read(1 << 16))
        if utf16:
            return utf16
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


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` for UTF-16 text saved without a byte order mark (some
    exports do): text in Latin script then has a NUL in every other byte, at odd positions
    (little-endian) or even ones (big-endian). Read as UTF-8 it would be text full of NULs."""
    sample = head[: len(head) // 2 * 2]
    half = len(sample) // 2
    if half < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > half * 0.3 and even <= half * 0.02:
        encoding = "utf-16-le"
    elif even > half * 0.3 and odd <= half * 0.02:
        encoding = "utf-16-be"
    else:
        return None
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample)  # a pair cut at the end is fine
    except UnicodeDecodeError:
        return None
    return encoding


def holds_nul(path: str, encoding: str) -> bool:
    """Whether the text of the file holds a NUL: binary data, which PostgreSQL cannot store as
    text (one NUL in a header failed the upload with a 500). The whole file is checked, in
    chunks, so an import never stops on one halfway."""
    with open(path, "rb") as handle:
        if not encoding.startswith("utf-16"):
            return any(b"\x00" in chunk for chunk in iter(lambda: handle.read(1 << 20), b""))
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        return any("\x00" in decoder.decode(chunk) for chunk in iter(lambda: handle.read(1 << 20), b""))


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


class Sheet:
    """The first sheet of a spreadsheet, read by a child process (``sheet_child.py``): a
    spreadsheet that would exhaust memory ends that process, never this one. ``height`` is its
    number of rows (header included); iterate for the rows; close (or leave the ``with``) to
    stop the child early."""

    def __init__(self, path: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(SHEET_CHILD), path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        if not first:
            self._raise()
        self.height = int(json.loads(first)["height"])

    def _raise(self) -> None:
        assert self.process.stderr is not None
        err = self.process.stderr.read()
        self.process.wait()
        code = ""
        try:
            code = json.loads(err.splitlines()[-1]).get("error", "") if err.strip() else ""
        except (ValueError, IndexError, AttributeError):
            pass
        # Killed by a signal (an abort, the kernel's OOM killer): it did not fit either.
        if code == "too_large" or self.process.returncode < 0:
            raise ImportFileError(ERR_SHEET_TOO_LARGE % {"columns": MAX_COLUMNS, "cells": f"{MAX_CELLS:,}"})
        raise ImportFileError(ERR_FILE_UNREADABLE)

    def __iter__(self) -> Iterator[list[str]]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            yield json.loads(line)
        if self.process.wait() != 0:
            self._raise()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Sheet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_rows(path: str, file_format: str, encoding: str = "", delimiter: str = "") -> Iterator[list[str]]:
    """Every row of the file (header included) as a list of strings."""
    if file_format == "xlsx":
        with Sheet(path) as sheet:
            yield from sheet
        return
    with open(path, encoding=encoding or "utf-8", newline="", errors="replace") as handle:
        yield from csv.reader(handle, delimiter=delimiter or ";")


def count_data_rows(path: str, file_format: str) -> int:
    """Rows after the header (fast: counts line breaks; XLSX: the sheet's height)."""
    if file_format == "xlsx":
        with Sheet(path) as sheet:
            return max(0, sheet.height - 1)
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
        with Sheet(path) as sheet:  # a child process: bounds first, then calamine (audit H4)
            rows = iter(sheet)
            header = next(rows, None)
            preview = [r for _, r in zip(range(PREVIEW_ROWS), rows, strict=False)]
            total_rows = max(0, sheet.height - 1)
    elif name.endswith((".csv", ".txt", ".tsv")):
        file_format = "csv"
        total_rows = -1
        encoding = detect_encoding(path)
        if holds_nul(path, encoding):
            raise ImportFileError(ERR_FILE_BINARY)
        try:
            with open(path, encoding=encoding, newline="", errors="replace") as handle:
                sample = [line for _, line in zip(range(50), handle, strict=False)]
            delimiter = detect_delimiter(sample)
            rows = iter_rows(path, "csv", encoding, delimiter)
            header = next(rows, None)
            preview = [r for _, r in zip(range(PREVIEW_ROWS), rows, strict=False)]
        except csv.Error:  # a field past the csv module's limit: an unclosed quote, or not a CSV
            raise ImportFileError(ERR_FILE_UNREADABLE) from None
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
        total_rows=total_rows if total_rows >= 0 else count_data_rows(path, file_format),
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
