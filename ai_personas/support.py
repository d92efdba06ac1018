"""The AI's sections of the support admin (``tenants.support``): personas and knowledge
documents (the provider's API key is never shown)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from tenants.support import Section, register


def _persona_rows(search: str, offset: int, limit: int) -> list:
    from ai_personas.models import Persona

    qs = Persona.objects.order_by("name")
    if search:
        qs = qs.filter(name__icontains=search)
    return list(qs.values("pk", "name", "is_active", "language", "model", "created_at")[offset : offset + limit])


def _document_rows(search: str, offset: int, limit: int) -> list:
    from ai_personas.models import Document

    qs = Document.objects.order_by("-id")
    if search:
        qs = qs.filter(title__icontains=search)
    return list(
        qs.values(
            "pk",
            "title",
            "knowledge_base__name",
            "kind",
            "status",
            "chunks_done",
            "chunks_total",
            "error",
            "indexed_at",
        )[offset : offset + limit]
    )


def register_sections() -> None:
    register(
        Section(
            key="personas",
            label=_("AI personas"),
            order=60,
            columns=[
                ("name", _("Name")),
                ("is_active", _("Active")),
                ("language", _("Language")),
                ("model", _("Chat model")),
                ("created_at", _("Created at")),
            ],
            rows=_persona_rows,
            search_help=_("Persona name"),
        )
    )
    register(
        Section(
            key="documents",
            label=_("Knowledge documents"),
            order=61,
            columns=[
                ("title", _("Title")),
                ("knowledge_base__name", _("Knowledge base")),
                ("kind", _("Kind")),
                ("status", _("Status")),
                ("chunks_done", _("Chunks indexed")),
                ("chunks_total", _("Chunks")),
                ("error", _("Error")),
                ("indexed_at", _("Indexed at")),
            ],
            rows=_document_rows,
            search_help=_("Document title"),
        )
    )
