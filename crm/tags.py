"""Tags by name: the one lookup-or-create that services, validation and the import share (it
imports no other CRM module that writes, so none of them has to import another for it)."""

from __future__ import annotations

from django.db import transaction
from django.db.models.functions import Lower

from crm.models import Tag
from tenants.context import require_tenant_schema

MAX_TAG_NAME = 64


@transaction.atomic
def tags_ensure(*, names: list[str]) -> list[int]:
    """Ids of the tags named ``names`` (case-insensitive), creating the missing ones."""
    require_tenant_schema()
    wanted: dict[str, str] = {}
    for name in names:
        name = name.strip()[:MAX_TAG_NAME]
        if name:
            wanted.setdefault(name.lower(), name)
    if not wanted:
        return []
    existing = {t.name.lower(): t.id for t in Tag.objects.annotate(lname=Lower("name")).filter(lname__in=wanted)}
    missing = [Tag(name=name) for lower, name in wanted.items() if lower not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name.lower(): t.id for t in Tag.objects.annotate(lname=Lower("name")).filter(lname__in=wanted)}
    return [existing[lower] for lower in wanted]
