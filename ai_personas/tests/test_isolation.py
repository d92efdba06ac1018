"""Tenant isolation of every AI page and API endpoint that takes an id: another company's
owner gets a 404 for acme's personas, knowledge bases, documents and conversations, and
nothing of acme's changes; acme's usage is not in theirs."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import schema_context

from ai_personas.models import ConversationAI, Document, KnowledgeBase, Persona, UsageDay
from ai_personas.tests.test_agent import customer_says

API = "/api/v1/ai"


@pytest.fixture
def acme_objects(acme, persona, kb, channel):
    """acme's persona, knowledge base, document and a conversation the AI serves."""
    from ai_personas.agent import inbound_note
    from ai_personas.usage import usage_add

    message = customer_says(channel, "oi")
    inbound_note(message_id=message.pk)
    usage_add(persona_id=persona.pk, tokens_in=100, replies=1)
    return {
        "persona": persona.pk,
        "kb": kb.pk,
        "document": Document.objects.get(knowledge_base=kb).pk,
        "conversation": message.conversation_id,
    }


def _snapshot(acme) -> tuple:
    with schema_context(acme.schema_name):
        return (
            list(Persona.objects.values_list("pk", "name", "temperature", "is_active")),
            list(KnowledgeBase.objects.values_list("pk", "name", "min_score")),
            list(Document.objects.values_list("pk", "title", "status")),
            list(ConversationAI.objects.values_list("pk", "state", "due_at")),
            list(UsageDay.objects.values_list("pk", "tokens_in", "replies")),
        )


@pytest.fixture
def outsider(tenant_client_factory, make_member, other_company):
    return tenant_client_factory(other_company, make_member("owner", company=other_company, email="o2@other.test"))


PAGES = [
    ("get", "/ai/personas/{persona}/", {}),
    ("post", "/ai/personas/{persona}/", {"name": "Hacked"}),
    ("post", "/ai/personas/{persona}/delete/", {}),
    ("get", "/ai/personas/{persona}/playground/", {}),
    ("post", "/ai/personas/{persona}/playground/send/", {"text": "oi"}),
    ("post", "/ai/personas/{persona}/playground/reset/", {}),
    ("get", "/ai/knowledge/{kb}/", {}),
    ("post", "/ai/knowledge/{kb}/delete/", {}),
    ("post", "/ai/knowledge/{kb}/qa/", {"question": "Q?", "answer": "A."}),
    ("post", "/ai/knowledge/{kb}/upload/", "file"),
    ("post", "/ai/documents/{document}/delete/", {}),
    ("get", "/ai/documents/{document}/progress/", {}),
    ("get", "/ai/conversations/{conversation}/panel/", {}),
    ("post", "/ai/conversations/{conversation}/toggle/", {"enabled": "0"}),
]


@pytest.mark.parametrize(("method", "url", "data"), PAGES, ids=[f"{m} {u}" for m, u, _d in PAGES])
def test_pages_of_another_company_are_404_and_change_nothing(acme, acme_objects, outsider, method, url, data):
    before = _snapshot(acme)
    if data == "file":
        data = {"file": SimpleUploadedFile("faq.md", b"# FAQ\nTexto.", content_type="text/markdown")}
    response = getattr(outsider, method)(url.format(**acme_objects), data)
    assert response.status_code == 404, (url, response.status_code)
    assert _snapshot(acme) == before


ENDPOINTS = [
    ("get", "/personas/{persona}/", None),
    ("patch", "/personas/{persona}/", {"temperature": 0.9}),
    ("delete", "/personas/{persona}/", None),
    ("post", "/personas/{persona}/playground/", {"messages": [{"role": "customer", "text": "oi"}]}),
    ("get", "/knowledge-bases/{kb}/", None),
    ("put", "/knowledge-bases/{kb}/", {"name": "Hacked"}),
    ("delete", "/knowledge-bases/{kb}/", None),
    ("get", "/knowledge-bases/{kb}/documents/", None),
    ("post", "/knowledge-bases/{kb}/documents/", {"title": "Q", "text": "Texto."}),
    ("get", "/documents/{document}/", None),
    ("patch", "/documents/{document}/", {"title": "Hacked"}),
    ("delete", "/documents/{document}/", None),
]


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS, ids=[f"{m} {u}" for m, u, _b in ENDPOINTS])
def test_endpoints_of_another_company_are_404_and_change_nothing(acme, acme_objects, outsider, method, url, body):
    before = _snapshot(acme)
    connection.set_schema_to_public()
    kwargs = {"content_type": "application/json", "data": body} if body is not None else {}
    response = getattr(outsider, method)(API + url.format(**acme_objects), **kwargs)
    assert response.status_code == 404, (url, response.status_code, response.content[:200])
    assert _snapshot(acme) == before


def test_usage_of_another_company_is_not_in_theirs(acme, acme_objects, outsider):
    connection.set_schema_to_public()
    assert outsider.get(f"{API}/usage/").json() == []
    assert outsider.get("/ai/usage/").status_code == 200
    assert "Lia" not in outsider.get("/ai/usage/").content.decode()
