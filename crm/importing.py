"""Contact import: file inspection (encoding, separator, headers, preview), column mapping,
and the bulk run.

The run is built for a million rows: the file is parsed as a stream, each row is normalized
in Python (the phone fast path of ``crm.phones``), valid rows are streamed with ``COPY`` into
a temporary staging table, and every chunk is merged with ONE ``INSERT ... ON CONFLICT``
(which also writes the timeline and list memberships). An import that starts on an empty
table COPYs its chunks straight into it, and a large import into a small table loads without
the search/tag/name indexes and builds them at the end (``bulk_load``). Every row that is not
imported is written, with its reason, to the failed-rows file: nothing valid is dropped
silently.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import json
import os
import queue
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg.errors
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.fields import parse_value
from crm.models import ConsentStatus, Contact, ContactImport, CustomFieldDefinition, ExistingPolicy, ImportStatus
from crm.phones import InvalidPhoneError, normalize_phone
from crm.text import fold_full
from tenants.context import company_country, current_company, current_schema

ERR_FILE_EMPTY = _("The file is empty.")
ERR_FILE_TYPE = _("Upload a CSV or XLSX file.")
ERR_FILE_TOO_BIG = _("The file is larger than %(size)s MB.")
ERR_FILE_UNREADABLE = _("We could not read this file. Save it as CSV or XLSX and try again.")
ERR_FILE_NO_HEADER = _("The first row must hold the column names.")
ERR_MAPPING_PHONE = _("Choose the column that holds the phone number.")
ERR_MAPPING_TWICE = _("Each field can receive only one column (%(field)s is chosen twice).")
ERR_MAPPING_UNKNOWN = _("Unknown field chosen for column %(column)s.")
ERR_ROW_DUPLICATE = _("Duplicate in file: same phone as line %(line)s.")
ERR_ROW_EMAIL = _("Invalid email: %(value)s.")
ERR_ROW_FIELD = _("%(field)s: %(message)s")
ERR_ROW_CONSENT = _("Consent not understood: %(value)s (use sim/não, yes/no).")

MAX_UPLOAD_MB = 100
CHUNK_ROWS = 50_000
PREVIEW_ROWS = 5
DELIMITERS = (";", ",", "\t", "|")

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CONSENT_WORDS = {
    ConsentStatus.OPTED_IN: {
        "sim",
        "s",
        "yes",
        "y",
        "1",
        "true",
        "x",
        "opted_in",
        "opt-in",
        "optin",
        "aceito",
        "aceita",
    },
    ConsentStatus.OPTED_OUT: {"nao", "n", "no", "0", "false", "opted_out", "opt-out", "optout", "sair", "recusou"},
}

# Header words (folded) that point at each field.
HEADER_GUESSES = {
    "phone": ("telefone", "celular", "whatsapp", "fone", "phone", "mobile", "tel", "numero", "cel", "zap", "contato"),
    "name": ("nome", "name", "nome completo", "cliente", "full name", "razao social"),
    "last_name": ("sobrenome", "last name", "surname"),
    "email": ("email", "e mail", "mail", "correio eletronico"),
    "tags": ("tags", "tag", "etiquetas", "etiqueta", "marcadores"),
    "consent": ("consentimento", "opt in", "optin", "consent", "aceita marketing", "marketing"),
}
BASE_TARGETS = ("name", "last_name", "phone", "email", "tags", "consent")


class ImportFileError(ValueError):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def target_labels() -> dict[str, str]:
    return {
        "": gettext("Do not import"),
        "name": gettext("Name"),
        "last_name": gettext("Last name (joined to the name)"),
        "phone": gettext("Phone"),
        "email": gettext("Email"),
        "tags": gettext("Tags (separated by commas)"),
        "consent": gettext("Marketing consent (yes/no)"),
    }


# --- Reading files --------------------------------------------------------------------------------


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


def headers_signature(headers: list[str]) -> str:
    return hashlib.sha256("\x1f".join(fold_full(h).strip() for h in headers).encode()).hexdigest()


def _header_key(header: str) -> str:
    return " ".join("".join(ch if ch.isalnum() else " " for ch in fold_full(header)).split())


def guess_mapping(headers: list[str], definitions: list[CustomFieldDefinition]) -> dict[str, str]:
    """Column index (as a string) -> target, from the header names."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    fields = {_header_key(d.key): d.key for d in definitions} | {_header_key(d.label): d.key for d in definitions}
    for index, header in enumerate(headers):
        key = _header_key(header)
        target = ""
        if key in fields:
            target = f"cf:{fields[key]}"
        else:
            for candidate, words in HEADER_GUESSES.items():
                if key in words or any(key.startswith(w + " ") for w in words if len(w) > 3):
                    target = candidate
                    break
        if target and target not in used:
            mapping[str(index)] = target
            used.add(target)
    return mapping


