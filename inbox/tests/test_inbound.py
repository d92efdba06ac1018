"""Inbound processing: media download into our storage, opt-out keywords, reopening, auto-assignment."""

from __future__ import annotations

from inbox.models import Conversation, ConversationStatus, Message
from inbox.providers.base import InboundMessage
from inbox.services import inbound_message_receive, message_media_store


def _text(wamid, text, wa_id="5511987654321"):
    return InboundMessage(provider_message_id=wamid, phone=wa_id, wa_id=wa_id, name="Maria", kind="text", body=text)


def test_inbound_media_is_downloaded_through_graph_into_storage(cloud_channel, graph):
    graph.media["777"] = (b"\x89PNG fake image", "image/png")
    inbound = InboundMessage(
        provider_message_id="wamid.IMG1",
        phone="5511987654321",
        wa_id="5511987654321",
        name="Maria",
        kind="image",
        body="foto",
        media_id="777",
        media_mime="image/png",
    )
    message = inbound_message_receive(channel=cloud_channel, inbound=inbound)
    message_media_store(message_id=message.pk, media_id="777")
    message.refresh_from_db()
    assert message.media.read() == b"\x89PNG fake image"
    assert message.media.name.startswith("inbox/c_acme/") or "inbox/" in message.media.name
    assert message.media_size == len(b"\x89PNG fake image")
    # both Graph steps carried the bearer token
    assert [r.path for r in graph.requests[-2:]] == ["/v21.0/777", "/download/777"]


def test_opt_out_keyword_sets_consent_and_replies(cloud_channel, graph):
    from crm.models import ConsentStatus
    from crm.selectors import crm_settings_get

    message = inbound_message_receive(channel=cloud_channel, inbound=_text("wamid.STOP", "  sair "))
    contact = message.conversation.contact
    contact.refresh_from_db()
    assert contact.consent_status == ConsentStatus.OPTED_OUT
    reply = Message.objects.filter(conversation=message.conversation, direction="out").get()
    assert reply.body == crm_settings_get().opt_out_reply


def test_ordinary_text_is_not_an_opt_out(cloud_channel):
    message = inbound_message_receive(channel=cloud_channel, inbound=_text("wamid.N1", "quero sair mais cedo hoje"))
    assert message.conversation.contact.consent_status != "opted_out"
    assert not Message.objects.filter(direction="out").exists()


def test_inbound_reopens_resolved_conversation(cloud_channel):
    first = inbound_message_receive(channel=cloud_channel, inbound=_text("wamid.1", "oi"))
    Conversation.objects.filter(pk=first.conversation_id).update(status=ConversationStatus.RESOLVED)
    second = inbound_message_receive(channel=cloud_channel, inbound=_text("wamid.2", "voltei"))
    conversation = Conversation.objects.get()
    assert second.conversation_id == first.conversation_id
    assert conversation.status == ConversationStatus.OPEN and conversation.unread_count == 2


def test_new_conversation_is_auto_assigned_round_robin_with_capacity(cloud_channel, make_member):
    from inbox.services import agent_settings_update

    ana = make_member("agent", email="ana@acme.test")
    bia = make_member("agent", email="bia@acme.test")
    agent_settings_update(user=ana, capacity=1)
    agent_settings_update(user=bia, capacity=5)
    first = inbound_message_receive(channel=cloud_channel, inbound=_text("wamid.A", "a", wa_id="5511911110001"))
    second = inbound_message_receive(channel=cloud_channel, inbound=_text("wamid.B", "b", wa_id="5511911110002"))
    third = inbound_message_receive(channel=cloud_channel, inbound=_text("wamid.C", "c", wa_id="5511911110003"))
    owners = [Conversation.objects.get(pk=m.conversation_id).assignee_id for m in (first, second, third)]
    assert owners[0] != owners[1]  # round robin
    assert owners.count(ana.pk) == 1  # ana is full after one
    assert owners[2] == bia.pk


def test_unavailable_agent_gets_nothing(cloud_channel, make_member):
    from inbox.services import agent_settings_update

    ana = make_member("agent", email="ana2@acme.test")
    agent_settings_update(user=ana, is_available=False)
    message = inbound_message_receive(channel=cloud_channel, inbound=_text("wamid.U", "u"))
    assert Conversation.objects.get(pk=message.conversation_id).assignee_id is None
