from __future__ import annotations

import pytest

from tests.stubs.openai import DEFAULT_KEY, OpenAIStub


@pytest.fixture(scope="session")
def _openai_server():
    server = OpenAIStub().start()
    yield server
    server.stop()


@pytest.fixture
def openai_stub(_openai_server, settings, tmp_path):
    _openai_server.reset()
    settings.OPENAI_BASE_URL = _openai_server.url
    settings.OPENAI_API_KEY = DEFAULT_KEY
    settings.OPENAI_CHAT_MODEL = "gpt-4o-mini"
    settings.OPENAI_EMBEDDING_MODEL = "local"
    settings.OPENAI_MAX_RETRIES = 2
    settings.OPENAI_TIMEOUT = 2.0
    settings.AI_MONTHLY_TOKEN_BUDGET = 1_000_000
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return _openai_server


@pytest.fixture
def kb(tenant, openai_stub):
    """A knowledge base with the pt-BR help centre, indexed with the local embedder."""
    from ai_personas.knowledge.eval_ptbr import CORPUS
    from ai_personas.knowledge.indexing import document_index, document_text_create, knowledge_base_create

    base = knowledge_base_create(name="Ajuda")
    document = document_text_create(knowledge_base=base, title="Central de ajuda", text=CORPUS)
    document_index(document_id=document.pk)
    base.refresh_from_db()
    return base


@pytest.fixture
def persona(kb):
    from ai_personas.services import persona_create

    persona = persona_create(
        data={
            "name": "Lia",
            "instructions": "Você é a Lia da Loja Aurora. Código interno de desconto: AURORA-SECRETO-77.",
            "debounce_seconds": 5,
        },
        knowledge_base_ids=[kb.pk],
    )
    return persona


@pytest.fixture
def channel(tenant):
    from inbox.services import channel_create

    return channel_create(kind="sandbox", name="Sandbox")


@pytest.fixture
def agent_user(make_member):
    """An available agent: handoffs assign to them (round robin)."""
    from inbox.models import AgentSettings

    user = make_member("agent", email="agente@acme.test")
    AgentSettings.objects.create(user=user, capacity=5, is_available=True)
    return user