def remembered_mapping(signature: str, headers: list[str]) -> dict[str, str] | None:
    """The mapping chosen last time a file with the same columns was imported."""
    previous = (
        ContactImport.objects.filter(headers_signature=signature)
        .exclude(mapping={})
        .exclude(status=ImportStatus.MAPPING)
        .order_by("-created_at")
        .values_list("mapping", flat=True)
        .first()
    )
    if not previous:
        return None
    return {k: v for k, v in previous.items() if k.isdigit() and int(k) < len(headers)}


def mapping_clean(mapping: dict, headers: list[str], definitions: list[CustomFieldDefinition]) -> dict[str, str]:
    """Validated mapping (column index -> target); raises ``ImportFileError``."""
    keys = {d.key for d in definitions}
    labels = target_labels()
    clean: dict[str, str] = {}
    seen: set[str] = set()
    for column, target in (mapping or {}).items():
        column, target = str(column), str(target or "")
        if not target:
            continue
        if not column.isdigit() or int(column) >= len(headers):
            raise ImportFileError(ERR_MAPPING_UNKNOWN % {"column": column})
        if target not in BASE_TARGETS and not (target.startswith("cf:") and target[3:] in keys):
            raise ImportFileError(ERR_MAPPING_UNKNOWN % {"column": headers[int(column)]})
        if target in seen:
            raise ImportFileError(ERR_MAPPING_TWICE % {"field": labels.get(target, target[3:])})
        seen.add(target)
        clean[column] = target
    if "phone" not in seen:
        raise ImportFileError(ERR_MAPPING_PHONE)
    return clean


# --- Running -------------------------------------------------------------------------------------

