"""Writes of the CRM (tenant schema). Callers validate and authorize first; these trust input."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Func, Max, Q, Value
from django.db.models.expressions import RawSQL
from django.utils import timezone

from core.realtime import send_event_on_commit
from core.tasks import enqueue_on_commit
from crm.bulk_actions import CONTACTS_MAINTENANCE as CONTACTS_MAINTENANCE  # re-exported
from crm.bulk_actions import UNDO_WINDOW as UNDO_WINDOW  # re-exported, like the three below
from crm.bulk_actions import bulk_operations_purge as bulk_operations_purge
from crm.bulk_actions import contacts_bulk_action
from crm.bulk_actions import contacts_bulk_undo as contacts_bulk_undo
from crm.importing import (
    ERR_FILE_TOO_BIG,
    MAX_UPLOAD_MB,
    ImportFileError,
    Inspection,
    guess_mapping,
    headers_signature,
    inspect_file,
    remembered_mapping,
    upload_local_path,
)
from crm.models import (
    BulkAction,
    BulkOperation,
    ConsentStatus,
    Contact,
    ContactImport,
    ContactList,
    ContactListMember,
    ContactSource,
    CrmSettings,
    CustomFieldDefinition,
    ImportStatus,
    Note,
    Segment,
    Tag,
    TimelineEvent,
)
from crm.phones import ERR_PHONE_EMPTY, InvalidPhoneError, normalize_phone, wa_id_candidates
from crm.tags import tags_ensure as tags_ensure  # re-exported: services.tags_ensure
from crm.timeline import actor_id
from crm.timeline import timeline_record as timeline_record  # re-exported: services.timeline_record
from tenants import limits
from tenants.context import company_country, current_company, current_schema, require_tenant_schema


def _contact_event(op: str, contact: Contact) -> None:
    send_event_on_commit({"type": "crm.contact", "op": op, "id": contact.pk})


@transaction.atomic
def contact_upsert_from_channel(*, phone: str, wa_id: str | None, name: str | None, source: str) -> Contact:
    """The contact behind an inbound/outbound channel message, created when unknown.

    Looks up by ``wa_id`` or any E.164 form the number may stand for (a Brazilian WhatsApp
    id without the ninth digit matches the contact saved with it). Fills a missing name and
    WhatsApp id, and stamps ``last_interaction_at``. Raises ``InvalidPhoneError`` when neither
    ``phone`` nor ``wa_id`` is a phone number.
    """
    require_tenant_schema()
    candidates = wa_id_candidates(wa_id) if wa_id else []
    try:
        normalized = normalize_phone(phone, company_country()) if phone else None
    except InvalidPhoneError:
        if not candidates:
            raise
        normalized = None
    if normalized is None:
        if not candidates:
            raise InvalidPhoneError(ERR_PHONE_EMPTY, "")
        normalized = candidates[0]
    forms = [normalized] + [c for c in candidates if c != normalized]
    now = timezone.now()
    lookup = Q(phone__in=forms)
    if wa_id:
        lookup |= Q(wa_id=wa_id)
    found = list(Contact.objects.filter(lookup).select_for_update().order_by("pk"))
    contact = None
    if found:
        by_wa = [c for c in found if wa_id and c.wa_id == wa_id]
        by_phone = sorted((c for c in found if c.phone in forms), key=lambda c: forms.index(c.phone))
        contact = (by_wa or by_phone or found)[0]
    if contact is None:
        try:
            with transaction.atomic():
                contact = Contact.objects.create(
                    phone=normalized,
                    wa_id=wa_id or None,
                    name=(name or "").strip()[:200],
                    source=source,
                    last_interaction_at=now,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            # Another message of the same person created it a moment ago.
            contact = Contact.objects.select_for_update().get(phone=normalized)
        else:
            timeline_record(contact=contact, kind="contact.created", data={"source": source}, at=now)
            _contact_event("created", contact)
            return contact
    fields = ["last_interaction_at", "updated_at"]
    contact.last_interaction_at = now
    contact.updated_at = now
    if wa_id and not contact.wa_id:
        contact.wa_id = wa_id
        fields.append("wa_id")
    if name and not contact.name:
        contact.name = name.strip()[:200]
        fields.append("name")
    contact.save(update_fields=fields)
    return contact


def _consent_set(*, contact: Contact, status: str, source: str, by) -> Contact:
    if contact.consent_status == status:
        return contact
    now = timezone.now()
    previous = contact.consent_status
    contact.consent_status = status
    contact.consent_changed_at = now
    contact.consent_source = (source or "")[:64]
    contact.updated_at = now
    contact.save(update_fields=["consent_status", "consent_changed_at", "consent_source", "updated_at"])
    kind = "contact.opted_out" if status == ConsentStatus.OPTED_OUT else "contact.opted_in"
    timeline_record(contact=contact, kind=kind, data={"source": source, "previous": previous}, actor=by, at=now)
    _contact_event("updated", contact)
    return contact


@transaction.atomic
def contact_opt_out(*, contact: Contact, source: str, by=None) -> Contact:
    """Record that the contact refuses marketing (``source``: "keyword", "manual", "import"...)."""
    require_tenant_schema()
    return _consent_set(contact=contact, status=ConsentStatus.OPTED_OUT, source=source, by=by)


@transaction.atomic
def contact_opt_in(*, contact: Contact, source: str, by=None) -> Contact:
    """Record the contact's consent to marketing messages."""
    require_tenant_schema()
    return _consent_set(contact=contact, status=ConsentStatus.OPTED_IN, source=source, by=by)


