"""Checks at the edge (pages, API, bulk upsert) before a service runs: one place, so a contact
typed in a form and one sent to the API are judged the same way."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from core.params import int_param
from crm.fields import CustomFieldError, custom_fields_clean
from crm.models import BulkAction, ConsentStatus, Contact, ContactList, CustomFieldDefinition, Tag
from crm.phones import InvalidPhoneError, normalize_phone
from crm.tags import tags_ensure
from tenants.context import company_country, current_company
from tenants.selectors import company_users

ERR_PHONE_TAKEN = _("Another contact already has this phone number.")
ERR_EMAIL = _("Enter a valid email address.")
ERR_OWNER = _("The owner must be a member of this company.")
ERR_NAME_LONG = _("Use at most 200 characters.")
ERR_TAG_UNKNOWN = _("Unknown tag.")
ERR_TAG_NAME = _("Tag names have 1 to 64 characters.")
ERR_CONSENT = _("Choose opted in, opted out or unknown.")
# Names are unique (the database says so when saving): one message for the page and the API.
ERR_LIST_NAME_TAKEN = _("A list with this name already exists.")
ERR_SEGMENT_NAME_TAKEN = _("A segment with this name already exists.")
ERR_TAG_NAME_TAKEN = _("A tag with this name already exists.")


class ContactDataError(ValueError):
    def __init__(self, errors: dict[str, Any]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def member_ids() -> set[int]:
    return set(company_users(company=current_company()).values_list("pk", flat=True))


def tag_names_resolve(names: list[str], *, create: bool) -> list[int]:
    """Tag ids for ``names`` (case-insensitive); unknown names are created when ``create``."""
    cleaned = []
    for name in names:
        name = str(name).strip()
        if not name or len(name) > 64:
            raise ContactDataError({"tags": ERR_TAG_NAME})
        cleaned.append(name)
    if create:
        return tags_ensure(names=cleaned)
    found = {t.name.lower(): t.id for t in Tag.objects.filter(name__in=cleaned)}
    lowered = {t.name.lower(): t.id for t in Tag.objects.all()} if len(found) < len(cleaned) else found
    try:
        return [lowered[n.lower()] for n in cleaned]
    except KeyError:
        raise ContactDataError({"tags": ERR_TAG_UNKNOWN}) from None


def contact_data_clean(
    data: dict[str, Any],
    *,
    instance: Contact | None = None,
    partial: bool = False,
    definitions: list[CustomFieldDefinition] | None = None,
    members: set[int] | None = None,
) -> dict[str, Any]:
    """Validated contact fields from ``data`` (keys: name, phone, email, tag_ids, custom_fields,
    owner_id, consent_status). Raises ``ContactDataError`` with every problem found."""
    errors: dict[str, Any] = {}
    clean: dict[str, Any] = {}
    if "name" in data or not partial:
        name = str(data.get("name") or "").strip()
        if len(name) > 200:
            errors["name"] = ERR_NAME_LONG
        clean["name"] = name
    if "phone" in data or not partial:
        try:
            phone = normalize_phone(str(data.get("phone") or ""), company_country())
        except InvalidPhoneError as exc:
            errors["phone"] = exc.message
        else:
            taken = Contact.objects.filter(phone=phone)
            if instance is not None:
                taken = taken.exclude(pk=instance.pk)
            if taken.exists():
                errors["phone"] = ERR_PHONE_TAKEN
            clean["phone"] = phone
    if "email" in data or not partial:
        email = str(data.get("email") or "").strip().lower()
        if email:
            try:
                validate_email(email)
            except ValidationError:
                errors["email"] = ERR_EMAIL
        clean["email"] = email
    if "tag_ids" in data:
        ids = data.get("tag_ids") or []
        try:
            ids = sorted({int(i) for i in ids})
        except (TypeError, ValueError):
            errors["tag_ids"] = ERR_TAG_UNKNOWN
        else:
            if len(ids) != Tag.objects.filter(id__in=ids).count():
                errors["tag_ids"] = ERR_TAG_UNKNOWN
            clean["tag_ids"] = ids
    if "owner_id" in data:
        owner_id = data.get("owner_id")
        if owner_id in (None, ""):
            clean["owner_id"] = None
        else:
            try:
                owner_id = int(owner_id)
            except (TypeError, ValueError):
                owner_id = -1
            if owner_id not in (members if members is not None else member_ids()):
                errors["owner_id"] = ERR_OWNER
            clean["owner_id"] = owner_id
    if "consent_status" in data:
        if data["consent_status"] not in ConsentStatus.values:
            errors["consent_status"] = ERR_CONSENT
        clean["consent_status"] = data["consent_status"]
    if "custom_fields" in data or not partial:
        try:
            clean["custom_fields"] = custom_fields_clean(
                data.get("custom_fields") or {},
                definitions=definitions,
                current=instance.custom_fields if instance is not None else None,
                partial=partial,
            )
        except CustomFieldError as exc:
            errors["custom_fields"] = exc.errors
    if errors:
        raise ContactDataError(errors)
    return clean


ERR_BULK_PARAMS = _("Choose what to apply.")


def bulk_params_clean(*, action: str, tag: str = "", list_id: str = "", owner: str = "") -> dict[str, Any]:
    """The parameters of a bulk action (``crm.services.contacts_bulk_action``) from the contact
    list's form: the tag as an id or a name (tagging with an unknown name creates the tag), the
    list id, the owner's user id (``"none"`` clears the owner). Raises ``ContactDataError``
    when a value does not name something of this company."""
    params: dict[str, Any] = {}
    tag, list_id, owner = (tag or "").strip(), (list_id or "").strip(), (owner or "").strip()
    if action in (BulkAction.TAG, BulkAction.UNTAG):
        tag_id = int_param(tag)
        if tag_id is not None and Tag.objects.filter(pk=tag_id).exists():
            params["tag_id"] = tag_id
        elif tag and action == BulkAction.TAG:
            params["tag_id"] = tags_ensure(names=[tag])[0]
        else:
            found = Tag.objects.filter(name__iexact=tag).values_list("pk", flat=True).first() if tag else None
            if found is None:
                raise ContactDataError({"tag": ERR_BULK_PARAMS})
            params["tag_id"] = found
    elif action == BulkAction.ADD_TO_LIST:
        wanted = int_param(list_id)
        found = (
            ContactList.objects.filter(pk=wanted).values_list("pk", flat=True).first() if wanted is not None else None
        )
        if found is None:
            raise ContactDataError({"list": ERR_BULK_PARAMS})
        params["list_id"] = found
    elif action == BulkAction.ASSIGN_OWNER:
        if owner == "none":
            params["owner_id"] = None
        elif int_param(owner) is not None and int_param(owner) in member_ids():
            params["owner_id"] = int_param(owner)
        else:
            raise ContactDataError({"owner": ERR_BULK_PARAMS})
    return params


ERR_DUPLICATE_IN_REQUEST = _("The same phone appears earlier in this request (item %(index)s).")


def bulk_items_clean(items: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """(clean data, None) or (None, errors) per item, with a constant number of queries:
    definitions, members and tags are loaded once; phones are checked against each other."""
    definitions = list(CustomFieldDefinition.objects.all())
    members = member_ids()
    country = company_country()
    names = {
        str(n).strip() for item in items if isinstance(item, dict) for n in (item.get("tags") or []) if str(n).strip()
    }
    too_long = {n for n in names if len(n) > 64}
    tag_ids = (
        dict(zip(sorted(names - too_long), tags_ensure(names=sorted(names - too_long)), strict=False)) if names else {}
    )
    lowered = {k.lower(): v for k, v in tag_ids.items()}
    seen: dict[str, int] = {}
    results: list[tuple[dict | None, dict | None]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            results.append((None, {"non_field_errors": str(_("Each item must be an object."))}))
            continue
        errors: dict[str, Any] = {}
        clean: dict[str, Any] = {}
        try:
            clean["phone"] = normalize_phone(str(item.get("phone") or ""), country)
        except InvalidPhoneError as exc:
            errors["phone"] = str(exc.message)
        else:
            if clean["phone"] in seen:
                errors["phone"] = str(ERR_DUPLICATE_IN_REQUEST % {"index": seen[clean["phone"]]})
            else:
                seen[clean["phone"]] = index
        if "name" in item:
            name = str(item.get("name") or "").strip()
            if len(name) > 200:
                errors["name"] = str(ERR_NAME_LONG)
            clean["name"] = name
        if "email" in item:
            email = str(item.get("email") or "").strip().lower()
            if email:
                try:
                    validate_email(email)
                except ValidationError:
                    errors["email"] = str(ERR_EMAIL)
            clean["email"] = email
        if "tags" in item:
            tag_names = [str(n).strip() for n in (item.get("tags") or []) if str(n).strip()]
            if any(n in too_long for n in tag_names):
                errors["tags"] = str(ERR_TAG_NAME)
            else:
                clean["add_tag_ids"] = sorted({lowered[n.lower()] for n in tag_names})
        if "owner_id" in item:
            owner_id = item.get("owner_id")
            if owner_id is not None and owner_id not in members:
                errors["owner_id"] = str(ERR_OWNER)
            clean["owner_id"] = owner_id
        if item.get("consent_status") is not None:
            if item["consent_status"] not in ConsentStatus.values:
                errors["consent_status"] = str(ERR_CONSENT)
            clean["consent_status"] = item["consent_status"]
        if item.get("custom_fields"):
            try:
                clean["custom_fields"] = custom_fields_clean(
                    item["custom_fields"], definitions=definitions, partial=True
                )
            except CustomFieldError as exc:
                errors["custom_fields"] = {k: str(v) for k, v in exc.errors.items()}
        results.append((None, errors) if errors else (clean, None))
    return results
