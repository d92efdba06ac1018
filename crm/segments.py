"""Contact filters: the one definition shared by the contact list, segments and audiences.

A filter is a JSON object; ``filters_clean`` validates it (clear messages, nothing saved on
error) and ``filters_q`` compiles it to a single ``Q`` over ``crm_contact``, so a segment of
any shape is ONE SQL query (tags through the GIN-indexed array, custom fields through JSONB
operators, lists through a semi-join).

    {
      "q": "maria",                          # search: name words, email, phone in any format
      "tags_any": [1, 2], "tags_all": [3], "tags_none": [4],
      "consent": ["opted_in", "unknown"],
      "source": ["import"],
      "owner": [7, "none"],
      "list": 5,                              # member of a static list
      "created_from": "2026-01-01", "created_to": "2026-01-31",
      "interaction_from": "...", "interaction_to": "...",
      "fields": [{"key": "plan", "op": "eq", "value": "gold"}]
    }
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import ConsentStatus, ContactListMember, CustomFieldDefinition, FieldType
from crm.phones import search_digit_prefixes
from crm.text import fold
from tenants.context import company_country

ERR_FILTER_SHAPE = _("The filter is not valid.")
ERR_FILTER_UNKNOWN_FIELD = _("Unknown custom field: %(key)s.")
ERR_FILTER_OPERATOR = _("This condition cannot be used with the field %(key)s.")
ERR_FILTER_VALUE = _("The value of the condition on %(key)s is not valid.")
ERR_FILTER_DATE = _("Use dates like 2026-01-31.")
ERR_FILTER_IDS = _("Tags, lists and owners must be chosen from the lists offered.")

ARRAY_KEYS = ("tags_any", "tags_all", "tags_none")
DATE_KEYS = ("created_from", "created_to", "interaction_from", "interaction_to")
OPERATORS: dict[str, tuple[str, ...]] = {
    FieldType.TEXT: ("eq", "neq", "contains", "is_set", "is_not_set"),
    FieldType.NUMBER: ("eq", "neq", "gt", "gte", "lt", "lte", "is_set", "is_not_set"),
    FieldType.DATE: ("eq", "gt", "gte", "lt", "lte", "is_set", "is_not_set"),
    FieldType.CHOICE: ("eq", "neq", "in", "is_set", "is_not_set"),
    FieldType.BOOLEAN: ("eq", "is_set", "is_not_set"),
}


class FilterError(ValueError):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def _ids(value: Any) -> list[int]:
    if value in (None, "", []):
        return []
    if not isinstance(value, list | tuple):
        value = [value]
    try:
        ids = sorted({int(v) for v in value})
    except (TypeError, ValueError, OverflowError):
        raise FilterError(ERR_FILTER_IDS) from None
    if ids and not (0 <= ids[0] and ids[-1] < 2**63):  # ids are bigints: nothing else can match
        raise FilterError(ERR_FILTER_IDS)
    return ids


def _date(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        raise FilterError(ERR_FILTER_DATE) from None


def _field_value(definition: CustomFieldDefinition, op: str, value: Any) -> Any:
    key = definition.key
    if op in ("is_set", "is_not_set"):
        return None
    kind = definition.field_type
    try:
        if kind == FieldType.NUMBER:
            number = Decimal(str(value).replace(",", ".")) if not isinstance(value, int | float) else value
            return int(number) if number == int(number) else float(number)
        if kind == FieldType.DATE:
            return dt.date.fromisoformat(str(value)).isoformat()
        if kind == FieldType.BOOLEAN:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "sim", "yes"):
                return True
            if text in ("false", "0", "não", "nao", "no"):
                return False
            raise ValueError
        if kind == FieldType.CHOICE:
            values = value if op == "in" else [value]
            if not isinstance(values, list) or not values or any(v not in definition.choices for v in values):
                raise ValueError
            return values if op == "in" else values[0]
        text = str(value).strip()
        if not text:
            raise ValueError
        return text
    except (ValueError, TypeError, InvalidOperation, OverflowError):
        raise FilterError(ERR_FILTER_VALUE % {"key": key}) from None


def filters_clean(filters: Any) -> dict:
    """A validated, normalized copy of ``filters``; raises ``FilterError``."""
    if filters in (None, ""):
        return {}
    if not isinstance(filters, dict):
        raise FilterError(ERR_FILTER_SHAPE)
    clean: dict[str, Any] = {}
    q = str(filters.get("q") or "").strip()
    if q:
        clean["q"] = q[:100]
    for key in ARRAY_KEYS:
        ids = _ids(filters.get(key))
        if ids:
            clean[key] = ids
    consent = filters.get("consent") or []
    consent = [consent] if isinstance(consent, str) else consent
    if not isinstance(consent, list) or any(c not in ConsentStatus.values for c in consent):
        raise FilterError(ERR_FILTER_SHAPE)
    if consent:
        clean["consent"] = sorted(set(consent))
    source = filters.get("source") or []
    source = [source] if isinstance(source, str) else source
    if not isinstance(source, list) or any(not isinstance(s, str) for s in source):
        raise FilterError(ERR_FILTER_SHAPE)
    if source:
        clean["source"] = sorted({s[:32] for s in source})
    owners = filters.get("owner") or []
    owners = owners if isinstance(owners, list) else [owners]
    owner_none = any(o in ("none", None) for o in owners)
    owner_ids = _ids([o for o in owners if o not in ("none", None, "")])
    if owner_ids or owner_none:
        clean["owner"] = owner_ids + (["none"] if owner_none else [])
    if filters.get("list") not in (None, ""):
        clean["list"] = _ids(filters["list"])[0]
    for key in DATE_KEYS:
        value = _date(filters.get(key))
        if value:
            clean[key] = value
    conditions = filters.get("fields") or []
    if not isinstance(conditions, list):
        raise FilterError(ERR_FILTER_SHAPE)
    if conditions:
        definitions = {d.key: d for d in CustomFieldDefinition.objects.all()}
        clean_conditions = []
        for condition in conditions:
            if not isinstance(condition, dict):
                raise FilterError(ERR_FILTER_SHAPE)
            key = str(condition.get("key") or "")
            definition = definitions.get(key)
            if definition is None:
                raise FilterError(ERR_FILTER_UNKNOWN_FIELD % {"key": key})
            op = str(condition.get("op") or "eq")
            if op not in OPERATORS[definition.field_type]:
                raise FilterError(ERR_FILTER_OPERATOR % {"key": definition.label})
            item = {"key": key, "op": op, "type": definition.field_type}
            value = _field_value(definition, op, condition.get("value"))
            if value is not None:
                item["value"] = value
            clean_conditions.append(item)
        clean["fields"] = clean_conditions
    return clean


def search_q(q: str) -> Q:
    """Search in name words (prefix), email and phone typed in any format."""
    q = q.strip()
    if not q:
        return Q()
    digits = sum(ch.isdigit() for ch in q)
    letters = sum(ch.isalpha() for ch in q)
    if digits >= 3 and not letters:
        country = company_country()
        prefixes = search_digit_prefixes(q, country)
        if not prefixes:
            return Q(pk__in=[])  # no phone can start like this
        result = Q()
        for prefix in prefixes:
            result |= Q(phone__startswith="+" + prefix)
        return result
    if "@" in q:
        # An email, whole or begun: its local part starts the email's lexeme (GIN prefix),
        # and the address itself is checked on those few rows.
        local = fold(q.split("@", 1)[0]).strip()
        email_q = Q(email__startswith=q.lower())
        if local and all(ch.isalnum() or ch in "._-+" for ch in local):
            return Q(search_vector__prefix_matches=f"{local.strip('._-+')}:*") & email_q
        return email_q
    # Words as the ``simple`` parser sees them; "." and "-" stay inside words.
    words = [w for w in "".join(ch if ch.isalnum() or ch in "._-" else " " for ch in fold(q)).split()][:6]
    words = [w.strip("._-") for w in words if w.strip("._-")]
    if not words:
        return Q()
    # Every word must start a word of the name or the email ("mar sil" finds "Maria Silva").
    return Q(search_vector__prefix_matches=" & ".join(f"{w}:*" for w in words))


def _datetime_bound(day: str, end: bool) -> dt.datetime:
    date = dt.date.fromisoformat(day)
    if end:
        date += dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(date, dt.time.min))


def _field_q(condition: dict) -> Q:
    key, op, value = condition["key"], condition["op"], condition.get("value")
    if op == "is_set":
        return Q(custom_fields__has_key=key)
    if op == "is_not_set":
        return ~Q(custom_fields__has_key=key)
    if op == "eq":
        return Q(custom_fields__contains={key: value})
    if op == "neq":
        return ~Q(custom_fields__contains={key: value})
    if op == "in":
        assert value is not None  # filters_clean keeps "in" only with a non-empty list of choices
        result = Q()
        for item in value:
            result |= Q(custom_fields__contains={key: item})
        return result
    if op == "contains":
        return Q(**{f"custom_fields__{key}__icontains": value})
    return Q(**{f"custom_fields__{key}__{op}": value})


def filters_q(clean: dict) -> Q:
    """Compile validated filters (``filters_clean``) to one ``Q`` on ``Contact``."""
    q = Q()
    if clean.get("q"):
        q &= search_q(clean["q"])
    if clean.get("tags_any"):
        q &= Q(tag_ids__overlap=clean["tags_any"])
    if clean.get("tags_all"):
        q &= Q(tag_ids__contains=clean["tags_all"])
    if clean.get("tags_none"):
        q &= ~Q(tag_ids__overlap=clean["tags_none"])
    if clean.get("consent"):
        q &= Q(consent_status__in=clean["consent"])
    if clean.get("source"):
        q &= Q(source__in=clean["source"])
    if clean.get("owner"):
        owner_ids = [o for o in clean["owner"] if o != "none"]
        owner_q = Q(owner_id__in=owner_ids) if owner_ids else Q(pk__in=[])
        if "none" in clean["owner"]:
            owner_q |= Q(owner__isnull=True)
        q &= owner_q
    if clean.get("list"):
        q &= Q(Exists(ContactListMember.objects.filter(contact_list_id=clean["list"], contact_id=OuterRef("pk"))))
    if clean.get("created_from"):
        q &= Q(created_at__gte=_datetime_bound(clean["created_from"], end=False))
    if clean.get("created_to"):
        q &= Q(created_at__lt=_datetime_bound(clean["created_to"], end=True))
    if clean.get("interaction_from"):
        q &= Q(last_interaction_at__gte=_datetime_bound(clean["interaction_from"], end=False))
    if clean.get("interaction_to"):
        q &= Q(last_interaction_at__lt=_datetime_bound(clean["interaction_to"], end=True))
    for condition in clean.get("fields", []):
        q &= _field_q(condition)
    return q