# --- Contacts -------------------------------------------------------------------------------


@transaction.atomic
def tag_create(*, name: str, color: str = "slate") -> Tag:
    return Tag.objects.create(name=name.strip()[:64], color=color)


@transaction.atomic
def tag_update(*, tag: Tag, name: str, color: str | None = None) -> Tag:
    tag.name = name.strip()[:64]
    fields = ["name"]
    if color:
        tag.color = color
        fields.append("color")
    tag.save(update_fields=fields)
    return tag


@transaction.atomic
def tag_delete(*, tag: Tag) -> None:
    """Remove the tag from every contact (GIN-indexed ``@>``), then delete it."""
    Contact.objects.filter(tag_ids__contains=[tag.pk]).update(
        tag_ids=Func(F("tag_ids"), Value(tag.pk), function="array_remove")
    )
    tag.delete()


@transaction.atomic
def contact_create(*, data: dict, by=None, source: str = ContactSource.MANUAL) -> Contact:
    """Create a contact from ``validation.contact_data_clean`` output, within the plan's
    contacts limit (``tenants.limits.LimitReached`` otherwise)."""
    require_tenant_schema()
    limits.limit_check(current_company(), limits.CONTACTS)
    now = timezone.now()
    contact = Contact(source=source, created_at=now, updated_at=now)
    for key, value in data.items():
        setattr(contact, key, value)
    if data.get("consent_status") and data["consent_status"] != ConsentStatus.UNKNOWN:
        contact.consent_changed_at = now
        contact.consent_source = source
    contact.save()
    timeline_record(contact=contact, kind="contact.created", data={"source": source}, actor=by, at=now)
    _contact_event("created", contact)
    return contact


