"""Writes of the CRM (tenant schema). Callers validate and authorize first; these trust input."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import ConsentStatus, Contact, TimelineEvent
from crm.phones import ERR_PHONE_EMPTY, InvalidPhoneError, normalize_phone, wa_id_candidates
from tenants.context import require_tenant_schema
from tenants.realtime import send_event_on_commit


def company_country() -> str:
    return getattr(connection.tenant, "default_country", "") or "BR"


def _actor_id(actor) -> int | None:
    if actor is None:
        return None
    return actor if isinstance(actor, int) else getattr(actor, "pk", None)


def timeline_record(
    *, contact: Contact, kind: str, data: dict | None = None, actor=None, at: dt.datetime | None = None
) -> TimelineEvent:
    """Add an event to the contact's timeline (``kind`` like ``contact.created``,
    ``message.in``, ``campaign.sent``; ``data`` is JSON; ``actor`` a user or user id)."""
    require_tenant_schema()
    return TimelineEvent.objects.create(
        contact_id=contact.pk, kind=kind, data=data or {}, actor_id=_actor_id(actor), at=at or timezone.now()
    )


def _contact_event(op: str, contact: Contact) -> None:
    send_event_on_commit({"type": "crm.contact", "op": op, "id": contact.pk}, groups=["crm"])


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
