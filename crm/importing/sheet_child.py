"""Reads a spreadsheet (XLSX, XLSM, XLS, ODS) in a child process of its own (audit H4).

calamine, the reader, builds a dense range from the smallest to the largest cell position: a
1.5 KB XLSX with one cell at A1 and one at XFD1048576 asks for 512 GiB, and the process aborts
(no Python exception to catch). So the parent never opens a spreadsheet itself: it runs this
file (``python sheet_child.py <path>``, by path, without Django) and reads JSON lines from it:

    {"height": <rows>}            first line: the sheet's number of rows, header included
    ["cell", "cell", ...]         then every row, cells as text

Before calamine sees the file, its bounds are checked from the XML itself (the declared size
can lie, the cell positions cannot): uncompressed size, the largest row and column any cell
names, and their product. Beyond that, the address space is capped, so whatever slips through
fails this process only. Errors: exit status 2 and one JSON line on stderr, {"error": code,
...}, code "too_large" or "unreadable".
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import zipfile

MAX_ROWS = 1_048_576  # Excel's own limit
MAX_COLUMNS = int(os.environ.get("IMPORT_SHEET_MAX_COLUMNS", "256"))
MAX_CELLS = int(os.environ.get("IMPORT_SHEET_MAX_CELLS", "30000000"))  # rows x columns, dense
MAX_UNCOMPRESSED = int(os.environ.get("IMPORT_SHEET_MAX_UNCOMPRESSED_MB", "1024")) * 1024 * 1024
MEMORY_LIMIT = int(os.environ.get("IMPORT_SHEET_MEMORY_MB", "3072")) * 1024 * 1024

_CELL_REF = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,4})([0-9]{1,8})"')
_ROW_REF = re.compile(rb'<row\b[^>]*?\br="([0-9]{1,8})"')
_ROW_TAG = re.compile(rb"<row\b")
_SHEET_TAG = re.compile(rb'<sheet\b[^>]*?\br:id="([^"]+)"')
_REL_TAG = re.compile(rb"<Relationship\b[^>]*>")


class TooLarge(Exception):
    pass


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + (ch - 64)
    return number


def _first_sheet_member(archive: zipfile.ZipFile) -> list[str]:
    """The XML of the workbook's first sheet (what calamine reads); every sheet if unsure."""
    names = set(archive.namelist())
    sheets = sorted(n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    try:
        workbook = archive.read("xl/workbook.xml")[: 1 << 20]
        rels = archive.read("xl/_rels/workbook.xml.rels")[: 1 << 20]
        first = _SHEET_TAG.search(workbook)
        if first is not None:
            for rel in _REL_TAG.findall(rels):
                if re.search(rb'\bId="' + re.escape(first.group(1)) + rb'"', rel):
                    target = re.search(rb'\bTarget="([^"]+)"', rel)
                    if target:
                        path = target.group(1).decode("utf-8", "replace").lstrip("/")
                        path = path if path.startswith("xl/") else "xl/" + path
                        if path in names:
                            return [path]
    except (KeyError, zipfile.BadZipFile):
        pass
    return sheets


def check_bounds(path: str) -> None:
    """Refuse (TooLarge) what calamine cannot hold. Only XLSX/XLSM are zips of sheet XML;
    other formats rely on the memory cap."""
    if not zipfile.is_zipfile(path):
        return
    with zipfile.ZipFile(path) as archive:
        if sum(info.file_size for info in archive.infolist()) > MAX_UNCOMPRESSED:
            raise TooLarge("uncompressed")
        for member in _first_sheet_member(archive):
            max_row = max_col = rows = 0
            tail = b""
            with archive.open(member) as stream:
                while chunk := stream.read(1 << 20):
                    data = tail + chunk
                    for match in _CELL_REF.finditer(data):
                        max_col = max(max_col, _column_number(match.group(1)))
                        max_row = max(max_row, int(match.group(2)))
                    for match in _ROW_REF.finditer(data):
                        max_row = max(max_row, int(match.group(1)))
                    rows += len(_ROW_TAG.findall(chunk))
                    tail = data[-256:]  # a tag cut between two chunks is seen in the next
            max_row = max(max_row, rows)
            if max_row > MAX_ROWS:
                raise TooLarge("rows")
            if max_col > MAX_COLUMNS:
                raise TooLarge("columns")
            if max_row * max(max_col, 1) > MAX_CELLS:
                raise TooLarge("cells")


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


def _fail(code: str, detail: str = "") -> None:
    sys.stderr.write(json.dumps({"error": code, "detail": detail}) + "\n")
    sys.stderr.flush()
    os._exit(2)


def main(path: str) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    try:
        check_bounds(path)
    except TooLarge as exc:
        _fail("too_large", str(exc))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        _fail("unreadable", type(exc).__name__)
    try:
        from python_calamine import CalamineWorkbook

        sheet = CalamineWorkbook.from_path(path).get_sheet_by_index(0)
        if sheet.height > MAX_ROWS or sheet.width > MAX_COLUMNS:
            _fail("too_large", "range")
        out = sys.stdout
        out.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
        out.write(json.dumps({"height": sheet.height}) + "\n")
        for row in sheet.iter_rows():
            out.write(json.dumps([_cell(v) for v in row], ensure_ascii=False) + "\n")
        out.flush()
    except MemoryError:
        _fail("too_large", "memory")
    except BrokenPipeError:
        os._exit(0)  # the parent had what it needed (the inspection reads a few rows)
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for corrupt files
        _fail("unreadable", type(exc).__name__)


if __name__ == "__main__":
    main(sys.argv[1])
