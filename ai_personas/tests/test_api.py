"""AI personas API: every endpoint, roles, bad input (400, nothing changed), tenant isolation."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from ai_personas.models import Document, KnowledgeBase, Persona

API = "/api/v1/ai"


@pytest.fixture
def owner_api(tenant_client_factory, make_member, acme, openai_stub):
    return tenant_client_factory(acme, make_member("owner", email="api-owner@acme.test"))


@pytest.fixture
def viewer_api(tenant_client_factory, make_member, acme):
    return tenant_client_factory(acme, make_member("viewer", email="api-viewer@acme.test"))


def test_personas_crud(owner_api, kb):
    connection.set_schema_to_public()
    created = owner_api.post(
        f"{API}/personas/",
        {"name": "Ana", "instructions": "Ajude.", "knowledge_bases": [kb.pk], "tools": ["contact_read"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["knowledge_bases"] == [kb.pk]
    assert [p["name"] for p in owner_api.get(f"{API}/personas/").json()] == ["Ana"]
    patched = owner_api.patch(f"{API}/personas/{pk}/", {"temperature": 0.8}, content_type="application/json")
    assert patched.status_code == 200 and patched.json()["temperature"] == 0.8
    bad = owner_api.patch(f"{API}/personas/{pk}/", {"temperature": 7}, content_type="application/json")
    assert bad.status_code == 400
    assert "2" in str(bad.json()["detail"])  # "between 0 and 2", in the user's language
    unknown_tool = owner_api.post(
        f"{API}/personas/", {"name": "B", "tools": ["rm_rf"]}, content_type="application/json"
    )
    assert unknown_tool.status_code == 400
    assert owner_api.delete(f"{API}/personas/{pk}/").status_code == 204
    connection.set_tenant(
        kb.__class__.objects.model._meta.apps.get_model("tenants", "Company").objects.get(slug="acme")
    )
    assert not Persona.objects.filter(pk=pk).exists()


@pytest.mark.parametrize("field", ["knowledge_bases", "channels"])
@pytest.mark.parametrize("unknown", [2**40, 2**70])
def test_unknown_knowledge_base_or_channel_is_a_400_and_changes_nothing(owner_api, persona, kb, field, unknown):
    """They were dropped silently: a persona was created, or its knowledge bases cleared, with 2xx."""
    connection.set_schema_to_public()
    from django.utils import translation

    from ai_personas.services import ERR_CHANNEL_UNKNOWN, ERR_KNOWLEDGE_BASE_UNKNOWN

    created = owner_api.post(f"{API}/personas/", {"name": "Nova", field: [unknown]}, content_type="application/json")
    assert created.status_code == 400
    message = {"knowledge_bases": ERR_KNOWLEDGE_BASE_UNKNOWN, "channels": ERR_CHANNEL_UNKNOWN}[field]
    with translation.override(created["Content-Language"]):
        expected = translation.gettext(message)
    assert created.json()["detail"] == [expected]
    patched = owner_api.patch(
        f"{API}/personas/{persona.pk}/",
        {"name": "Renomeada", field: [kb.pk if field == "knowledge_bases" else unknown, unknown]},
        content_type="application/json",
    )
    assert patched.status_code == 400
    connection.set_tenant(
        kb.__class__.objects.model._meta.apps.get_model("tenants", "Company").objects.get(slug="acme")
    )
    assert not Persona.objects.filter(name="Nova").exists()
    persona.refresh_from_db()
    assert persona.name != "Renomeada" and list(persona.knowledge_bases.all()) == [kb]


def test_knowledge_bases_and_documents(owner_api, tenant, django_capture_on_commit_callbacks):
    connection.set_schema_to_public()
    kb = owner_api.post(
        f"{API}/knowledge-bases/", {"name": "FAQ", "language": "portuguese"}, content_type="application/json"
    )
    assert kb.status_code == 201
    kb_id = kb.json()["id"]
    with django_capture_on_commit_callbacks() as queued:
        upload = owner_api.post(
            f"{API}/knowledge-bases/{kb_id}/documents/",
            {"file": SimpleUploadedFile("faq.html", b"<h1>Pix</h1><p>5% de desconto</p>"), "title": "FAQ"},
        )
    assert upload.status_code == 201, upload.content
    assert upload.json()["status"] == "pending" and queued
    qa = owner_api.post(
        f"{API}/knowledge-bases/{kb_id}/documents/",
        {"question": "Tem Pix?", "answer": "Sim."},
        content_type="application/json",
    )
    assert qa.status_code == 201 and qa.json()["kind"] == "qa"
    empty = owner_api.post(f"{API}/knowledge-bases/{kb_id}/documents/", {}, content_type="application/json")
    assert empty.status_code == 400
    bad_file = owner_api.post(f"{API}/knowledge-bases/{kb_id}/documents/", {"file": SimpleUploadedFile("a.exe", b"MZ")})
    assert bad_file.status_code == 400
    listing = owner_api.get(f"{API}/knowledge-bases/{kb_id}/documents/").json()
    assert {d["title"] for d in listing} == {"FAQ", "Tem Pix?"}
    doc_id = upload.json()["id"]
    status = owner_api.get(f"{API}/documents/{doc_id}/").json()
    assert status["status"] == "pending" and status["progress"] == 0
    assert owner_api.delete(f"{API}/documents/{doc_id}/").status_code == 204
    connection.set_tenant(tenant)
    assert not Document.objects.filter(pk=doc_id).exists()


def test_playground_reply(owner_api, persona):
    connection.set_schema_to_public()
    response = owner_api.post(
        f"{API}/personas/{persona.pk}/playground/",
        {"messages": [{"role": "customer", "text": "Em quantos dias chega em Campinas?"}]},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert "Campinas" in body["reply"] and body["handoff"] is None
    assert body["chunks"][0]["heading"].endswith("Prazo de entrega") and body["chunks"][0]["score"] > 0
    assert body["prompt_chars"] > 0 and body["tokens_in"] > 0 and float(body["cost"]) > 0
    handoff = owner_api.post(
        f"{API}/personas/{persona.pk}/playground/",
        {"messages": [{"role": "customer", "text": "quero falar com um humano"}]},
        content_type="application/json",
    ).json()
    assert handoff["handoff"]["reason"] == "asked_for_human"
    assert (
        owner_api.post(
            f"{API}/personas/{persona.pk}/playground/", {"messages": []}, content_type="application/json"
        ).status_code
        == 400
    )


def test_usage(owner_api, persona):
    from ai_personas.usage import usage_add

    usage_add(persona_id=persona.pk, tokens_in=100, tokens_out=20, replies=1)
    connection.set_schema_to_public()
    rows = owner_api.get(f"{API}/usage/").json()
    assert rows[0]["persona_name"] == "Lia" and rows[0]["tokens_in"] == 100 and rows[0]["replies"] == 1
    assert owner_api.get(f"{API}/usage/?since=ontem").status_code == 400


def test_viewer_reads_but_cannot_write_or_use_the_playground(viewer_api, persona, kb):
    connection.set_schema_to_public()
    assert viewer_api.get(f"{API}/personas/").status_code == 200
    assert viewer_api.get(f"{API}/knowledge-bases/").status_code == 200
    assert viewer_api.post(f"{API}/personas/", {"name": "X"}, content_type="application/json").status_code == 403
    assert viewer_api.post(f"{API}/knowledge-bases/", {"name": "X"}, content_type="application/json").status_code == 403
    response = viewer_api.post(
        f"{API}/personas/{persona.pk}/playground/",
        {"messages": [{"role": "customer", "text": "oi"}]},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_other_company_sees_nothing(tenant_client_factory, make_member, other_company, persona, kb):
    outsider = tenant_client_factory(other_company, make_member("owner", company=other_company, email="o@other.test"))
    connection.set_schema_to_public()
    assert outsider.get(f"{API}/personas/").json() == []
    assert outsider.get(f"{API}/knowledge-bases/").json() == []
    assert outsider.get(f"{API}/personas/{persona.pk}/").status_code == 404
    assert outsider.get(f"{API}/knowledge-bases/{kb.pk}/documents/").status_code == 404
    from tenants.models import Company

    connection.set_tenant(Company.objects.get(slug="acme"))
    doc_id = Document.objects.values_list("pk", flat=True).first()
    connection.set_schema_to_public()
    assert outsider.get(f"{API}/documents/{doc_id}/").status_code == 404
    assert (
        outsider.post(
            f"{API}/personas/{persona.pk}/playground/",
            {"messages": [{"role": "customer", "text": "oi"}]},
            content_type="application/json",
        ).status_code
        == 404
    )


def test_schema_lists_the_ai_endpoints(owner_api):
    schema = owner_api.get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/ai/personas/",
        "/api/v1/ai/personas/{id}/playground/",
        "/api/v1/ai/knowledge-bases/{id}/documents/",
        "/api/v1/ai/documents/{id}/",
        "/api/v1/ai/usage/",
    ):
        assert path in paths, path
    assert KnowledgeBase  # imported for the reader: the models behind these paths
