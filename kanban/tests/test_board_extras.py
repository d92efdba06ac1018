"""What the board does besides columns: "Create card(s)" from the CRM and the inbox (linked
through ``ui.record_links``), the owner filter by member, custom fields in the drawer and on
the tile, a live tile under the board's filters, and the cost of a move."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kanban import services
from kanban.models import Card, CardMove


@pytest.fixture
def viewer_client(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("viewer", email="viewer@acme.test"))


@pytest.fixture
def field(tenant):
    from crm.models import CustomFieldDefinition

    return CustomFieldDefinition.objects.create(key="orcamento", label="Orçamento", field_type="number")


# --- "Create card(s)" from the CRM and the inbox ------------------------------------------------


def test_contact_page_links_to_create_a_card(owner_client, viewer_client, pipeline, make_contact):
    contact = make_contact("Ana")
    page = owner_client.get(reverse("crm:contact", args=[contact.pk])).content.decode()
    assert 'data-testid="record-link-kanban-card"' in page
    assert f'href="{reverse("kanban:cards-create")}?contact={contact.pk}"' in page
    assert (
        "record-link-kanban-card" not in viewer_client.get(reverse("crm:contact", args=[contact.pk])).content.decode()
    )


def test_conversation_panel_links_to_create_a_card(owner_client, pipeline, conversation):
    page = owner_client.get(reverse("inbox:conversation", args=[conversation.pk])).content.decode()
    assert f'href="{reverse("kanban:cards-create")}?conversation={conversation.pk}"' in page


def test_contact_list_bulk_bar_links_to_create_cards(owner_client, viewer_client, pipeline, make_contact):
    make_contact("Ana")
    page = owner_client.get("/contacts/?q=Ana").content.decode()
    assert 'data-testid="bulk-link-kanban-cards"' in page
    assert f'action="{reverse("kanban:cards-create")}"' in page
    assert "bulk-link-kanban-cards" not in viewer_client.get("/contacts/").content.decode()


def test_create_a_card_for_a_contact(owner_client, pipeline, stages, make_contact):
    contact = make_contact("Ana")
    url = reverse("kanban:cards-create")
    form = owner_client.get(url, {"contact": contact.pk})
    assert form.status_code == 200 and 'data-testid="create-stage"' in form.content.decode()
    response = owner_client.post(url, {"contact": contact.pk, "stage": stages[1].pk, "title": "", "value": "1500"})
    assert response.status_code == 302 and response["Location"].endswith(f"/pipelines/{pipeline.pk}/")
    card = Card.objects.get(contact=contact)
    assert (card.stage_id, card.title, card.value) == (stages[1].pk, "Ana", 1500)


def test_create_a_card_for_a_conversation(owner_client, pipeline, stages, conversation):
    response = owner_client.post(
        reverse("kanban:cards-create"), {"conversation": conversation.pk, "stage": stages[0].pk}
    )
    assert response.status_code == 302
    card = Card.objects.get(conversation=conversation)
    assert card.contact_id == conversation.contact_id


def test_create_cards_for_a_selection_and_for_all_matching(owner_client, pipeline, stages, make_contact):
    a, b, c = make_contact("Ana"), make_contact("Bia"), make_contact("Caio")
    url = reverse("kanban:cards-create")
    page = owner_client.get(url, {"contact": [a.pk, b.pk]}).content.decode()
    assert 'data-testid="create-count"' in page and "2" in page
    owner_client.post(url, {"contact": [a.pk, b.pk], "stage": stages[0].pk})
    assert set(Card.objects.values_list("contact_id", flat=True)) == {a.pk, b.pk}
    # "all N matching" the list's search: Caio gets one, Ana keeps her only card
    owner_client.post(url, {"all": "1", "q": "Caio", "stage": stages[0].pk})
    owner_client.post(url, {"all": "1", "q": "Ana", "stage": stages[0].pk})
    assert Card.objects.filter(contact=c).count() == 1 and Card.objects.filter(contact=a).count() == 1


def test_create_cards_bad_input_changes_nothing(owner_client, pipeline, stages, make_contact, other_company):
    contact = make_contact("Ana")
    url = reverse("kanban:cards-create")
    nothing = owner_client.post(url, {"stage": stages[0].pk})
    assert nothing.status_code == 400 and 'data-testid="form-error"' in nothing.content.decode()
    for stage in ("", "abc", "99999999", "9" * 30):
        assert owner_client.post(url, {"contact": contact.pk, "stage": stage}).status_code == 400
    assert owner_client.get(url, {"contact": "9" * 40}).status_code == 200
    assert owner_client.post(url, {"all": "1", "created_from": "not-a-date", "stage": stages[0].pk}).status_code in (
        302,
        400,
    )
    assert not Card.objects.filter(contact=contact).exists()


def test_viewer_cannot_create_cards(viewer_client, pipeline, stages, make_contact):
    contact = make_contact("Ana")
    response = viewer_client.post(reverse("kanban:cards-create"), {"contact": contact.pk, "stage": stages[0].pk})
    assert response.status_code == 403 and not Card.objects.exists()


# --- the owner filter ---------------------------------------------------------------------------


def test_owner_filter_is_a_select_of_members_and_unassigned(owner_client, owner, pipeline, stages):
    owner.full_name = "Olga Dona"
    owner.save(update_fields=["full_name"])
    mine = services.card_create(pipeline=pipeline, title="Meu", stage=stages[0], owner_id=owner.pk)
    nobody = services.card_create(pipeline=pipeline, title="Sem dono", stage=stages[0])
    board = reverse("kanban:board", args=[pipeline.pk])
    page = owner_client.get(board).content.decode()
    assert 'data-testid="owner-filter"' in page and f'<option value="{owner.pk}" >Olga Dona</option>' in page
    assert '<option value="none"' in page
    assert [c["id"] for c in owner_client.get(board, {"owner": owner.pk}).context["columns"][0].cards] == [mine.pk]
    assert [c["id"] for c in owner_client.get(board, {"owner": "none"}).context["columns"][0].cards] == [nobody.pk]
    assert owner_client.get(board, {"owner": "x'--"}).status_code == 200


# --- custom fields ------------------------------------------------------------------------------


def test_drawer_edits_custom_fields_validated_like_the_crm(owner_client, pipeline, stages, field):
    card = services.card_create(pipeline=pipeline, title="Lead", stage=stages[0])
    drawer = owner_client.get(reverse("kanban:card", args=[card.pk])).content.decode()
    assert 'data-testid="card-fields-form"' in drawer and 'name="cf_orcamento"' in drawer
    url = reverse("kanban:card-fields", args=[card.pk])
    bad = owner_client.post(url, {"cf_orcamento": "muito"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Orçamento" in bad and 'value="muito"' in bad
    card.refresh_from_db()
    assert card.custom_fields == {}
    owner_client.post(url, {"cf_orcamento": "1.234,50"}, HTTP_HX_REQUEST="true")
    card.refresh_from_db()
    assert card.custom_fields == {"orcamento": 1234.5}


def test_tile_shows_the_custom_fields_the_pipeline_chose(owner_client, pipeline, stages, field):
    card = services.card_create(pipeline=pipeline, title="Lead", stage=stages[0], custom_fields={"orcamento": "900"})
    board = reverse("kanban:board", args=[pipeline.pk])
    assert "data-card-field" not in owner_client.get(board).content.decode()
    settings_page = owner_client.get(reverse("kanban:settings", args=[pipeline.pk])).content.decode()
    assert 'value="cf:orcamento"' in settings_page
    pipeline.card_fields = ["value", "cf:orcamento"]
    pipeline.save(update_fields=["card_fields"])
    page = owner_client.get(board).content.decode()
    assert "Orçamento: 900" in page
    assert card.custom_fields == {"orcamento": 900}


def test_api_refuses_a_bad_custom_field(pipeline, stages, field):
    from kanban.services import CardError

    with pytest.raises(CardError):
        services.card_create(pipeline=pipeline, title="Lead", custom_fields={"orcamento": "muito"})
    with pytest.raises(CardError):
        services.card_create(pipeline=pipeline, title="Lead", custom_fields={"nao_existe": "1"})


# --- live tiles under the board's filters -------------------------------------------------------


def test_live_tile_is_left_out_when_the_filters_exclude_it(owner_client, pipeline, stages):
    small = services.card_create(pipeline=pipeline, title="Pequeno", stage=stages[0], value=10)
    big = services.card_create(pipeline=pipeline, title="Grande", stage=stages[0], value=5000)
    assert owner_client.get(reverse("kanban:card-tile", args=[small.pk]), {"value_min": "1000"}).status_code == 204
    shown = owner_client.get(reverse("kanban:card-tile", args=[big.pk]), {"value_min": "1000"})
    assert shown.status_code == 200 and f'id="card-{big.pk}"' in shown.content.decode()
    assert owner_client.get(reverse("kanban:card-tile", args=[small.pk])).status_code == 200
    board = owner_client.get(reverse("kanban:board", args=[pipeline.pk]), {"value_min": "1000"}).content.decode()
    assert f"{reverse('kanban:card-tile', args=[0])}?value_min=1000" in board


# --- the cost of a move -------------------------------------------------------------------------


def test_a_move_is_few_statements_with_history_and_timeline(owner_client, pipeline, stages, make_contact):
    from crm.models import TimelineEvent

    card = services.card_create(pipeline=pipeline, contact=make_contact("Ana"), stage=stages[0])
    url = reverse("kanban:card-move", args=[card.pk])
    owner_client.post(url, {"stage": stages[0].pk})  # warm the session and the caches
    with CaptureQueriesContext(connection) as ctx:
        assert owner_client.post(url, {"stage": stages[1].pk}).status_code == 200
    ours = [q["sql"] for q in ctx.captured_queries if "kanban_" in q["sql"]]
    assert len(ours) <= 4, ours  # lock, stages, rank, one write
    move = CardMove.objects.filter(card=card).order_by("-id").first()
    assert (move.from_stage_id, move.to_stage_id, move.actor_kind) == (stages[0].pk, stages[1].pk, "person")
    event = TimelineEvent.objects.filter(contact_id=card.contact_id, kind="kanban.moved").get()
    assert event.data["from"] == stages[0].name and event.data["to"] == stages[1].name
    # a reorder inside the column is no history
    owner_client.post(url, {"stage": stages[1].pk})
    assert CardMove.objects.filter(card=card).count() == 2
    assert TimelineEvent.objects.filter(contact_id=card.contact_id, kind="kanban.moved").count() == 1