def _json_safe(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


@transaction.atomic
def contact_update(*, contact: Contact, data: dict, by=None) -> Contact:
    """Apply cleaned ``data``; records what changed on the timeline (nothing if nothing did)."""
    require_tenant_schema()
    consent = data.pop("consent_status", None)
    changed = {}
    for key, value in data.items():
        old = getattr(contact, key)
        if old != value:
            changed[key] = {"from": _json_safe(old), "to": _json_safe(value)}
            setattr(contact, key, value)
    now = timezone.now()
    if changed:
        contact.updated_at = now
        contact.save(update_fields=[*changed.keys(), "updated_at"])
        if "tag_ids" in changed:
            before, after = set(changed["tag_ids"]["from"] or []), set(changed["tag_ids"]["to"] or [])
            names = {t.id: t.name for t in Tag.objects.filter(id__in=before | after)}
            if after - before:
                timeline_record(
                    contact=contact,
                    kind="contact.tagged",
                    data={"tags": [names.get(i) for i in after - before]},
                    actor=by,
                )
            if before - after:
                timeline_record(
                    contact=contact,
                    kind="contact.untagged",
                    data={"tags": [names.get(i) for i in before - after]},
                    actor=by,
                )
            changed.pop("tag_ids")
        if changed:
            timeline_record(contact=contact, kind="contact.edited", data={"fields": sorted(changed)}, actor=by, at=now)
        _contact_event("updated", contact)
    if consent and consent != contact.consent_status:
        _consent_set(contact=contact, status=consent, source="manual", by=by)
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact, by=None) -> BulkOperation:
    """Delete one contact (undoable like a bulk delete)."""
    return contacts_bulk_action(
        queryset=Contact.objects.filter(pk=contact.pk), action=BulkAction.DELETE, params={}, by=by
    )


# --- Notes ----------------------------------------------------------------------------------


@transaction.atomic
def note_create(*, contact: Contact, body: str, by=None) -> Note:
    note = Note.objects.create(contact=contact, body=body.strip(), author_id=actor_id(by))
    timeline_record(contact=contact, kind="note.added", data={"note_id": note.pk, "excerpt": note.body[:140]}, actor=by)
    return note


@transaction.atomic
def note_delete(*, note: Note, by=None) -> None:
    note.delete()


# --- Merge ----------------------------------------------------------------------------------


def _richer(a, b):
    """The value with more information (non-empty, longer text)."""
    if a in (None, "", [], {}):
        return b
    if b in (None, "", [], {}):
        return a
    if isinstance(a, str) and isinstance(b, str) and len(b.strip()) > len(a.strip()):
        return b
    return a


