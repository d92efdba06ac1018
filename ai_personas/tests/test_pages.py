"""Pages: every AI page renders for the roles that may see it, forms validate with a clear
message, the playground shows chunks, scores, prompt size, time, cost and the handoff decision,
and another company's objects are 404."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ai_personas.models import Document, KnowledgeBase, Persona


@pytest.fixture
def client(owner_client, openai_stub):
    return owner_client


def test_owner_sees_the_forms_and_viewer_does_not(client, persona, kb, tenant_client_factory, acme, make_member):
    page = client.get(f"/ai/knowledge/{kb.pk}/").content.decode()
    assert 'data-testid="upload-form"' in page and 'data-testid="qa-form"' in page
    assert 'data-testid="kb-form"' in client.get("/ai/knowledge/").content.decode()
    assert 'data-testid="persona-save"' in client.get(f"/ai/personas/{persona.pk}/").content.decode()
    viewer = tenant_client_factory(acme, make_member("viewer", email="seer@acme.test"))
    assert 'data-testid="persona-save"' not in viewer.get(f"/ai/personas/{persona.pk}/").content.decode()


def test_every_page_renders(client, persona, kb):
    doc = Document.objects.first()
    for url in [
        "/ai/personas/",
        "/ai/personas/new/",
        f"/ai/personas/{persona.pk}/",
        f"/ai/personas/{persona.pk}/playground/",
        "/ai/knowledge/",
        f"/ai/knowledge/{kb.pk}/",
        f"/ai/documents/{doc.pk}/progress/",
        "/ai/usage/",
        "/settings/ai/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url


def test_navigation_shows_the_ai_pages(client, tenant):
    html = client.get("/ai/personas/").content.decode()
    assert 'data-nav-item="ai-personas"' in html and 'data-nav-item="ai-knowledge"' in html


def test_create_persona_from_the_form(client, kb):
    response = client.post(
        "/ai/personas/new/",
        {
            "name": "Beto",
            "instructions": "Atenda bem.",
            "language": "pt-br",
            "temperature": "0.3",
            "max_reply_chars": "500",
            "knowledge_bases": [kb.pk],
            "schedule": "always",
            "max_turns": "5",
            "debounce_seconds": "4",
            "is_active": "on",
            "tools": ["contact_read"],
        },
    )
    assert response.status_code == 302
    persona = Persona.objects.get(name="Beto")
    assert list(persona.knowledge_bases.all()) == [kb] and persona.tools == ["contact_read"]


def test_bad_persona_input_changes_nothing(client, kb):
    response = client.post(
        "/ai/personas/new/",
        {
            "name": "X",
            "language": "pt-br",
            "temperature": "9",
            "max_reply_chars": "500",
            "schedule": "always",
            "max_turns": "5",
            "debounce_seconds": "4",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert not Persona.objects.filter(name="X").exists()


def test_keyword_schedule_needs_keywords(client):
    response = client.post(
        "/ai/personas/new/",
        {
            "name": "K",
            "language": "pt-br",
            "temperature": "0.3",
            "max_reply_chars": "500",
            "schedule": "keyword",
            "max_turns": "5",
            "debounce_seconds": "4",
        },
        follow=True,
    )
    assert "Give at least one keyword" in response.content.decode() or "palavra-chave" in response.content.decode()
    assert not Persona.objects.filter(name="K").exists()


def test_upload_document_and_qa(client, tenant, django_capture_on_commit_callbacks):
    kb = KnowledgeBase.objects.create(name="Docs")
    with django_capture_on_commit_callbacks():
        response = client.post(
            f"/ai/knowledge/{kb.pk}/upload/",
            {"file": SimpleUploadedFile("faq.md", b"# Pix\nTem desconto."), "title": ""},
        )
    assert response.status_code == 302
    document = Document.objects.get(knowledge_base=kb)
    assert document.title == "faq.md" and document.status == "pending"
    page = client.get(f"/ai/knowledge/{kb.pk}/").content.decode()
    assert 'data-job-id="ai-doc-' in page and "every 2s" in page  # live bar + poll fallback
    response = client.post(f"/ai/knowledge/{kb.pk}/upload/", {"file": SimpleUploadedFile("x.exe", b"MZ")}, follow=True)
    assert Document.objects.filter(knowledge_base=kb).count() == 1
    client.post(f"/ai/knowledge/{kb.pk}/qa/", {"question": "Tem Pix?", "answer": "Sim."})
    assert Document.objects.filter(knowledge_base=kb, kind="qa").count() == 1


def test_playground_shows_chunks_scores_prompt_time_cost_and_decision(client, persona):
    response = client.post(
        f"/ai/personas/{persona.pk}/playground/send/", {"text": "Em quantos dias chega em Campinas?"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="playground-reply"' in html and "Campinas" in html
    assert 'data-testid="pg-chunk"' in html and "Prazo de entrega" in html
    for testid in ("pg-prompt", "pg-latency", "pg-cost", "pg-decision", "pg-score"):
        assert f'data-testid="{testid}"' in html
    handoff = client.post(
        f"/ai/personas/{persona.pk}/playground/send/", {"text": "quero falar com um atendente"}
    ).content.decode()
    assert 'data-testid="playground-handoff"' in handoff
    # the conversation is remembered in the session
    assert "Campinas" in client.get(f"/ai/personas/{persona.pk}/playground/").content.decode()


def test_settings_save_and_test_connection(client, tenant, openai_stub):
    response = client.post(
        "/settings/ai/",
        {
            "base_url": openai_stub.url,
            "api_key": "sk-test-stub-key",
            "chat_model": "gpt-4o-mini",
            "embedding_model": "local",
            "monthly_token_budget": "5000",
        },
    )
    assert response.status_code == 302
    html = client.post("/settings/ai/test/", follow=True).content.decode()
    assert 'data-testid="ai-test-result"' in html
    assert "sk-test-stub-key" not in html  # the key is never shown back
    bad = client.post("/settings/ai/", {"base_url": "ftp://x", "chat_model": "", "embedding_model": ""}, follow=True)
    assert bad.status_code == 200


def test_budget_banner(client, tenant, settings):
    from ai_personas.usage import usage_add

    settings.AI_MONTHLY_TOKEN_BUDGET = 10
    usage_add(persona_id=None, tokens_in=20)
    assert 'data-testid="ai-budget-banner"' in client.get("/ai/personas/").content.decode()


def test_viewer_cannot_edit(tenant_client_factory, acme, make_member, persona):
    viewer = make_member("viewer", email="viewer@acme.test")
    c = tenant_client_factory(acme, viewer)
    assert c.get("/ai/personas/").status_code == 200
    assert c.get("/settings/ai/").status_code == 403
    assert c.post("/ai/personas/new/", {"name": "Z"}).status_code == 403
    assert c.post(f"/ai/personas/{persona.pk}/playground/send/", {"text": "oi"}).status_code == 403


def test_other_company_gets_404(tenant_client_factory, other_company, make_member, persona, kb):
    outsider = make_member("owner", company=other_company, email="boss@other.test")
    c = tenant_client_factory(other_company, outsider)
    assert c.get(f"/ai/personas/{persona.pk}/").status_code == 404
    assert c.get(f"/ai/knowledge/{kb.pk}/").status_code == 404
    # and acme's domain refuses a non-member
    from tests.conftest_helpers import TEST_PASSWORD  # noqa: F401


def test_inbox_panel_shows_the_ai_toggle_and_ai_messages_are_marked(client, persona, openai_stub):
    from ai_personas.tests.test_agent import customer_says, run_burst, send_all_parts
    from inbox.services import channel_create

    channel = channel_create(kind="sandbox", name="Sandbox")
    message = customer_says(channel, "Em quantos dias chega em Campinas?")
    run_burst(message)
    send_all_parts(message.conversation_id)
    panel = client.get(f"/inbox/c/{message.conversation_id}/side/?part=panel").content.decode()
    assert 'data-testid="ai-panel"' in panel and 'data-ai-state="active"' in panel
    assert 'data-testid="ai-toggle"' in panel
    thread = client.get(f"/inbox/c/{message.conversation_id}/messages/").content.decode()
    assert "data-ai-message" in thread and "data-ai-citations" in thread and "Prazo de entrega" in thread
    response = client.post(f"/ai/conversations/{message.conversation_id}/toggle/", {"enabled": "0"})
    assert response.status_code == 302
    panel = client.get(f"/inbox/c/{message.conversation_id}/side/?part=panel").content.decode()
    assert 'data-ai-state="off"' in panel
