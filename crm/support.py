"""The CRM's sections of the support admin (``tenants.support``): contacts and imports."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenants.support import Section, register


def _contact_rows(search: str, offset: int, limit: int) -> list:
    from crm.models import Contact

    qs = Contact.objects.order_by("-id")
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        cond = Q(name__icontains=search) | Q(email__icontains=search)
        if digits:
            cond |= Q(phone__contains=digits)
        qs = qs.filter(cond)
    return list(qs.values("pk", "name", "phone", "email", "consent_status", "created_at")[offset : offset + limit])


def _contact_detail(pk: int) -> dict | None:
    from crm.models import Contact, Tag

    contact = Contact.objects.filter(pk=pk).first()
    if contact is None:
        return None
    tags = ", ".join(Tag.objects.filter(pk__in=contact.tag_ids).order_by("name").values_list("name", flat=True))
    return {
        "title": contact.name or contact.phone,
        "fields": [
            (_("Phone"), contact.phone),
            (_("Email"), contact.email),
            (_("Consent"), contact.get_consent_status_display()),
            (_("Tags"), tags),
            (_("Custom fields"), ", ".join(f"{k}: {v}" for k, v in (contact.custom_fields or {}).items())),
            (_("Source"), contact.source),
            (_("Created at"), contact.created_at),
        ],
    }


def _import_rows(search: str, offset: int, limit: int) -> list:
    from crm.models import ContactImport

    qs = ContactImport.objects.order_by("-id")
    if search:
        qs = qs.filter(original_name__icontains=search)
    return list(
        qs.values(
            "pk",
            "original_name",
            "status",
            "total_rows",
            "created_count",
            "updated_count",
            "failed_count",
            "error",
            "created_at",
        )[offset : offset + limit]
    )


def register_sections() -> None:
    register(
        Section(
            key="contacts",
            label=_("Contacts"),
            order=10,
            columns=[
                ("name", _("Name")),
                ("phone", _("Phone")),
                ("email", _("Email")),
                ("consent_status", _("Consent")),
                ("created_at", _("Created at")),
            ],
            rows=_contact_rows,
            detail=_contact_detail,
            search_help=_("Name, email or phone digits"),
        )
    )
    register(
        Section(
            key="imports",
            label=_("Imports"),
            order=40,
            columns=[
                ("original_name", _("File")),
                ("status", _("Status")),
                ("total_rows", _("Rows")),
                ("created_count", _("Created")),
                ("updated_count", _("Updated")),
                ("failed_count", _("Failed")),
                ("error", _("Message")),
                ("created_at", _("Created at")),
            ],
            rows=_import_rows,
            search_help=_("File name"),
        )
    )
