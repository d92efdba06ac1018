"""The inbox pages: list filters, thread, composer window, actions, roles and tenant isolation."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from django.db import connection
from django.utils import timezone

from inbox import views
from inbox.models import (
    CannedResponse,
    Channel,
    ChannelKind,
    ChannelStatus,
    Conversation,
    ConversationStatus,
    Direction,
    Label,
    Message,
    MessageKind,
    MessageStatus,
)

_phones = count(10000000)


def make_channel(kind=ChannelKind.SANDBOX, name="Sandbox"):
    return Channel.objects.create(
        kind=kind, name=name, status=ChannelStatus.CONNECTED, config={"phone": "+5511900000000"}
    )


def make_conversation(
    channel, *, name="Maria Souza", status=ConversationStatus.OPEN, assignee=None, inbound_ago=None, **extra
):
    from crm.models import Contact

    contact = Contact.objects.create(name=name, phone=f"+55119{next(_phones)}")
    now = timezone.now()
    last_inbound = now - inbound_ago if inbound_ago is not None else now - timedelta(minutes=5)
    return Conversation.objects.create(
        channel=channel,
        contact=contact,
        status=status,
        assignee=assignee,
        last_message_at=extra.pop("last_message_at", now),
        last_inbound_at=last_inbound,
        last_message_preview=extra.pop("preview", "Olá, tudo bem?"),
        **extra,
    )


def add_message(conversation, *, direction=Direction.INBOUND, body="Oi", status=None, kind=MessageKind.TEXT, **extra):
    status = status or (MessageStatus.RECEIVED if direction == Direction.INBOUND else MessageStatus.SENT)
    return Message.objects.create(
        conversation=conversation,
        channel=conversation.channel,
        direction=direction,
        kind=kind,
        body=body,
        status=status,
        **extra,
    )


@pytest.fixture
def agent(make_member):
    return make_member("agent", email="agent@acme.test")


@pytest.fixture
def viewer(make_member):
    return make_member("viewer", email="viewer@acme.test")


@pytest.fixture
def agent_client(tenant_client_factory, acme, agent):
    return tenant_client_factory(acme, agent)


@pytest.fixture
def sandbox(tenant):
    return make_channel()


def _in_acme(acme):
    connection.set_tenant(acme)


# --- the page and the list ------------------------------------------------------------------
def test_inbox_lists_conversations_with_counts(agent_client, sandbox, agent, acme):
    mine = make_conversation(sandbox, name="Ana Lima", assignee=agent, unread_count=2)
    make_conversation(sandbox, name="Bruno Dias")
    make_conversation(sandbox, name="Carla Reis", status=ConversationStatus.RESOLVED)

    response = agent_client.get("/inbox/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Ana Lima" in html and "Bruno Dias" in html
    assert "Carla Reis" not in html  # resolved leaves the work queue
    counts = response.context["counts"]
    assert counts["all"] == 2 and counts["mine"] == 1 and counts["unassigned"] == 1
    assert counts["unread_mine"] == 1
    assert f'data-conversation-row="{mine.pk}"' in html


@pytest.mark.parametrize(
    "query, expected",
    [
        ("view=mine", {"Ana Lima"}),
        ("view=unassigned", {"Bruno Dias"}),
        ("status=resolved", {"Carla Reis"}),
        ("status=snoozed", {"Davi Melo"}),
        ("status=any", {"Ana Lima", "Bruno Dias", "Carla Reis", "Davi Melo", "Elza Rocha"}),
        ("q=bruno", {"Bruno Dias"}),
        ("q=ROCHA", {"Elza Rocha"}),
    ],
)
def test_list_filters(agent_client, sandbox, agent, query, expected):
    make_conversation(sandbox, name="Ana Lima", assignee=agent)
    make_conversation(sandbox, name="Bruno Dias")
    make_conversation(sandbox, name="Carla Reis", status=ConversationStatus.RESOLVED)
    make_conversation(sandbox, name="Davi Melo", status=ConversationStatus.SNOOZED)
    sms = make_channel(ChannelKind.SMS, "SMS")
    make_conversation(sms, name="Elza Rocha", status=ConversationStatus.PENDING, assignee=agent)
    if query == "view=mine":
        expected = expected | {"Elza Rocha"}

    response = agent_client.get(f"/inbox/list/?{query}")

    assert response.status_code == 200
    names = {c.contact.name for c in response.context["conversations"]}
    assert names == expected


def test_filter_by_channel_label_and_phone_search(agent_client, sandbox):
    sms = make_channel(ChannelKind.SMS, "SMS")
    vip = Label.objects.create(name="VIP")
    on_sms = make_conversation(sms, name="Fabio Sms")
    labelled = make_conversation(sandbox, name="Gina Vip")
    labelled.labels.add(vip)
    make_conversation(sandbox, name="Hugo Outro")

    by_channel = agent_client.get(f"/inbox/list/?channel={sms.pk}").context["conversations"]
    by_label = agent_client.get(f"/inbox/list/?label={vip.pk}").context["conversations"]
    digits = on_sms.contact.phone[-8:]
    by_phone = agent_client.get(f"/inbox/list/?q=({digits[:4]}) {digits[4:]}").context["conversations"]

    assert [c.pk for c in by_channel] == [on_sms.pk]
    assert [c.pk for c in by_label] == [labelled.pk]
    assert [c.pk for c in by_phone] == [on_sms.pk]


def test_list_query_count_does_not_grow_with_rows(agent_client, sandbox, agent, django_assert_max_num_queries):
    label = Label.objects.create(name="Urgente")
    for i in range(30):
        conversation = make_conversation(sandbox, name=f"Cliente {i}", assignee=agent if i % 2 else None)
        conversation.labels.add(label)

    # session + user + membership, counts, rows, labels prefetch (+ savepoint noise)
    with django_assert_max_num_queries(8):
        response = agent_client.get("/inbox/list/")
    assert len(response.context["conversations"]) == 30


def test_inbox_page_query_count(agent_client, sandbox, agent, django_assert_max_num_queries):
    for i in range(20):
        make_conversation(sandbox, name=f"Cliente {i}", assignee=agent)
    conversation = make_conversation(sandbox, name="Aberta")
    for i in range(40):
        add_message(conversation, body=f"mensagem {i}", direction=Direction.INBOUND if i % 2 else Direction.OUTBOUND)

    with django_assert_max_num_queries(22):
        response = agent_client.get(f"/inbox/c/{conversation.pk}/")
    assert response.status_code == 200
    assert len(response.context["thread"]) == 40


def test_list_pagination_with_before(agent_client, sandbox):
    now = timezone.now()
    for i in range(views.PAGE_SIZE + 5):
        make_conversation(sandbox, name=f"P{i:03d}", last_message_at=now - timedelta(minutes=i))

    first = agent_client.get("/inbox/list/")
    assert first.context["has_more_conversations"]
    last = first.context["conversations"][-1]
    more = agent_client.get("/inbox/list/", {"before": last.last_message_at.isoformat()})

    assert len(more.context["conversations"]) == 5
    assert {c.pk for c in more.context["conversations"]}.isdisjoint({c.pk for c in first.context["conversations"]})


# --- the conversation ----------------------------------------------------------------------
def test_thread_shows_ticks_media_notes_and_failure_reason(agent_client, sandbox, agent):
    conversation = make_conversation(sandbox)
    add_message(conversation, body="Bom dia")
    sent = add_message(
        conversation, direction=Direction.OUTBOUND, body="Olá!", status=MessageStatus.SENT, sent_by=agent
    )
    delivered = add_message(conversation, direction=Direction.OUTBOUND, body="a", status=MessageStatus.DELIVERED)
    read = add_message(conversation, direction=Direction.OUTBOUND, body="b", status=MessageStatus.READ)
    failed = add_message(
        conversation,
        direction=Direction.OUTBOUND,
        body="c",
        status=MessageStatus.FAILED,
        error_code="131047",
        error_title="Re-engagement message",
        error_details="More than 24 hours have passed since the recipient last replied.",
    )
    add_message(conversation, direction=Direction.OUTBOUND, kind=MessageKind.NOTE, body="Cliente VIP", sent_by=agent)

    html = agent_client.get(f"/inbox/c/{conversation.pk}/").content.decode()

    assert f'id="m-{sent.pk}"' in html
    for message, tick in ((sent, "sent"), (delivered, "delivered"), (read, "read"), (failed, "failed")):
        fragment = html.split(f'id="m-{message.pk}"')[1].split("</li>")[0]
        assert f'data-tick="{tick}"' in fragment
    assert "131047" in html and "Re-engagement message" in html and "More than 24 hours" in html
    assert 'data-kind="note"' in html and "Cliente VIP" in html


def test_composer_shows_time_left_inside_the_window(agent_client, sandbox):
    conversation = make_conversation(sandbox, inbound_ago=timedelta(hours=20))

    response = agent_client.get(f"/inbox/c/{conversation.pk}/")

    html = response.content.decode()
    assert response.context["window"]["open"]
    assert 3 * 3600 < response.context["window"]["seconds_left"] <= 4 * 3600
    assert "data-composer-input" in html and "data-window-closed" not in html


def test_composer_outside_the_window_disables_free_text_and_says_why(agent_client, sandbox):
    conversation = make_conversation(sandbox, inbound_ago=timedelta(hours=25))

    html = agent_client.get(f"/inbox/c/{conversation.pk}/").content.decode()

    assert "data-window-closed" in html
    assert "data-composer-input" not in html
    assert "Message templates are not available yet" in html
    assert "data-note-input" in html  # notes still work


def test_sms_has_no_window(agent_client, tenant):
    conversation = make_conversation(make_channel(ChannelKind.SMS, "SMS"), inbound_ago=timedelta(days=3))

    response = agent_client.get(f"/inbox/c/{conversation.pk}/")

    assert response.context["window"] == {"applies": False, "open": True}
    assert "data-composer-input" in response.content.decode()


def test_simulate_control_only_on_sandbox(agent_client, sandbox):
    on_sandbox = make_conversation(sandbox)
    on_sms = make_conversation(make_channel(ChannelKind.SMS, "SMS"))

    assert "data-simulate-form" in agent_client.get(f"/inbox/c/{on_sandbox.pk}/").content.decode()
    assert "data-simulate-form" not in agent_client.get(f"/inbox/c/{on_sms.pk}/").content.decode()
    response = agent_client.post(f"/inbox/c/{on_sms.pk}/simulate/", {"body": "oi"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert response.json()["message"] == views.ERR_NOT_SANDBOX


def test_message_partials_after_and_by_id(agent_client, sandbox):
    conversation = make_conversation(sandbox)
    first = add_message(conversation, body="primeira")
    second = add_message(conversation, body="segunda")

    after = agent_client.get(f"/inbox/c/{conversation.pk}/messages/", {"after": first.pk}).content.decode()
    by_id = agent_client.get(f"/inbox/c/{conversation.pk}/messages/", {"id": [first.pk]}).content.decode()

    assert "segunda" in after and "primeira" not in after
    assert f'id="m-{first.pk}"' in by_id and str(second.pk) not in by_id


def test_older_messages_page(agent_client, sandbox):
    conversation = make_conversation(sandbox)
    messages = [add_message(conversation, body=f"m{i}") for i in range(views.THREAD_SIZE + 3)]

    page = agent_client.get(f"/inbox/c/{conversation.pk}/")
    assert page.context["has_more"]
    oldest_shown = page.context["thread"][0]
    older = agent_client.get(f"/inbox/c/{conversation.pk}/messages/", {"before": oldest_shown.pk})

    assert [m.pk for m in older.context["thread"]] == [m.pk for m in messages[:3]]


def test_canned_responses_by_shortcut(agent_client, tenant):
    CannedResponse.objects.create(shortcut="ola", title="Saudação", body="Olá! Como posso ajudar?")
    CannedResponse.objects.create(shortcut="pix", title="Chave Pix", body="Nossa chave Pix é ...")

    results = agent_client.get("/inbox/canned/", {"q": "/ol"}).json()["results"]

    assert [r["shortcut"] for r in results] == ["ola"]
    assert results[0]["body"].startswith("Olá!")


# --- roles and isolation -------------------------------------------------------------------
def test_anonymous_is_sent_to_login(tenant_client_factory, acme):
    response = tenant_client_factory(acme).get("/inbox/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_viewer_reads_but_cannot_act(tenant_client_factory, acme, viewer, sandbox):
    conversation = make_conversation(sandbox)
    client = tenant_client_factory(acme, viewer)

    page = client.get(f"/inbox/c/{conversation.pk}/")
    assert page.status_code == 200
    assert "data-read-only" in page.content.decode()
    for path, data in (
        ("send", {"body": "oi"}),
        ("note", {"body": "x"}),
        ("assign", {"agent": "me"}),
        ("status", {"action": "resolve"}),
        ("labels", {}),
        ("contact", {"name": "X"}),
        ("simulate", {"body": "oi"}),
    ):
        assert client.post(f"/inbox/c/{conversation.pk}/{path}/", data).status_code == 403, path
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN and conversation.assignee_id is None
    assert not Message.objects.filter(conversation=conversation).exists()


def test_member_of_other_company_gets_404(tenant_client_factory, acme, other_company, make_member):
    stranger = make_member("owner", company=other_company, email="boss@other.test")
    response = tenant_client_factory(acme, stranger).get("/inbox/")
    assert response.status_code == 404


def test_conversations_never_cross_companies(tenant_client_factory, acme, other_company, make_member):
    # given a conversation in acme and an owner of other
    connection.set_tenant(acme)
    acme_conversation = make_conversation(make_channel(), name="Segredo da Acme")
    connection.set_tenant(other_company)
    other_conversation = make_conversation(make_channel(), name="Cliente da Other")
    connection.set_schema_to_public()
    other_owner = make_member("owner", company=other_company, email="owner@other.test")
    client = tenant_client_factory(other_company, other_owner)

    # then other's inbox lists only its own conversation, and acme's ids do not resolve there
    listing = client.get("/inbox/?status=any").content.decode()
    assert "Cliente da Other" in listing and "Segredo da Acme" not in listing
    if acme_conversation.pk != other_conversation.pk:
        assert client.get(f"/inbox/c/{acme_conversation.pk}/").status_code == 404
        assert client.get(f"/inbox/c/{acme_conversation.pk}/messages/").status_code == 404
        assert client.post(f"/inbox/c/{acme_conversation.pk}/status/", {"action": "resolve"}).status_code == 404


def test_media_is_served_to_members_only(tenant_client_factory, acme, agent, sandbox, make_member, other_company):
    from django.core.files.base import ContentFile

    conversation = make_conversation(sandbox)
    message = add_message(
        conversation, kind=MessageKind.DOCUMENT, body="", media_mime="application/pdf", media_filename="boleto.pdf"
    )
    message.media.save("boleto.pdf", ContentFile(b"%PDF-1.4 test"), save=True)
    url = f"/inbox/c/{conversation.pk}/messages/{message.pk}/media/"

    ok = tenant_client_factory(acme, agent).get(url)
    assert ok.status_code == 200 and b"".join(ok.streaming_content) == b"%PDF-1.4 test"
    assert ok["Content-Type"] == "application/pdf"
    assert tenant_client_factory(acme).get(url).status_code == 302
    stranger = make_member("owner", company=other_company, email="x@other.test")
    assert tenant_client_factory(acme, stranger).get(url).status_code == 404
    # the wrong conversation id does not reach the file either
    assert (
        tenant_client_factory(acme, agent)
        .get(f"/inbox/c/{conversation.pk + 999}/messages/{message.pk}/media/")
        .status_code
        == 404
    )
