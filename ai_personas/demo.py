"""Demo data: a persona that answers from the Loja Aurora help centre (idempotent)."""

from __future__ import annotations

from django.db import transaction

from ai_personas.knowledge.eval_ptbr import CORPUS, CORPUS_TITLE
from ai_personas.models import KnowledgeBase, Persona

DEMO_INSTRUCTIONS = (
    "Você é a Lia, atendente virtual da Loja Aurora. Seja simpática e objetiva, trate o cliente por você "
    "e responda apenas sobre pedidos, entregas, trocas, pagamentos e produtos da loja. Não invente preços "
    "nem prazos que não estejam na base de conhecimento. Não dê descontos por conta própria."
)


@transaction.atomic
def demo_personas_setup() -> Persona:
    from ai_personas.knowledge.indexing import document_qa_create, document_text_create, knowledge_base_create

    persona = Persona.objects.filter(name="Lia").first()
    if persona is not None:
        return persona
    kb = KnowledgeBase.objects.filter(name="Central de ajuda").first()
    if kb is None:
        kb = knowledge_base_create(name="Central de ajuda", description="Políticas de entrega, trocas e pagamentos")
        document_text_create(knowledge_base=kb, title=CORPUS_TITLE, text=CORPUS)
        document_qa_create(
            knowledge_base=kb,
            question="Vocês têm loja em outras cidades?",
            answer="Por enquanto só temos a loja física da Rua Augusta, 1500, em São Paulo.",
        )
    persona = Persona.objects.create(
        name="Lia",
        avatar="🌸",
        instructions=DEMO_INSTRUCTIONS,
        language="pt-br",
        tools=["contact_read", "tag_add", "note_add"],
        debounce_seconds=3,
    )
    persona.knowledge_bases.set([kb])
    return persona
