"""Reads of the CRM (tenant schema)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from crm.bulk_actions import UNDO_WINDOW
from crm.models import (
    BulkOperation,
    ConsentStatus,
    Contact,
    ContactImport,
    ContactList,
    ContactListMember,
    CrmSettings,
    CustomFieldDefinition,
    Segment,
    Tag,
    TimelineEvent,
)
from crm.segments import filters_clean, filters_q
from crm.text import fold_full
from tenants.context import require_tenant_schema
from tenants.selectors import users_by_id


def crm_settings_get() -> CrmSettings:
    """The company's CRM settings (created with defaults on first read)."""
    require_tenant_schema()
    settings_row, _ = CrmSettings.objects.get_or_create(pk=1)
    return settings_row


def _keyword_form(text: str) -> str:
    # "  Sair! " -> "sair": case, accents, surrounding spaces and punctuation do not matter.
    folded = fold_full(text)
    return " ".join("".join(ch if ch.isalnum() else " " for ch in folded).split())


def is_opt_out_keyword(text: str) -> bool:
    """True when the whole message is one of the company's opt-out keywords."""
    candidate = _keyword_form(text or "")
    if not candidate or len(candidate) > 64:
        return False
    keywords = {_keyword_form(k) for k in crm_settings_get().opt_out_keywords}
    return candidate in keywords


def contacts_matching(filters: dict | None = None) -> QuerySet[Contact]:
    """Contacts matching validated-or-raw ``filters`` (see ``crm.segments``), one query."""
    require_tenant_schema()
    clean = filters_clean(filters or {})
    return Contact.objects.filter(filters_q(clean))


def segment_contacts(segment: Segment) -> QuerySet[Contact]:
    return Contact.objects.filter(filters_q(filters_clean(segment.filters)))


def marketing_audience(
    *,
    segment: Segment | None = None,
    contact_list: ContactList | None = None,
    segment_ids: list[int] | None = None,
    list_ids: list[int] | None = None,
    tag_ids: list[int] | None = None,
) -> QuerySet[Contact]:
    """Contacts a campaign may reach: never anyone who opted out.

    With both a segment and a list, the audience is the list members matching the segment.
    With neither, every contact that did not opt out. ``segment_ids`` (any of the segments),
    ``list_ids`` (members of any of the lists) and ``tag_ids`` (any of the tags) narrow it the
    same way, each an "or" within itself and an "and" with the others.
    """
    return _audience(
        segment=segment, contact_list=contact_list, segment_ids=segment_ids, list_ids=list_ids, tag_ids=tag_ids
    ).exclude(consent_status=ConsentStatus.OPTED_OUT)


def audience_opted_out_count(**filters) -> int:
    """How many contacts the same audience filters match who opted out (the campaign shows
    them as excluded). Takes the arguments of ``marketing_audience``."""
    return _audience(**filters).filter(consent_status=ConsentStatus.OPTED_OUT).count()


def _audience(
    *,
    segment: Segment | None = None,
    contact_list: ContactList | None = None,
    segment_ids: list[int] | None = None,
    list_ids: list[int] | None = None,
    tag_ids: list[int] | None = None,
) -> QuerySet[Contact]:
    require_tenant_schema()
    qs = Contact.objects.all()
    if segment is not None:
        qs = qs.filter(filters_q(filters_clean(segment.filters)))
    if contact_list is not None:
        qs = qs.filter(
            Exists(ContactListMember.objects.filter(contact_list_id=contact_list.pk, contact_id=OuterRef("pk")))
        )
    if segment_ids:
        any_segment = Q(pk__in=[])
        for each in Segment.objects.filter(pk__in=segment_ids):
            any_segment |= filters_q(filters_clean(each.filters))
        qs = qs.filter(any_segment)
    if list_ids:
        qs = qs.filter(
            Exists(ContactListMember.objects.filter(contact_list_id__in=list_ids, contact_id=OuterRef("pk")))
        )
    if tag_ids:
        qs = qs.filter(tag_ids__overlap=list(tag_ids))
    return qs


def tags_by_id(ids: set[int] | None = None) -> dict[int, Tag]:
    qs = Tag.objects.all() if ids is None else Tag.objects.filter(id__in=ids)
    return {t.id: t for t in qs}


def custom_field_definitions() -> list[CustomFieldDefinition]:
    return list(CustomFieldDefinition.objects.all())


def contact_find_by_phone(phone: str) -> Contact | None:
    return Contact.objects.filter(Q(phone=phone)).first()


def bulk_operation_undoable(*, user_id: int) -> BulkOperation | None:
    """The member's latest bulk action still inside the undo window (also one that finished
    in the background)."""
    return (
        BulkOperation.objects.filter(
            actor_id=user_id,
            undone_at__isnull=True,
            created_at__gte=timezone.now() - UNDO_WINDOW,
        )
        .order_by("-created_at")
        .only("id", "action", "affected", "created_at")
        .first()
    )


def contact_timeline(*, contact: Contact) -> list[dict]:
    """The contact page's timeline rows (newest first), with actors and tag names resolved."""
    events = list(TimelineEvent.objects.filter(contact=contact).order_by("-at", "-id")[:100])
    actors = users_by_id(e.actor_id for e in events)
    # Bulk tag events carry the tag id (one row written per contact by SQL): name it here.
    tag_names = {t.id: t.name for t in Tag.objects.filter(pk__in={e.data.get("tag_id") for e in events} - {None})}
    for e in events:
        if e.data.get("tag_id") in tag_names and not e.data.get("tags"):
            e.data["tags"] = [tag_names[e.data["tag_id"]]]
    rows = [{"kind": e.kind, "data": e.data, "at": e.at, "actor": actors.get(e.actor_id)} for e in events]
    if contact.import_id:
        # Created by an import: the event comes from the contact row (see Contact.import_id).
        contact_import = ContactImport.objects.filter(pk=contact.import_id).only("original_name").first()
        rows.append(
            {
                "kind": "contact.imported",
                "data": {"file": contact_import.original_name if contact_import else ""},
                "at": contact.created_at,
                "actor": None,
            }
        )
        rows.sort(key=lambda r: r["at"], reverse=True)
    return rows


def contacts_count_query(_month_start=None) -> tuple[str, list]:
    """Contacts against the plan's limit (deleted ones have left the table)."""
    from tenants.limits import count_query

    return count_query(Contact.objects.all())
