"""Demo data: the demo company shows a persona with a knowledge base (idempotent)."""

from __future__ import annotations


def test_demo_persona_with_knowledge(tenant, django_capture_on_commit_callbacks):
    from ai_personas.demo import demo_personas_setup
    from ai_personas.models import Document, Persona

    with django_capture_on_commit_callbacks() as queued:
        persona = demo_personas_setup()
    assert persona.name == "Lia" and persona.knowledge_bases.count() == 1
    assert Document.objects.filter(knowledge_base__personas=persona).count() == 2
    assert len(queued) == 2  # both documents queued for indexing
    demo_personas_setup()
    assert Persona.objects.count() == 1 and Document.objects.count() == 2