# The columns every chunk is written with: straight into ``crm_contact`` (``COPY``, see
# ``_flush``) or into the staging table that mirrors them.
CONTACT_COLUMNS = (
    "phone, name, email, tag_ids, custom_fields, consent_status, consent_changed_at, consent_source, "
    "source, created_at, updated_at, import_id"
)
STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS crm_import_stage (
    phone text NOT NULL,
    name text NOT NULL,
    email text NOT NULL,
    tag_ids bigint[] NOT NULL,
    custom_fields jsonb NOT NULL,
    consent_status text NOT NULL,
    consent_changed_at timestamptz,
    consent_source text NOT NULL,
    source text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    import_id bigint
)
"""

# One statement per chunk: upsert, timeline, counts. ``WHERE`` on the update leaves rows that
# would not change untouched (re-importing a file is cheap and reported as skipped).
UPSERT_UPDATE_SQL = f"""
WITH up AS (
    INSERT INTO crm_contact AS c ({CONTACT_COLUMNS})
    SELECT {CONTACT_COLUMNS} FROM crm_import_stage s
    ORDER BY s.phone
    ON CONFLICT (phone) DO UPDATE SET
        name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE c.name END,
        email = CASE WHEN EXCLUDED.email <> '' THEN EXCLUDED.email ELSE c.email END,
        tag_ids = CASE WHEN EXCLUDED.tag_ids <@ c.tag_ids THEN c.tag_ids
                       ELSE ARRAY(SELECT DISTINCT t FROM unnest(c.tag_ids || EXCLUDED.tag_ids) t ORDER BY t) END,
        custom_fields = c.custom_fields || EXCLUDED.custom_fields,
        -- an import never overrides an opt-out; it may record one
        consent_status = CASE WHEN EXCLUDED.consent_source = '' OR c.consent_status = 'opted_out'
                              THEN c.consent_status ELSE EXCLUDED.consent_status END,
        consent_changed_at = CASE WHEN EXCLUDED.consent_source = '' OR c.consent_status = 'opted_out'
                                       OR c.consent_status = EXCLUDED.consent_status
                                  THEN c.consent_changed_at ELSE now() END,
        consent_source = CASE WHEN EXCLUDED.consent_source = '' OR c.consent_status = 'opted_out'
                                   OR c.consent_status = EXCLUDED.consent_status
                              THEN c.consent_source ELSE 'import' END,
        updated_at = now()
    WHERE (EXCLUDED.name <> '' AND EXCLUDED.name <> c.name)
       OR (EXCLUDED.email <> '' AND EXCLUDED.email <> c.email)
       OR NOT (EXCLUDED.tag_ids <@ c.tag_ids)
       OR NOT (c.custom_fields @> EXCLUDED.custom_fields)
       OR (EXCLUDED.consent_source <> '' AND c.consent_status <> 'opted_out'
           AND c.consent_status <> EXCLUDED.consent_status)
    RETURNING c.id, (c.xmax = 0) AS inserted
),
events AS (
    -- created contacts show "imported" from their import_id column (no row per contact)
    INSERT INTO crm_timelineevent (contact_id, kind, data, actor_id, at)
    SELECT id, 'contact.import_updated', %(data)s::jsonb, %(actor)s, now() FROM up WHERE NOT inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up
"""

UPSERT_SKIP_SQL = f"""
WITH up AS (
    INSERT INTO crm_contact AS c ({CONTACT_COLUMNS})
    SELECT {CONTACT_COLUMNS} FROM crm_import_stage s
    ORDER BY s.phone
    ON CONFLICT (phone) DO NOTHING
    RETURNING c.id
)
SELECT count(*), 0 FROM up
"""

LIST_SQL = """
INSERT INTO crm_contactlistmember (contact_list_id, contact_id, added_at)
SELECT %(list_id)s, c.id, now() FROM crm_import_stage s JOIN crm_contact c ON c.phone = s.phone
ON CONFLICT DO NOTHING
"""


@dataclass
class RowParser:
    """Turns file rows into staging rows or failure reasons (the hot loop of an import)."""

    headers: list[str]
    mapping: dict[str, str]
    definitions: list[CustomFieldDefinition]
    import_tag_ids: list[int]
    country: str
    tag_cache: dict[str, int] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    tag_cells: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        by_target = {t: int(c) for c, t in self.mapping.items()}
        self.phone_at = by_target["phone"]
        self.name_at = by_target.get("name")
        self.last_name_at = by_target.get("last_name")
        self.email_at = by_target.get("email")
        self.tags_at = by_target.get("tags")
        self.consent_at = by_target.get("consent")
        defs = {d.key: d for d in self.definitions}
        self.fields_at = [(i, defs[t[3:]]) for t, i in by_target.items() if t.startswith("cf:")]
        self.base_tags = sorted(set(self.import_tag_ids))
        self.base_tags_literal = "{" + ",".join(map(str, self.base_tags)) + "}"
        self.is_br = self.country.upper() == "BR"

    def _tags(self, cell: str) -> str:
        # Spreadsheets repeat the same few tag cells ("VIP", "Lead, Site") on every row: the
        # literal is built once per distinct cell (bounded, for files with free text there).
        literal = self.tag_cells.get(cell)
        if literal is None:
            literal = self._tags_literal(cell)
            if len(self.tag_cells) < 10_000:
                self.tag_cells[cell] = literal
        return literal

    def _tags_literal(self, cell: str) -> str:
        from crm.services import tags_ensure

        names = [n.strip() for n in re.split(r"[,|;/]", cell) if n.strip()]
        if not names:
            return self.base_tags_literal
        ids = set(self.base_tags)
        missing = [n[:64] for n in names if n.lower() not in self.tag_cache]
        if missing:
            for name, tag_id in zip(missing, tags_ensure(names=missing), strict=False):
                self.tag_cache[name.lower()] = tag_id
        ids.update(self.tag_cache[n[:64].lower()] for n in names)
        return "{" + ",".join(map(str, sorted(ids))) + "}"

    def parse(self, line: int, row: list[str]) -> tuple | str:
        """A staging tuple, or the reason the row fails."""
        width = len(row)
        raw_phone = row[self.phone_at] if self.phone_at < width else ""
        try:
            phone = normalize_phone(raw_phone, self.country)
        except InvalidPhoneError as exc:
            return f"{exc.message} ({raw_phone.strip()})" if raw_phone.strip() else str(exc.message)
        first = self.seen.get(phone)
        if first is not None:
            return ERR_ROW_DUPLICATE % {"line": first}
        name = row[self.name_at].strip() if self.name_at is not None and self.name_at < width else ""
        if self.last_name_at is not None and self.last_name_at < width and row[self.last_name_at].strip():
            name = f"{name} {row[self.last_name_at].strip()}".strip()
        email = ""
        if self.email_at is not None and self.email_at < width:
            email = row[self.email_at].strip().lower()
            if email and not EMAIL_RE.match(email):
                return ERR_ROW_EMAIL % {"value": email}
        consent = None
        if self.consent_at is not None and self.consent_at < width:
            word = fold_full(row[self.consent_at].strip())
            if word:
                for status, words in CONSENT_WORDS.items():
                    if word in words:
                        consent = status.value
                        break
                else:
                    return ERR_ROW_CONSENT % {"value": row[self.consent_at].strip()}
        custom = "{}"
        if self.fields_at:
            values = {}
            for index, definition in self.fields_at:
                if index >= width:
                    continue
                try:
                    value = parse_value(definition, row[index])
                except ValueError as exc:
                    return ERR_ROW_FIELD % {"field": definition.label, "message": exc.args[0]}
                if value is not None:
                    values[definition.key] = value
            custom = json.dumps(values, ensure_ascii=False)
        tags = self.base_tags_literal
        if self.tags_at is not None and self.tags_at < width and row[self.tags_at].strip():
            tags = self._tags(row[self.tags_at])
        self.seen[phone] = line
        return (line, phone, name[:200], email[:254], tags, custom, consent)


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
        self.writer.writerow([gettext("line"), *headers, gettext("reason")])
        self.width = len(headers)
        self.count = 0

    def add(self, line: int, row: list[str], reason) -> None:
        cells = row[: self.width] + [""] * (self.width - len(row))
        self.writer.writerow([line, *cells, str(reason)])
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


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_NULL = "\\N"


def _copy_text(value: str) -> str:
    # str.translate costs more than the four checks; almost no cell needs escaping.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


def copy_tail(contact_import: ContactImport, at: str) -> tuple[str, str, str]:
    """The constant ends of the COPY lines of an import: (consent given, no consent, the
    source/created/updated/import columns). ``at``: the import's timestamp (ISO 8601)."""
    return f"\t{at}\timport\t", "unknown\t\\N\t\t", f"import\t{at}\t{at}\t{contact_import.pk}\n"


def copy_line(row: tuple, tails: tuple[str, str, str]) -> str:
    """One row in COPY text format, columns ``CONTACT_COLUMNS`` (built by the parsing thread,
    so the writer thread only ships bytes and PostgreSQL parses them)."""
    _line, phone, name, email, tags, custom, consent = row
    consent_columns = consent + tails[0] if consent else tails[1]
    return (
        f"{phone}\t{_copy_text(name)}\t{_copy_text(email)}\t{tags}\t{_copy_text(custom)}\t{consent_columns}{tails[2]}"
    )


LIST_DIRECT_SQL = """
INSERT INTO crm_contactlistmember (contact_list_id, contact_id, added_at)
SELECT %(list_id)s, c.id, now() FROM crm_contact c WHERE c.phone = ANY(%(phones)s::text[])
ON CONFLICT DO NOTHING
"""


def _copy_direct(cursor, data: bytes, rows: list[str], contact_import: ContactImport) -> bool:
    """COPY a chunk straight into ``crm_contact`` (the import started on an empty table, so
    every row is new): PostgreSQL writes rows in batches, without the staging table, the
    INSERT ... ON CONFLICT and its speculative insertions (measured on 1M rows into the bulk
    load's indexes, one connection: 17 s instead of 20 s, plus the staging COPY saved).
    False when a phone appeared meanwhile (another writer, e.g. a webhook): the chunk then
    goes through the upsert like any other."""
    try:
        with transaction.atomic():
            with cursor.copy(f"COPY crm_contact ({CONTACT_COLUMNS}) FROM STDIN") as copy:
                copy.write(data)
            if contact_import.contact_list_id:
                phones = [row[: row.index("\t")] for row in rows]
                cursor.execute(LIST_DIRECT_SQL, {"list_id": contact_import.contact_list_id, "phones": phones})
    except psycopg.errors.UniqueViolation:
        return False
    return True


def _flush(cursor, rows: list[str], contact_import: ContactImport, direct: bool = False) -> tuple[int, int]:
    """Write one chunk (lines from ``copy_line``) in one transaction: COPY into staging and
    merge, or straight into the table when ``direct``; returns (created, updated)."""
    if not rows:
        return 0, 0
    data = "".join(rows).encode()
    with transaction.atomic():
        # A chunk's commit need not wait for its WAL flush: a crash loses at most the last
        # chunks of an import that then shows as failed, never another transaction's data.
        cursor.execute("SET LOCAL synchronous_commit = off")
        if direct and _copy_direct(cursor, data, rows, contact_import):
            return len(rows), 0
        # GIN indexes (tags, search) take new entries into their pending list; a larger list
        # means fewer, bigger merges during a large import.
        cursor.execute("SET LOCAL gin_pending_list_limit = '32MB'")
        with cursor.copy(f"COPY crm_import_stage ({CONTACT_COLUMNS}) FROM STDIN") as copy:
            copy.write(data)
        sql = UPSERT_UPDATE_SQL if contact_import.existing == ExistingPolicy.UPDATE else UPSERT_SKIP_SQL
        event = json.dumps({"import": contact_import.pk, "file": contact_import.original_name})
        cursor.execute(sql, {"data": event, "actor": contact_import.created_by_id})
        created, updated = cursor.fetchone()
        if contact_import.contact_list_id:
            cursor.execute(LIST_SQL, {"list_id": contact_import.contact_list_id})
        cursor.execute("TRUNCATE crm_import_stage")
    return created, updated


IMPORT_WRITERS = int(os.environ.get("CRM_IMPORT_WRITERS", "2"))


class _Writer:
    """Merges parsed chunks into the database.

    Outside a transaction (the Celery worker) it runs ``IMPORT_WRITERS`` threads, each with
    its own connection and staging table, so PostgreSQL merges chunks while Python parses the
    next ones: every core works. Chunks never share a phone (duplicates in the file are
    rejected while parsing), so concurrent merges cannot conflict. Inside a transaction
    (tests) it writes inline on the caller's connection, the only one that sees the caller's
    uncommitted rows.
    """

    def __init__(self, contact_import: ContactImport, progress, *, direct: bool = False):
        from django.db import connection as django_connection

        self.contact_import = contact_import
        self.progress = progress
        self.direct = direct
        self.tenant = current_company()
        self.threaded = not django_connection.in_atomic_block
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        if self.threaded:
            self.queue: queue.Queue = queue.Queue(maxsize=IMPORT_WRITERS + 1)
            self.threads = [
                threading.Thread(target=self._loop, name=f"crm-import-{contact_import.pk}-{n}", daemon=True)
                for n in range(max(1, IMPORT_WRITERS))
            ]
            for thread in self.threads:
                thread.start()
        else:
            self.inline = self._open()

    def _open(self):
        from django.db import connection as django_connection

        django_connection.set_tenant(self.tenant)
        django_connection.ensure_connection()
        wrapper = django_connection.cursor()
        cursor = wrapper.cursor  # psycopg cursor (COPY support)
        cursor.execute(STAGE_SQL)
        return wrapper, cursor

    @staticmethod
    def _close(opened):
        wrapper, cursor = opened
        cursor.execute("DROP TABLE IF EXISTS crm_import_stage")
        wrapper.close()

    def _loop(self):
        from django.db import connection as django_connection

        try:
            opened = self._open()
            while (item := self.queue.get()) is not None:
                if self.error is None:
                    self._write(opened[1], *item)
            self._close(opened)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the parsing thread
            self.error = exc
            while self.queue.get() is not None:  # drain so the producer never blocks
                pass
        finally:
            django_connection.close()

    def _write(self, cursor, batch, processed: int, failed_count: int) -> None:
        staged = len(batch)
        created, updated = _flush(cursor, batch, self.contact_import, self.direct)
        with self.lock:
            contact_import = self.contact_import
            contact_import.created_count += created
            contact_import.updated_count += updated
            contact_import.skipped_count += staged - created - updated
            contact_import.failed_count = max(contact_import.failed_count, failed_count)
            contact_import.processed_rows = max(contact_import.processed_rows, processed)
            contact_import.total_rows = max(contact_import.total_rows, processed)
            ContactImport.objects.filter(pk=contact_import.pk).update(
                created_count=contact_import.created_count,
                updated_count=contact_import.updated_count,
                skipped_count=contact_import.skipped_count,
                failed_count=contact_import.failed_count,
                processed_rows=contact_import.processed_rows,
                total_rows=contact_import.total_rows,
            )
            if self.progress:
                self.progress(contact_import)

    def submit(self, batch, processed: int, failed_count: int) -> None:
        if self.error is not None:
            raise self.error
        if self.threaded:
            self.queue.put((batch, processed, failed_count))
        else:
            self._write(self.inline[1], batch, processed, failed_count)

    def finish(self) -> None:
        if self.threaded:
            for _thread in self.threads:
                self.queue.put(None)
            for thread in self.threads:
                thread.join()
            if self.error is not None:
                raise self.error
        else:
            self._close(self.inline)


# --- Bulk loads --------------------------------------------------------------------------------
# A large import into an empty (or small) contact table skips these indexes and builds them
# once at the end. Keeping them current row by row was most of a million-row import (the
# INSERT alone, measured on 1M rows: 38.6 s with them, 22.5 s without; building the three
# afterwards: 5.2 s, about 3 s on two connections), the GIN search index above all. The unique
# phone index stays: ON CONFLICT and every concurrent writer (a webhook creating a contact
# while the import runs) rely on it; the partial indexes (wa_id, owner, interaction) get no
# entries from an import anyway.
BULK_INDEXES = ("crm_contact_search_gin", "crm_contact_name", "crm_contact_tags_gin")
# Below this many rows keeping the indexes current costs less than rebuilding them.
BULK_MIN_ROWS = 50_000
BULK_MAINTENANCE_WORK_MEM = "256MB"


def _bulk_lock_key() -> str:
    return f"crm_contact_bulk_load:{current_schema()}"


def _bulk_index_sql() -> dict[str, str]:
    """CREATE INDEX statements of ``BULK_INDEXES``, from the model (never out of step with
    the migrations)."""
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        return {
            index.name: str(index.create_sql(Contact, editor))
            for index in Contact._meta.indexes
            if index.name in BULK_INDEXES
        }


def _missing_bulk_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'crm_contact'"
        )
        present = {row[0] for row in cursor.fetchall()}
    return {name: sql for name, sql in _bulk_index_sql().items() if name not in present}


