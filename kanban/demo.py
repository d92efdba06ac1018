"""Demo data: a "Vendas" pipeline with cards on the demo company's contacts."""

from __future__ import annotations

from decimal import Decimal

from crm.models import Contact
from kanban.models import Pipeline
from kanban.services import card_create, pipeline_create


def demo_kanban_setup() -> Pipeline | None:
    if Pipeline.objects.filter(name="Vendas").exists():
        return None
    pipeline = pipeline_create(name="Vendas", ai_enabled=True, auto_create_cards=True)
    stages = list(pipeline.stages.all())
    contacts = list(Contact.objects.order_by("id")[:18])
    for i, contact in enumerate(contacts):
        stage = stages[i % 4] if i < 16 else stages[4 + i % 2]
        card = card_create(
            pipeline=pipeline,
            contact=contact,
            stage=stage,
            title=contact.name or contact.phone,
            value=Decimal(500 + 250 * (i % 7)),
        )
        if stage.kind != "open":
            card.reason = "Preço" if stage.kind == "won" else "Sem resposta"
            card.save(update_fields=["reason"])
    return pipeline