@transaction.atomic
def contact_merge(*, primary: Contact, others: list[Contact], by=None) -> Contact:
    """Fold ``others`` into ``primary`` and delete them.

    Keeps the richest value of every field, the union of tags, every custom field (primary's
    value wins a clash), notes, timeline and list memberships. Consent: an opt-out anywhere
    wins (a person who refused marketing under one number refused it, full stop).
    """
    require_tenant_schema()
    ids = sorted({primary.pk, *(o.pk for o in others)})
    # Lock in id order: two merges over overlapping contacts cannot deadlock.
    locked = {c.pk: c for c in Contact.objects.filter(pk__in=ids).order_by("pk").select_for_update()}
    primary = locked[primary.pk]
    others = [locked[o.pk] for o in others if o.pk in locked and o.pk != primary.pk]
    if not others:
        return primary
    fields = {}
    for other in others:
        for key in ("name", "email", "wa_id"):
            value = _richer(getattr(primary, key), getattr(other, key))
            if value != getattr(primary, key):
                fields[key] = value
                setattr(primary, key, value)
        if primary.owner_id is None and other.owner_id is not None:
            primary.owner_id = other.owner_id
            fields["owner_id"] = other.owner_id
        merged_fields = {**other.custom_fields, **primary.custom_fields}
        if merged_fields != primary.custom_fields:
            primary.custom_fields = merged_fields
            fields["custom_fields"] = merged_fields
        tags = sorted(set(primary.tag_ids) | set(other.tag_ids))
        if tags != sorted(primary.tag_ids):
            primary.tag_ids = tags
            fields["tag_ids"] = tags
        if other.created_at < primary.created_at:
            primary.created_at = other.created_at
            fields["created_at"] = other.created_at
        if other.last_interaction_at and (
            primary.last_interaction_at is None or other.last_interaction_at > primary.last_interaction_at
        ):
            primary.last_interaction_at = other.last_interaction_at
            fields["last_interaction_at"] = other.last_interaction_at
        if other.consent_status == ConsentStatus.OPTED_OUT and primary.consent_status != ConsentStatus.OPTED_OUT:
            primary.consent_status = other.consent_status
            primary.consent_changed_at = other.consent_changed_at
            primary.consent_source = other.consent_source
            fields.update(consent_status=1, consent_changed_at=1, consent_source=1)
        elif primary.consent_status == ConsentStatus.UNKNOWN and other.consent_status == ConsentStatus.OPTED_IN:
            primary.consent_status = other.consent_status
            primary.consent_changed_at = other.consent_changed_at
            primary.consent_source = other.consent_source
            fields.update(consent_status=1, consent_changed_at=1, consent_source=1)
    other_ids = [o.pk for o in others]
    phones = [o.phone for o in others]
    # A duplicate's WhatsApp id moves only if it is free: the duplicate is deleted below.
    Note.objects.filter(contact_id__in=other_ids).update(contact_id=primary.pk)
    TimelineEvent.objects.filter(contact_id__in=other_ids).update(contact_id=primary.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO crm_contactlistmember (contact_list_id, contact_id, added_at)
               SELECT contact_list_id, %s, min(added_at) FROM crm_contactlistmember
               WHERE contact_id = ANY(%s) GROUP BY contact_list_id
               ON CONFLICT DO NOTHING""",
            [primary.pk, other_ids],
        )
    ContactListMember.objects.filter(contact_id__in=other_ids).delete()
    Contact.objects.filter(pk__in=other_ids).delete()
    primary.updated_at = timezone.now()
    primary.save(update_fields=[*fields.keys(), "updated_at"])
    timeline_record(contact=primary, kind="contact.merged", data={"phones": phones}, actor=by)
    _contact_event("updated", primary)
    for other_id in other_ids:
        send_event_on_commit({"type": "crm.contact", "op": "deleted", "id": other_id})
    return primary


# --- Imports --------------------------------------------------------------------------------


@transaction.atomic
def contact_import_create(*, stored_name: str, original_name: str, inspection: Inspection, by=None) -> ContactImport:
    """Record an uploaded, inspected file waiting for its column mapping (guessed, or the one
    used last time for a file with the same columns)."""
    require_tenant_schema()
    signature = headers_signature(inspection.headers)
    mapping = remembered_mapping(signature, inspection.headers)
    contact_import = ContactImport(
        original_name=original_name[:255],
        file_format=inspection.file_format,
        encoding=inspection.encoding,
        delimiter=inspection.delimiter,
        headers=inspection.headers,
        headers_signature=signature,
        preview=inspection.preview,
        mapping=mapping or guess_mapping(inspection.headers, list(CustomFieldDefinition.objects.all())),
        total_rows=inspection.total_rows,
        created_by_id=actor_id(by),
    )
    contact_import.file.name = stored_name
    contact_import.save()
    return contact_import


@transaction.atomic
def contact_import_upload(*, upload: UploadedFile, by=None) -> ContactImport:
    """Store an uploaded spreadsheet in the company's folder, inspect it and record the import
    waiting for its mapping (the page and the API both upload through here). Raises
    ``ImportFileError`` (too big, not a spreadsheet, unreadable) and then keeps nothing."""
    require_tenant_schema()
    if upload.size is not None and upload.size > MAX_UPLOAD_MB * 1024 * 1024:
        raise ImportFileError(ERR_FILE_TOO_BIG % {"size": MAX_UPLOAD_MB})
    # The name is kept (ContactImport.original_name) and part of the stored path: cut to what
    # both hold, keeping the extension that says which reader opens the file.
    base, ext = os.path.splitext((upload.name or "").strip() or "import")
    name = (base[:100] or "import") + ext[:10]
    stored = default_storage.save(f"crm/imports/{current_schema()}/{name}", upload)
    try:
        with upload_local_path(stored, upload) as local:
            inspection = inspect_file(local, name)
    except ImportFileError:
        default_storage.delete(stored)
        raise
    return contact_import_create(stored_name=stored, original_name=name, inspection=inspection, by=by)


@transaction.atomic
def contact_import_fail(*, contact_import: ContactImport, error: BaseException | str) -> ContactImport:
    """Record that an import stopped with ``error`` (the worker, when the run raised)."""
    contact_import.status = ImportStatus.FAILED
    contact_import.error = str(error)[:2000]
    contact_import.finished_at = timezone.now()
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=contact_import.status, error=contact_import.error, finished_at=contact_import.finished_at
    )
    return contact_import


@transaction.atomic
def contact_import_start(
    *, contact_import: ContactImport, mapping: dict, tag_ids: list[int], list_id: int | None, existing: str
) -> ContactImport:
    """Queue a mapped import (the worker runs ``crm.tasks.contact_import_run``)."""
    # A full contacts limit refuses the import at once; one with some room left is cut while it
    # runs (``crm.importing.copy``), with a message saying how many and why.
    if limits.room(current_company(), limits.CONTACTS) == 0:
        limits.limit_check(current_company(), limits.CONTACTS)
    contact_import.mapping = mapping
    contact_import.tag_ids = tag_ids
    contact_import.contact_list_id = list_id
    contact_import.existing = existing
    contact_import.status = ImportStatus.QUEUED
    contact_import.save(update_fields=["mapping", "tag_ids", "contact_list", "existing", "status"])
    enqueue_on_commit("crm.contact_import_run", current_schema(), contact_import.pk)
    return contact_import


# --- Custom fields, lists, segments, settings -------------------------------------------------


@transaction.atomic
def custom_field_create(
    *, key: str, label: str, field_type: str, choices: list[str], required: bool
) -> CustomFieldDefinition:
    position = (CustomFieldDefinition.objects.aggregate(m=Max("position"))["m"] or 0) + 1
    return CustomFieldDefinition.objects.create(
        key=key, label=label, field_type=field_type, choices=choices, required=required, position=position
    )


@transaction.atomic
def custom_field_update(
    *, definition: CustomFieldDefinition, label: str, choices: list[str], required: bool
) -> CustomFieldDefinition:
    """The key and type never change (stored values depend on them); label, choices and
    ``required`` do."""
    definition.label = label
    definition.choices = choices
    definition.required = required
    definition.save(update_fields=["label", "choices", "required"])
    return definition


@transaction.atomic
def custom_field_delete(*, definition: CustomFieldDefinition) -> None:
    """Delete the definition and its values on every contact (one UPDATE)."""
    Contact.objects.filter(custom_fields__has_key=definition.key).update(
        custom_fields=RawSQL('"crm_contact"."custom_fields" - %s', [definition.key])
    )
    definition.delete()


@transaction.atomic
def contact_list_create(*, name: str, description: str = "") -> ContactList:
    return ContactList.objects.create(name=name.strip()[:120], description=description.strip()[:255])


@transaction.atomic
def contact_list_delete(*, contact_list: ContactList) -> None:
    ContactListMember.objects.filter(contact_list=contact_list).delete()
    contact_list.delete()


@transaction.atomic
def contact_list_remove(*, contact_list: ContactList, contact_ids: list[int]) -> int:
    deleted, _ = ContactListMember.objects.filter(contact_list=contact_list, contact_id__in=contact_ids).delete()
    return deleted


@transaction.atomic
def segment_save(*, segment: Segment | None = None, name: str, filters: dict) -> Segment:
    """Create or update a segment with validated filters (``segments.filters_clean``)."""
    if segment is None:
        return Segment.objects.create(name=name.strip()[:120], filters=filters)
    segment.name = name.strip()[:120]
    segment.filters = filters
    segment.updated_at = timezone.now()
    segment.save(update_fields=["name", "filters", "updated_at"])
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment) -> None:
    segment.delete()


@transaction.atomic
def crm_settings_update(*, keywords: list[str], reply: str) -> CrmSettings:
    from crm.selectors import crm_settings_get

    row = crm_settings_get()
    row.opt_out_keywords = keywords
    row.opt_out_reply = reply
    row.updated_at = timezone.now()
    row.save(update_fields=["opt_out_keywords", "opt_out_reply", "updated_at"])
    return row


@transaction.atomic
def contacts_bulk_upsert(*, items: list[dict], existing: str = "update", by=None, source: str = "api") -> list[dict]:
    """Create or update many contacts matched by phone (``validation.bulk_items_clean`` output:
    the valid items). Returns ``{"status": created|updated|skipped, "id": ...}`` per item, in
    order. A few queries whatever the size: one lookup, one bulk insert, one bulk update."""
    require_tenant_schema()
    now = timezone.now()
    phones = [item["phone"] for item in items]
    found = {c.phone: c for c in Contact.objects.filter(phone__in=phones).select_for_update().order_by("pk")}
    to_create: list[Contact] = []
    to_update: list[Contact] = []
    results: list[dict[str, Any]] = []
    fields_changed: set[str] = set()
    for item in items:
        contact = found.get(item["phone"])
        if contact is None:
            consent = item.get("consent_status") or ConsentStatus.UNKNOWN
            contact = Contact(
                phone=item["phone"],
                name=item.get("name", ""),
                email=item.get("email", ""),
                tag_ids=item.get("add_tag_ids", []),
                custom_fields=item.get("custom_fields", {}),
                owner_id=item.get("owner_id"),
                source=source,
                consent_status=consent,
                consent_changed_at=now if consent != ConsentStatus.UNKNOWN else None,
                consent_source=source if consent != ConsentStatus.UNKNOWN else "",
                created_at=now,
                updated_at=now,
            )
            to_create.append(contact)
            results.append({"status": "created", "contact": contact})
            continue
        if existing == "skip":
            results.append({"status": "skipped", "contact": contact})
            continue
        changed = False
        for key in ("name", "email"):
            if item.get(key) and item[key] != getattr(contact, key):
                setattr(contact, key, item[key])
                fields_changed.add(key)
                changed = True
        if "owner_id" in item and item["owner_id"] != contact.owner_id:
            contact.owner_id = item["owner_id"]
            fields_changed.add("owner_id")
            changed = True
        new_tags = sorted(set(contact.tag_ids) | set(item.get("add_tag_ids", [])))
        if new_tags != sorted(contact.tag_ids):
            contact.tag_ids = new_tags
            fields_changed.add("tag_ids")
            changed = True
        if item.get("custom_fields"):
            merged = {**contact.custom_fields, **item["custom_fields"]}
            if merged != contact.custom_fields:
                contact.custom_fields = merged
                fields_changed.add("custom_fields")
                changed = True
        consent = item.get("consent_status")
        # An API upsert never overrides an opt-out; a real opt-in goes through contact_opt_in.
        if consent and consent != contact.consent_status and contact.consent_status != ConsentStatus.OPTED_OUT:
            contact.consent_status, contact.consent_changed_at, contact.consent_source = consent, now, source
            fields_changed.update({"consent_status", "consent_changed_at", "consent_source"})
            changed = True
        if changed:
            contact.updated_at = now
            to_update.append(contact)
        results.append({"status": "updated" if changed else "unchanged", "contact": contact})
    if to_create:
        Contact.objects.bulk_create(to_create)
    if to_update:
        Contact.objects.bulk_update(to_update, [*sorted(fields_changed), "updated_at"])
    TimelineEvent.objects.bulk_create(
        [
            TimelineEvent(
                contact_id=r["contact"].pk,
                kind="contact.created" if r["status"] == "created" else "contact.edited",
                data={"source": source}
                if r["status"] == "created"
                else {"source": source, "fields": sorted(fields_changed)},
                actor_id=actor_id(by),
                at=now,
            )
            for r in results
            if r["status"] in ("created", "updated")
        ]
    )
    if to_create or to_update:
        send_event_on_commit({"type": "crm.contacts", "op": "bulk_upsert", "count": len(to_create) + len(to_update)})
    return [{"status": r["status"], "id": r["contact"].pk} for r in results]
