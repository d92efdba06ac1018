"""Pages: the board with its columns, more cards on scroll, moves (drag and drop endpoint and
the drawer's menu), the drawer, suggestions, settings, the AI audit, saved views; roles and
tenant isolation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kanban import services
from kanban.models import Card, SavedView


@pytest.fixture
def cards(pipeline, stages):
    return [
        services.card_create(pipeline=pipeline, title=f"Lead {i}", stage=stages[0], value=100 + i) for i in range(30)
    ]


def test_board_shows_columns_counts_and_first_page(owner_client, pipeline, cards, stages):
    response = owner_client.get(reverse("kanban:board", args=[pipeline.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('data-testid="card"') == 25
    assert "data-more" in body
    assert "sortable.min.js" in body
    more = owner_client.get(
        reverse("kanban:column", args=[pipeline.pk, stages[0].pk]),
        {"after": response.context["columns"][0].cards[-1]["rank"]},
    )
    assert more.content.decode().count('data-testid="card"') == 5


def test_board_queries_do_not_grow_with_cards(owner_client, pipeline, cards, django_assert_max_num_queries):
    with django_assert_max_num_queries(30):
        assert owner_client.get(reverse("kanban:board", args=[pipeline.pk])).status_code == 200


def test_boards_redirects_to_the_only_pipeline(owner_client, pipeline):
    response = owner_client.get(reverse("kanban:boards"))
    assert response.status_code == 302 and response["Location"].endswith(f"/pipelines/{pipeline.pk}/")


def test_filters_and_search(owner_client, pipeline, cards):
    response = owner_client.get(reverse("kanban:board", args=[pipeline.pk]), {"q": "Lead 7", "value_min": "abc"})
    assert response.status_code == 200
    assert response.context["columns"][0].count == 1


def test_move_endpoint(owner_client, pipeline, cards, stages):
    response = owner_client.post(reverse("kanban:card-move", args=[cards[0].pk]), {"stage": stages[1].pk, "after": ""})
    assert response.status_code == 200 and response.json()["stage"] == stages[1].pk
    lost = stages[5]
    refused = owner_client.post(reverse("kanban:card-move", args=[cards[0].pk]), {"stage": lost.pk})
    assert refused.status_code == 400 and refused.json()["error"]
    bad = owner_client.post(reverse("kanban:card-move", args=[cards[0].pk]), {"stage": "x"})
    assert bad.status_code == 400


def test_drawer_and_note(owner_client, pipeline, make_contact):
    card = services.card_create(pipeline=pipeline, contact=make_contact("Ana"))
    response = owner_client.get(reverse("kanban:card", args=[card.pk]))
    assert response.status_code == 200 and "Ana" in response.content.decode()
    note = owner_client.post(
        reverse("kanban:card-note", args=[card.pk]), {"body": "Ligar amanhã"}, HTTP_HX_REQUEST="true"
    )
    assert "Ligar amanhã" in note.content.decode()


def test_card_new_and_saved_view(owner_client, pipeline, stages):
    owner_client.post(
        reverse("kanban:card-new", args=[pipeline.pk]), {"title": "Novo", "stage": stages[1].pk, "value": "10"}
    )
    assert Card.objects.filter(title="Novo", stage=stages[1]).exists()
    response = owner_client.post(
        reverse("kanban:view-save", args=[pipeline.pk]), {"name": "Grandes", "value_min": "500"}
    )
    view = SavedView.objects.get(name="Grandes")
    assert view.filters == {"value_min": "500"}
    page = owner_client.get(response["Location"])
    assert page.status_code == 200 and page.context["filters"]["value_min"] == 500


def test_settings_and_decisions_pages(owner_client, pipeline):
    assert owner_client.get(reverse("kanban:settings", args=[pipeline.pk])).status_code == 200
    response = owner_client.post(
        reverse("kanban:settings", args=[pipeline.pk]),
        {
            "name": "Vendas B2B",
            "currency": "BRL",
            "stalled_after_days": 5,
            "ai_enabled": "on",
            "ai_threshold": "0.7",
            "ai_override_minutes": 30,
            "card_fields": ["value", "phone"],
            "won_reasons": "Preço\nAtendimento",
            "lost_reasons": "Caro",
        },
    )
    assert response.status_code == 302
    pipeline.refresh_from_db()
    assert pipeline.name == "Vendas B2B" and pipeline.ai_enabled and pipeline.card_fields == ["value", "phone"]
    assert list(pipeline.reasons.filter(kind="lost").values_list("label", flat=True)) == ["Caro"]
    assert owner_client.get(reverse("kanban:decisions", args=[pipeline.pk])).status_code == 200


def test_viewer_cannot_move_or_configure(tenant_client_factory, acme, make_member, pipeline, cards, stages):
    viewer = tenant_client_factory(acme, make_member("viewer", email="viewer@acme.test"))
    assert viewer.get(reverse("kanban:board", args=[pipeline.pk])).status_code == 200
    assert viewer.post(reverse("kanban:card-move", args=[cards[0].pk]), {"stage": stages[1].pk}).status_code == 403
    assert viewer.get(reverse("kanban:settings", args=[pipeline.pk])).status_code == 403


def test_another_company_sees_nothing(tenant_client_factory, other_company, make_member, pipeline, cards, stages):
    from django.db import connection

    stranger = make_member("owner", company=other_company, email="boss@other.test")
    client = tenant_client_factory(other_company, stranger)
    connection.set_schema_to_public()
    assert client.get(reverse("kanban:board", args=[pipeline.pk])).status_code == 404
    assert client.get(reverse("kanban:card", args=[cards[0].pk])).status_code == 404
    assert client.post(reverse("kanban:card-move", args=[cards[0].pk]), {"stage": stages[1].pk}).status_code == 404


def test_card_from_conversation_and_ai_reason_on_the_tile(owner_client, pipeline, stages, conversation):
    from kanban.models import ActorKind

    owner_client.post(reverse("kanban:card-new", args=[pipeline.pk]), {"conversation": conversation.pk, "title": ""})
    card = Card.objects.get(conversation=conversation)
    services.card_move(card=card, stage=stages[2], actor=ActorKind.AI, reason="Pediu o preço")
    tile = owner_client.get(reverse("kanban:card-tile", args=[card.pk])).content.decode()
    assert "Pediu o preço" in tile and "data-ai-moved" in tile
