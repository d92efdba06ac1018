"""The inbox pages: list filters, thread, composer window, actions, roles and tenant isolation."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from django.db import connection
from django.utils import timezone

from inbox import selectors, services
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
from inbox.views import inbox as views

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
    from django.conf import settings

    client = tenant_client_factory(acme, agent)
    # The messages asserted below are the English msgids; acme's default language is pt-BR.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


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
    inbox_part = html[html.index('id="inbox"') : html.index('id="inbox-toast"')]
    assert "{#" not in inbox_part and "{%" not in inbox_part  # no template syntax leaks into the page


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


def test_list_query_count_does_not_grow_with_rows(agent_client, sandbox, agent, query_count):
    label = Label.objects.create(name="Urgente")

    def add(n):
        for i in range(n):
            conversation = make_conversation(sandbox, name=f"Cliente {i}", assignee=agent if i % 2 else None)
            conversation.labels.add(label)

    add(2)
    # domain, session, user, membership, rows, labels prefetch, counts
    query_count.does_not_grow(agent_client, "/inbox/list/", grow=lambda: add(30), most=7)


def test_inbox_page_query_count_does_not_grow(agent_client, sandbox, agent, query_count):
    conversation = make_conversation(sandbox, name="Aberta", assignee=agent)
    make_conversation(sandbox, name="Outra")
    for i in range(3):
        add_message(conversation, body=f"m{i}", direction=Direction.OUTBOUND, sent_by=agent)

    def grow():
        for i in range(20):
            make_conversation(sandbox, name=f"Cliente {i}", assignee=agent)
        for i in range(40):
            direction = Direction.INBOUND if i % 2 else Direction.OUTBOUND
            add_message(conversation, body=f"mensagem {i}", direction=direction)

    query_count.does_not_grow(agent_client, f"/inbox/c/{conversation.pk}/", grow=grow, most=20)


def test_list_pagination_with_a_keyset_cursor(agent_client, sandbox):
    now = timezone.now()
    same_time = now - timedelta(hours=1)
    for i in range(views.PAGE_SIZE + 5):
        # many share one timestamp, and two have no message yet (they come first)
        at = None if i < 2 else (same_time if i % 3 == 0 else now - timedelta(minutes=i))
        make_conversation(sandbox, name=f"P{i:03d}", last_message_at=at)

    first = agent_client.get("/inbox/list/")
    assert first.context["has_more_conversations"]
    assert [c.last_message_at for c in first.context["conversations"][:2]] == [None, None]
    seen = [c.pk for c in first.context["conversations"]]
    more = agent_client.get("/inbox/list/", {"before": first.context["next_cursor"]})

    rest = [c.pk for c in more.context["conversations"]]
    assert len(rest) == 5 and not set(rest) & set(seen)
    assert len(set(seen + rest)) == views.PAGE_SIZE + 5
    assert not more.context["has_more_conversations"]
    assert agent_client.get("/inbox/list/", {"before": "garbage"}).status_code == 200


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
    assert f'href="/contacts/{conversation.contact_id}/"' in html  # the contact's CRM page


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
    assert 'data-testid="open-template-picker"' in html  # campaigns' template picker (inbox.extensions)
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
    assert response.json()["message"] == services.ERR_SANDBOX_ONLY


def test_message_partials_after_and_by_id(agent_client, sandbox):
    conversation = make_conversation(sandbox)
    first = add_message(conversation, body="primeira")
    second = add_message(conversation, body="segunda")

    after = agent_client.get(f"/inbox/c/{conversation.pk}/messages/", {"after": first.pk}).content.decode()
    by_id = agent_client.get(f"/inbox/c/{conversation.pk}/messages/", {"id": [first.pk]}).content.decode()

    assert "segunda" in after and "primeira" not in after
    assert f'id="m-{first.pk}"' in by_id and f'id="m-{second.pk}"' not in by_id


def test_older_messages_page(agent_client, sandbox):
    conversation = make_conversation(sandbox)
    messages = [add_message(conversation, body=f"m{i}") for i in range(selectors.THREAD_SIZE + 3)]

    page = agent_client.get(f"/inbox/c/{conversation.pk}/")
    assert page.context["has_more"]
    oldest_shown = page.context["thread"][0]
    older = agent_client.get(f"/inbox/c/{conversation.pk}/messages/", {"before": oldest_shown.pk})

    assert [m.pk for m in older.context["thread"]] == [m.pk for m in messages[:3]]
    assert not older.context["has_more"]


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
        ("send-file", {}),
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


# --- actions -------------------------------------------------------------------------------
def _post(client, path, data=None):
    return client.post(path, data or {}, HTTP_HX_REQUEST="true")


def test_reply_inside_the_window_queues_the_message_once(agent_client, sandbox, agent):
    conversation = make_conversation(sandbox)

    first = _post(agent_client, f"/inbox/c/{conversation.pk}/send/", {"body": "Olá, Maria!", "idempotency_key": "k-1"})
    retry = _post(agent_client, f"/inbox/c/{conversation.pk}/send/", {"body": "Olá, Maria!", "idempotency_key": "k-1"})

    assert first.status_code == 200 and first.json()["message"] == views.MSG_SENT
    assert retry.status_code == 200
    sent = Message.objects.filter(conversation=conversation, direction=Direction.OUTBOUND)
    assert sent.count() == 1
    message = sent.get()
    assert message.body == "Olá, Maria!" and message.sent_by_id == agent.pk
    assert f'id="m-{message.pk}"' in first.json()["html"] and 'data-tick="queued"' in first.json()["html"]


def test_reply_outside_the_window_is_refused(agent_client, sandbox):
    from inbox.services import ERR_OUTSIDE_WINDOW

    conversation = make_conversation(sandbox, inbound_ago=timedelta(hours=30))

    response = _post(agent_client, f"/inbox/c/{conversation.pk}/send/", {"body": "Oi?"})

    assert response.status_code == 400
    assert response.json()["message"] == ERR_OUTSIDE_WINDOW
    assert not Message.objects.filter(conversation=conversation).exists()


def test_empty_reply_is_refused(agent_client, sandbox):
    conversation = make_conversation(sandbox)
    response = _post(agent_client, f"/inbox/c/{conversation.pk}/send/", {"body": "   "})
    assert response.status_code == 400 and response.json()["message"] == services.ERR_TEXT_EMPTY
    assert not Message.objects.exists()


def test_reply_without_javascript_redirects_back_with_a_message(agent_client, sandbox):
    conversation = make_conversation(sandbox)
    response = agent_client.post(f"/inbox/c/{conversation.pk}/send/", {"body": "Oi"}, follow=True)
    assert response.redirect_chain[-1][0].endswith(f"/inbox/c/{conversation.pk}/")
    assert views.MSG_SENT in [str(m) for m in response.context["messages"]]


def test_private_note(agent_client, sandbox, agent):
    conversation = make_conversation(sandbox, inbound_ago=timedelta(days=2))  # notes ignore the window

    response = _post(agent_client, f"/inbox/c/{conversation.pk}/note/", {"body": "Ligar amanhã"})

    assert response.status_code == 200
    note = Message.objects.get(conversation=conversation)
    assert note.kind == MessageKind.NOTE and note.sent_by_id == agent.pk
    assert "Ligar amanhã" in response.json()["html"] and 'data-kind="note"' in response.json()["html"]


def test_assign_to_me_to_another_agent_and_unassign(agent_client, sandbox, agent, make_member, other_company):
    conversation = make_conversation(sandbox)
    colleague = make_member("agent", email="colega@acme.test")
    viewer = make_member("viewer", email="leitor@acme.test")
    outsider = make_member("agent", company=other_company, email="fora@other.test")
    url = f"/inbox/c/{conversation.pk}/assign/"

    assert _post(agent_client, url, {"agent": "me"}).status_code == 200
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent.pk
    assert _post(agent_client, url, {"agent": colleague.pk}).status_code == 200
    conversation.refresh_from_db()
    assert conversation.assignee_id == colleague.pk
    for bad in (viewer.pk, outsider.pk, "abc"):
        refused = _post(agent_client, url, {"agent": bad})
        assert refused.status_code == 400 and refused.json()["message"] == services.ERR_NOT_AN_AGENT
    conversation.refresh_from_db()
    assert conversation.assignee_id == colleague.pk
    assert _post(agent_client, url, {"agent": ""}).status_code == 200
    conversation.refresh_from_db()
    assert conversation.assignee_id is None


def test_resolve_snooze_reopen(agent_client, sandbox):
    conversation = make_conversation(sandbox)
    url = f"/inbox/c/{conversation.pk}/status/"

    assert _post(agent_client, url, {"action": "resolve"}).status_code == 200
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.RESOLVED
    assert _post(agent_client, url, {"action": "reopen"}).status_code == 200
    assert _post(agent_client, url, {"action": "snooze", "for": "4h"}).status_code == 200
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.SNOOZED
    assert timedelta(hours=3, minutes=59) < conversation.snoozed_until - timezone.now() <= timedelta(hours=4)
    bad = _post(agent_client, url, {"action": "snooze", "for": "forever"})
    assert bad.status_code == 400 and bad.json()["message"] == views.ERR_BAD_SNOOZE
    assert _post(agent_client, url, {"action": "explode"}).json()["message"] == views.ERR_BAD_STATUS
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.SNOOZED


def test_labels(agent_client, sandbox):
    conversation = make_conversation(sandbox)
    vip, sales = Label.objects.create(name="VIP"), Label.objects.create(name="Vendas")
    url = f"/inbox/c/{conversation.pk}/labels/"

    assert _post(agent_client, url, {"labels": [vip.pk, sales.pk]}).status_code == 200
    assert set(conversation.labels.values_list("pk", flat=True)) == {vip.pk, sales.pk}
    refused = _post(agent_client, url, {"labels": [vip.pk, 999999]})
    assert refused.status_code == 400 and refused.json()["message"] == views.ERR_UNKNOWN_LABEL
    assert set(conversation.labels.values_list("pk", flat=True)) == {vip.pk, sales.pk}
    assert _post(agent_client, url, {}).status_code == 200
    assert not conversation.labels.exists()


def test_edit_contact_name_email_and_tags(agent_client, sandbox):
    from crm.models import Tag

    conversation = make_conversation(sandbox, name="maria")
    old = Tag.objects.create(name="Lead")
    url = f"/inbox/c/{conversation.pk}/contact/"

    response = _post(
        agent_client,
        url,
        {"name": "Maria Souza", "email": "Maria@Exemplo.com.br", "tags": [old.pk], "new_tags": "Cliente, VIP"},
    )

    assert response.status_code == 200 and response.json()["message"] == views.MSG_CONTACT_SAVED
    contact = conversation.contact
    contact.refresh_from_db()
    assert contact.name == "Maria Souza" and contact.email == "maria@exemplo.com.br"
    assert {t.name for t in contact.tags} == {"Lead", "Cliente", "VIP"}

    bad_email = _post(agent_client, url, {"name": "X", "email": "not-an-email"})
    assert bad_email.status_code == 400 and bad_email.json()["message"] == views.ERR_BAD_EMAIL
    bad_tag = _post(agent_client, url, {"name": "X", "tags": [999999]})
    assert bad_tag.status_code == 400 and bad_tag.json()["message"] == views.ERR_UNKNOWN_TAG
    contact.refresh_from_db()
    assert contact.name == "Maria Souza"


def test_opening_marks_read(agent_client, sandbox):
    conversation = make_conversation(sandbox, unread_count=3)

    assert _post(agent_client, f"/inbox/c/{conversation.pk}/read/").status_code == 204

    conversation.refresh_from_db()
    assert conversation.unread_count == 0


def test_simulate_customer_reply_goes_through_the_webhook_path(agent_client, tenant):
    from inbox.models import WebhookEvent
    from inbox.services import channel_create

    sandbox = channel_create(kind=ChannelKind.SANDBOX, name="Sandbox")  # with its secret and route
    conversation = make_conversation(sandbox)

    response = _post(agent_client, f"/inbox/c/{conversation.pk}/simulate/", {"body": "Ainda tem o produto?"})

    assert response.status_code == 200 and response.json()["message"] == views.MSG_SIMULATED
    event = WebhookEvent.objects.get()
    assert event.channel_id == sandbox.pk and "Ainda tem o produto?" in str(event.payload)


def test_actions_emit_realtime_events_with_ids(agent_client, sandbox, agent):
    from inbox.models import RealtimeEvent

    conversation = make_conversation(sandbox)
    before = RealtimeEvent.objects.count()

    _post(agent_client, f"/inbox/c/{conversation.pk}/assign/", {"agent": "me"})
    _post(agent_client, f"/inbox/c/{conversation.pk}/note/", {"body": "nota"})

    kinds = list(RealtimeEvent.objects.order_by("id").values_list("type", "op", "conversation_id")[before:])
    assert ("conversation", "assigned", conversation.pk) in kinds
    assert ("message", "new", conversation.pk) in kinds


def test_tab_counts_follow_the_status_filter(agent_client, sandbox, agent):
    make_conversation(sandbox, name="Aberta", assignee=agent)
    make_conversation(sandbox, name="Resolvida 1", status=ConversationStatus.RESOLVED, unread_count=1)
    make_conversation(sandbox, name="Resolvida 2", status=ConversationStatus.RESOLVED, assignee=agent)

    counts = agent_client.get("/inbox/list/?status=resolved").context["counts"]

    assert counts == {"all": 2, "mine": 1, "unassigned": 1, "unread_all": 1, "unread_mine": 0, "unread_unassigned": 1}


def test_send_a_file_with_caption(agent_client, sandbox, agent):
    from django.core.files.uploadedfile import SimpleUploadedFile

    conversation = make_conversation(sandbox)
    upload = SimpleUploadedFile("orcamento.pdf", b"%PDF-1.4 proposta", content_type="application/pdf")

    response = agent_client.post(
        f"/inbox/c/{conversation.pk}/send-file/",
        {"file": upload, "caption": "Segue o orçamento", "idempotency_key": "f-1"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200 and response.json()["message"] == views.MSG_FILE_SENT
    message = Message.objects.get(conversation=conversation)
    assert message.kind == MessageKind.DOCUMENT and message.body == "Segue o orçamento"
    assert message.media_filename == "orcamento.pdf" and message.sent_by_id == agent.pk
    assert f"/inbox/c/{conversation.pk}/messages/{message.pk}/media/" in response.json()["html"]
    served = agent_client.get(f"/inbox/c/{conversation.pk}/messages/{message.pk}/media/")
    assert b"".join(served.streaming_content) == b"%PDF-1.4 proposta"


def test_send_file_refusals(agent_client, sandbox, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from inbox import services

    conversation = make_conversation(sandbox)
    url = f"/inbox/c/{conversation.pk}/send-file/"

    missing = _post(agent_client, url, {"caption": "sem arquivo"})
    assert missing.status_code == 400 and missing.json()["message"] == services.ERR_MEDIA_MISSING
    monkeypatch.setattr(services, "MAX_MEDIA_BYTES", 10)
    big = agent_client.post(
        url, {"file": SimpleUploadedFile("a.png", b"x" * 11, content_type="image/png")}, HTTP_HX_REQUEST="true"
    )
    assert big.status_code == 400 and big.json()["message"] == services.ERR_MEDIA_TOO_LARGE
    exe = agent_client.post(
        url,
        {"file": SimpleUploadedFile("a.exe", b"MZ", content_type="application/x-msdownload")},
        HTTP_HX_REQUEST="true",
    )
    assert exe.status_code == 400 and exe.json()["message"] == services.ERR_MEDIA_TYPE
    assert not Message.objects.filter(conversation=conversation).exists()


def test_header_and_panel_partials(agent_client, sandbox, agent):
    conversation = make_conversation(sandbox, name="Parcial", assignee=agent, status=ConversationStatus.PENDING)
    url = f"/inbox/c/{conversation.pk}/side/"

    header = agent_client.get(url, {"part": "header"}).content.decode()
    panel = agent_client.get(url, {"part": "panel"}).content.decode()
    pane = agent_client.get(f"/inbox/c/{conversation.pk}/pane/").content.decode()

    assert 'data-status="pending"' in header and f'data-assignee="{agent.pk}"' in header
    assert "data-contact-form" in panel and "Parcial" in panel
    assert "data-thread-list" in pane and "data-composer" in pane and "<html" not in pane
    assert agent_client.get(url, {"part": "everything"}).status_code == 404


def test_the_page_and_the_api_answer_the_same_search_alike(agent_client, sandbox):
    """One rule for the conversation list (inbox.selectors.conversation_list): name, e-mail,
    last message or phone digits, over the work queue unless a status is asked for."""
    ana = make_conversation(sandbox, name="Ana Lima", preview="Quero o orçamento de 20 caixas")
    ana.contact.email = "ana.lima@exemplo.com.br"
    ana.contact.save(update_fields=["email"])
    make_conversation(sandbox, name="Bruno Dias", preview="Bom dia")
    resolved = make_conversation(sandbox, name="Ana Antiga", status=ConversationStatus.RESOLVED)
    digits = ana.contact.phone[-8:]

    def page(**params):
        return [c.pk for c in agent_client.get("/inbox/list/", params).context["conversations"]]

    def api(**params):
        return [c["id"] for c in agent_client.get("/api/v1/inbox/conversations/", params).json()["results"]]

    for q in ("ana", "orçamento", "ana.lima@exemplo", f"{digits[:4]}-{digits[4:]}"):
        assert page(q=q) == api(q=q) == [ana.pk], q
    assert page(q="ana", status="any") == api(q="ana", status="any") == [resolved.pk, ana.pk]
    assert page(q="ana", status="resolved") == api(q="ana", status="resolved") == [resolved.pk]


def test_phones_are_written_as_people_do_in_the_list_thread_and_channels(agent_client, tenant):
    from crm.models import Contact

    channel = Channel.objects.create(
        kind=ChannelKind.WHATSAPP_CLOUD,
        name="Loja",
        status=ChannelStatus.CONNECTED,
        config={"phone_number_id": "1", "display_phone": "551130000000"},
    )
    contact = Contact.objects.create(name="", phone="+5511987654321")
    conversation = Conversation.objects.create(channel=channel, contact=contact, last_message_at=timezone.now())
    connection.set_schema_to_public()

    listing = agent_client.get("/inbox/").content.decode()
    assert "data-contact-name>+55 11 98765-4321<" in listing
    thread = agent_client.get(f"/inbox/c/{conversation.pk}/").content.decode()
    assert "data-conversation-title>+55 11 98765-4321<" in thread
    assert "data-contact-phone>+55 11 98765-4321<" in thread
    assert "+5511987654321" not in thread.replace('value="+5511987654321"', "")
    channels = agent_client.get("/settings/channels/").content.decode()
    assert "+55 11 3000-0000" in channels
