"""Custom field values: parsed from what people type (pt-BR or ISO) and validated against the
company's definitions. Values are stored in ``Contact.custom_fields`` as JSON: text and choice
as strings, number as a JSON number, date as ``YYYY-MM-DD``, boolean as true/false."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext_lazy as _

from crm.models import CustomFieldDefinition, FieldType

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

ERR_FIELD_UNKNOWN = _("There is no custom field named “%(key)s”.")
ERR_FIELD_REQUIRED = _("This field is required.")
ERR_FIELD_NUMBER = _("Enter a number, like 1234,56.")
ERR_FIELD_DATE = _("Enter a date like 31/01/2026.")
ERR_FIELD_CHOICE = _("Choose one of: %(choices)s.")
ERR_FIELD_BOOLEAN = _("Answer yes or no.")
ERR_FIELD_TOO_LONG = _("Use at most 1000 characters.")
ERR_FIELD_KEY = _("Use lower case letters, digits and underscores, starting with a letter.")
ERR_FIELD_KEY_TAKEN = _("Another custom field already uses this key.")
ERR_FIELD_CHOICES_MISSING = _("List at least one choice.")

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
TRUE_WORDS = {"true", "1", "sim", "s", "yes", "y", "x", "verdadeiro", "on"}
FALSE_WORDS = {"false", "0", "nao", "não", "n", "no", "falso", "off"}
_DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d.%m.%Y")


class CustomFieldError(ValueError):
    """``errors`` maps field keys to messages."""

    def __init__(self, errors: dict[str, Any]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _number(raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise ValueError
    if isinstance(raw, int | float):
        value = Decimal(str(raw))
    else:
        text = str(raw).strip().replace(" ", "").replace("R$", "")
        if "," in text:
            # pt-BR: "1.234,56" -> 1234.56
            text = text.replace(".", "").replace(",", ".")
        value = Decimal(text)
    if not value.is_finite():
        raise ValueError
    return int(value) if value == value.to_integral_value() else float(value)


def _date(raw: Any) -> str:
    if isinstance(raw, dt.datetime):
        return raw.date().isoformat()
    if isinstance(raw, dt.date):
        return raw.isoformat()
    text = str(raw).strip()
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError


def parse_value(definition: CustomFieldDefinition, raw: Any) -> Any:
    """The stored form of ``raw`` for this field; ``None`` for empty; raises ``ValueError``
    whose first argument is the message to show."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    kind = definition.field_type
    try:
        if kind == FieldType.NUMBER:
            return _number(raw)
        if kind == FieldType.DATE:
            return _date(raw)
        if kind == FieldType.BOOLEAN:
            if isinstance(raw, bool):
                return raw
            word = str(raw).strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ValueError
    except (ValueError, InvalidOperation, TypeError):
        messages: dict[str, StrPromise] = {FieldType.NUMBER: ERR_FIELD_NUMBER, FieldType.DATE: ERR_FIELD_DATE}
        message = messages.get(kind, ERR_FIELD_BOOLEAN)
        raise ValueError(message) from None
    text = str(raw).strip()
    if kind == FieldType.CHOICE:
        for choice in definition.choices:
            if choice.lower() == text.lower():
                return choice
        raise ValueError(ERR_FIELD_CHOICE % {"choices": ", ".join(definition.choices)})
    if len(text) > 1000:
        raise ValueError(ERR_FIELD_TOO_LONG)
    return text


def custom_fields_clean(
    values: dict[str, Any] | None,
    *,
    definitions: list[CustomFieldDefinition] | None = None,
    current: dict[str, Any] | None = None,
    partial: bool = False,
) -> dict[str, Any]:
    """The new ``custom_fields`` of a contact: ``current`` updated with ``values``.

    Empty values remove the key. Unknown keys, bad values and (unless ``partial``) missing
    required fields raise ``CustomFieldError`` with every problem at once.
    """
    if values is not None and not isinstance(values, dict):
        raise CustomFieldError({"custom_fields": _("Send an object of field values.")})
    if definitions is None:
        definitions = list(CustomFieldDefinition.objects.all())
    by_key = {d.key: d for d in definitions}
    result = dict(current or {})
    errors: dict[str, Any] = {}
    for key, raw in (values or {}).items():
        definition = by_key.get(key)
        if definition is None:
            errors[key] = ERR_FIELD_UNKNOWN % {"key": key}
            continue
        try:
            value = parse_value(definition, raw)
        except ValueError as exc:
            errors[key] = exc.args[0]
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    if not partial:
        for definition in definitions:
            if definition.required and definition.key not in result and definition.key not in errors:
                errors[definition.key] = ERR_FIELD_REQUIRED
    if errors:
        raise CustomFieldError(errors)
    return result


def display_value(definition: CustomFieldDefinition, value: Any) -> str:
    """How a stored value reads in pt-BR/English pages."""
    from django.utils import formats

    if value is None:
        return ""
    if definition.field_type == FieldType.BOOLEAN:
        return str(_("Yes") if value else _("No"))
    if definition.field_type == FieldType.DATE:
        try:
            return formats.date_format(dt.date.fromisoformat(value), "SHORT_DATE_FORMAT")
        except (TypeError, ValueError):
            return str(value)
    if definition.field_type == FieldType.NUMBER:
        return formats.number_format(value, use_l10n=True, force_grouping=True)
    return str(value)