def _build_indexes(statements: list[str], tenant=None) -> None:
    """Run CREATE INDEX statements on this thread's connection (a thread of its own opens a
    connection for ``tenant``)."""
    if tenant is not None:
        connection.set_tenant(tenant)  # type: ignore[attr-defined]  # django-tenants' backend
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL maintenance_work_mem = '{BULK_MAINTENANCE_WORK_MEM}'")
        for sql in statements:
            cursor.execute(sql)


def _restore_indexes(*, parallel: bool) -> list[str]:
    """Create the bulk-load indexes that are missing; returns their names. ``parallel``: the
    biggest (the GIN search index) builds on a connection of its own while this one builds
    the others (two cores, both busy)."""
    missing = _missing_bulk_indexes()
    if not missing:
        return []
    statements = [missing[name] for name in BULK_INDEXES if name in missing]
    if parallel and len(statements) > 1:
        errors: list[BaseException] = []
        tenant = current_company()

        def build_first() -> None:
            try:
                _build_indexes(statements[:1], tenant)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)
            finally:
                connection.close()

        thread = threading.Thread(target=build_first, name="crm-import-index", daemon=True)
        thread.start()
        try:
            _build_indexes(statements[1:])
        finally:
            thread.join()
        if errors:
            raise errors[0]
    else:
        _build_indexes(statements)
    with connection.cursor() as cursor:
        # The table went from (nearly) empty to its new size: searches right after the import
        # need statistics that say so.
        cursor.execute("ANALYZE crm_contact")
    return list(missing)


