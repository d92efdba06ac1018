"""Kanban API: pipelines, stages, cards (create, update, move with a position, bulk), history and
AI decisions; roles; tenant isolation of every endpoint; the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.db import connection

from kanban import services
from kanban.models import AIDecision, Card, DecisionOutcome

API = "/api/v1/kanban"


@pytest.fixture
def agent(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("agent", email="agent@api.test"))


@pytest.fixture
def viewer(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("viewer", email="viewer@api.test"))


def _json(client, method, path, data=None):
    return getattr(client, method)(path, data, content_type="application/json")


def test_pipelines_and_stages(owner_client, agent, pipeline):
    listed = owner_client.get(f"{API}/pipelines/").json()
    assert listed["results"][0]["name"] == "Vendas"
    made = _json(owner_client, "post", f"{API}/pipelines/", {"name": "Pós-venda", "stages": [{"name": "Aberto"}]})
    assert made.status_code == 201 and [s["name"] for s in made.json()["stages"]] == ["Aberto"]
    stage = _json(owner_client, "post", f"{API}/pipelines/{pipeline.pk}/stages/", {"name": "Demo"})
    assert stage.status_code == 201
    assert _json(agent, "post", f"{API}/pipelines/", {"name": "X"}).status_code == 403


def test_cards_create_update_move_history(agent, pipeline, stages, make_contact):
    contact = make_contact("Bia")
    made = _json(agent, "post", f"{API}/cards/", {"pipeline": pipeline.pk, "contact": contact.pk, "value": "250.00"})
    assert made.status_code == 201 and made.json()["title"] == "Bia"
    card_id = made.json()["id"]
    other = services.card_create(pipeline=pipeline, title="Outro", stage=stages[1])
    updated = _json(agent, "patch", f"{API}/cards/{card_id}/", {"title": "Bia (loja)", "value": "300"})
    assert updated.status_code == 200 and updated.json()["value"] == "300.00"
    moved = _json(agent, "post", f"{API}/cards/{card_id}/move/", {"stage": stages[1].pk, "after": other.pk})
    assert moved.status_code == 200 and moved.json()["stage"] == stages[1].pk
    assert moved.json()["rank"] > other.rank
    refused = _json(agent, "post", f"{API}/cards/{card_id}/move/", {"stage": stages[4].pk})
    assert refused.status_code == 400
    history = agent.get(f"{API}/cards/{card_id}/history/").json()
    assert [h["to_stage"] for h in history] == [stages[1].pk, stages[0].pk]
    listed = agent.get(f"{API}/cards/", {"pipeline": pipeline.pk}).json()
    assert {c["id"] for c in listed["results"]} == {card_id, other.pk}


def test_bulk_create(agent, pipeline, make_contact):
    ids = [make_contact().pk for _ in range(5)]
    response = _json(agent, "post", f"{API}/cards/bulk/", {"pipeline": pipeline.pk, "contacts": ids})
    assert response.status_code == 201 and response.json() == {"created": 5}
    everyone = _json(agent, "post", f"{API}/cards/bulk/", {"pipeline": pipeline.pk, "filters": {}})
    assert everyone.status_code == 201 and everyone.json() == {"created": 0}


def test_ai_decisions_and_suggestion_accept(agent, pipeline, stages):
    card = services.card_create(pipeline=pipeline, title="A")
    decision = AIDecision.objects.create(
        card=card, pipeline=pipeline, outcome=DecisionOutcome.SUGGESTED, from_stage=stages[0], stage=stages[2]
    )
    assert agent.get(f"{API}/cards/{card.pk}/ai-decisions/").json()[0]["id"] == decision.pk
    assert agent.get(f"{API}/pipelines/{pipeline.pk}/ai-decisions/").json()[0]["id"] == decision.pk
    accepted = agent.post(f"{API}/cards/{card.pk}/ai-decisions/{decision.pk}/accept/")
    assert accepted.status_code == 200 and accepted.json()["outcome"] == "accepted"
    assert Card.objects.get(pk=card.pk).stage_id == stages[2].pk


def test_viewer_reads_only(viewer, pipeline, stages):
    card = services.card_create(pipeline=pipeline, title="A")
    assert viewer.get(f"{API}/cards/{card.pk}/").status_code == 200
    assert _json(viewer, "post", f"{API}/cards/{card.pk}/move/", {"stage": stages[1].pk}).status_code == 403
    assert _json(viewer, "post", f"{API}/cards/", {"pipeline": pipeline.pk, "title": "x"}).status_code == 403


def test_every_endpoint_is_isolated(tenant_client_factory, other_company, make_member, pipeline, stages):
    card = services.card_create(pipeline=pipeline, title="Segredo")
    decision = AIDecision.objects.create(card=card, pipeline=pipeline, outcome="suggested", stage=stages[1])
    stranger = tenant_client_factory(other_company, make_member("owner", company=other_company, email="o@other.test"))
    connection.set_schema_to_public()
    reads = [
        f"{API}/pipelines/{pipeline.pk}/",
        f"{API}/pipelines/{pipeline.pk}/ai-decisions/",
        f"{API}/cards/{card.pk}/",
        f"{API}/cards/{card.pk}/history/",
        f"{API}/cards/{card.pk}/ai-decisions/",
    ]
    for path in reads:
        assert stranger.get(path).status_code == 404, path
    assert stranger.get(f"{API}/cards/").json()["results"] == []
    assert stranger.get(f"{API}/pipelines/").json()["results"] == []
    writes = [
        ("post", f"{API}/cards/{card.pk}/move/", {"stage": stages[1].pk}),
        ("patch", f"{API}/cards/{card.pk}/", {"title": "x"}),
        ("post", f"{API}/cards/", {"pipeline": pipeline.pk, "title": "x"}),
        ("post", f"{API}/cards/bulk/", {"pipeline": pipeline.pk, "contacts": [1]}),
        ("post", f"{API}/pipelines/{pipeline.pk}/stages/", {"name": "x"}),
        ("post", f"{API}/cards/{card.pk}/ai-decisions/{decision.pk}/accept/", None),
    ]
    for method, path, data in writes:
        assert _json(stranger, method, path, data).status_code == 404, path
    anonymous = tenant_client_factory(other_company)
    assert anonymous.get(f"{API}/cards/").status_code in (401, 403)


def test_the_schema_documents_kanban(owner_client):
    paths = owner_client.get("/api/v1/schema/?format=json").json()["paths"]
    for path in (
        "/api/v1/kanban/pipelines/",
        "/api/v1/kanban/cards/",
        "/api/v1/kanban/cards/{id}/move/",
        "/api/v1/kanban/cards/bulk/",
        "/api/v1/kanban/cards/{id}/history/",
        "/api/v1/kanban/cards/{id}/ai-decisions/",
    ):
        assert path in paths, path
