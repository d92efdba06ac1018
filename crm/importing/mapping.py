"""Which column feeds which contact field: guessed from the headers, remembered from the last
file with the same columns, validated, and applied to every row (``RowParser``, the hot loop
of an import)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.params import int_param
from crm.fields import parse_value
from crm.importing.inspect import ImportFileError
from crm.models import ConsentStatus, ContactImport, CustomFieldDefinition, ImportStatus
from crm.phones import InvalidPhoneError, normalize_phone
from crm.tags import tags_ensure
from crm.text import fold_full

ERR_MAPPING_PHONE = _("Choose the column that holds the phone number.")
ERR_MAPPING_TWICE = _("Each field can receive only one column (%(field)s is chosen twice).")
ERR_MAPPING_UNKNOWN = _("Unknown field chosen for column %(column)s.")
ERR_ROW_DUPLICATE = _("Duplicate in file: same phone as line %(line)s.")
ERR_ROW_EMAIL = _("Invalid email: %(value)s.")
ERR_ROW_FIELD = _("%(field)s: %(message)s")
ERR_ROW_CONSENT = _("Consent not understood: %(value)s (use sim/não, yes/no).")

ERR_ROW_CELL_TOO_LONG = _("A cell is longer than %(limit)s characters.")

# Linear: the domain's labels hold no dot, so a run of dots cannot be split many ways (the old
# pattern backtracked quadratically: one 128 KiB cell cost about 75 s). Checked after length.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
MAX_EMAIL = 254
# No contact field needs more; a longer cell is a mistake or an attack, refused with its row.
MAX_CELL = 10_000


def _quoted(value: str, limit: int = 80) -> str:
    """A bad value as the failure reason shows it: the start of it."""
    return value if len(value) <= limit else value[:limit] + "…"


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
    return {k: v for k, v in previous.items() if (i := int_param(k)) is not None and i < len(headers)}


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
        index = int_param(column)
        if index is None or index >= len(headers):
            raise ImportFileError(ERR_MAPPING_UNKNOWN % {"column": column})
        if target not in BASE_TARGETS and not (target.startswith("cf:") and target[3:] in keys):
            raise ImportFileError(ERR_MAPPING_UNKNOWN % {"column": headers[index]})
        if target in seen:
            raise ImportFileError(ERR_MAPPING_TWICE % {"field": labels.get(target, target[3:])})
        seen.add(target)
        clean[column] = target
    if "phone" not in seen:
        raise ImportFileError(ERR_MAPPING_PHONE)
    return clean


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
        if any(len(cell) > MAX_CELL for cell in row):
            return ERR_ROW_CELL_TOO_LONG % {"limit": MAX_CELL}
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
            if email and (len(email) > MAX_EMAIL or not EMAIL_RE.match(email)):
                return ERR_ROW_EMAIL % {"value": _quoted(email)}
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