def _try_bulk_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [_bulk_lock_key()])
        return bool(cursor.fetchone()[0])


def _bulk_unlock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_bulk_lock_key()])


def contact_indexes_ensure() -> list[str]:
    """Rebuild contact indexes a bulk load left out (its process died before restoring them);
    returns the names rebuilt. Does nothing while a bulk load of the company runs."""
    if not _try_bulk_lock():
        return []
    try:
        return _restore_indexes(parallel=False)
    finally:
        _bulk_unlock()


def _bulk_load_wanted(total_rows: int) -> bool:
    if total_rows < BULK_MIN_ROWS:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT 1 FROM crm_contact LIMIT %s) s", [total_rows + 1])
        existing = cursor.fetchone()[0]
    # Rebuilding costs (existing + new) rows once; keeping current costs the new rows, each
    # several times dearer: rebuild when the import at least doubles the table.
    return existing <= total_rows


def _contacts_empty() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM crm_contact)")
        return bool(cursor.fetchone()[0])


@contextmanager
def bulk_load(total_rows: int, *, parallel: bool) -> Iterator[bool]:
    """Drop ``BULK_INDEXES`` for a large import into a small table and build them again at the
    end, whatever happens in between (yields whether it did). One bulk load per company at a
    time (advisory lock, released by PostgreSQL if the process dies; ``contact_indexes_ensure``
    then rebuilds what is missing: at the next import, or from the periodic task)."""
    if not _try_bulk_lock():
        yield False  # another import of this company holds it: load through the indexes
        return
    try:
        dropped = False
        if _bulk_load_wanted(total_rows):
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    # Never queue behind a long query (and block the company's contact reads
                    # behind this lock): load through the indexes instead.
                    cursor.execute("SET LOCAL lock_timeout = '2s'")
                    cursor.execute("DROP INDEX IF EXISTS " + ", ".join(BULK_INDEXES))
                dropped = True
            except DatabaseError:
                dropped = False
        if not dropped:
            _restore_indexes(parallel=False)  # left out by a load that died
        try:
            yield dropped
        finally:
            if dropped:
                _restore_indexes(parallel=parallel)
    finally:
        _bulk_unlock()


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
        writer = _Writer(contact_import, progress, direct=_contacts_empty())
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
    contact_import.save(update_fields=["status", "finished_at", "failed_file", "total_rows"])
    if progress:
        progress(contact_import)
    return contact_import


def store_upload(upload, *, prefix: str) -> tuple[str, str]:
    """Save an uploaded file under the company's folder; returns (storage name, local path)."""
    name = default_storage.save(f"crm/imports/{prefix}/{upload.name}", upload)
    try:
        return name, default_storage.path(name)
    except NotImplementedError:
        return name, ""
