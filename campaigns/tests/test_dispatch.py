"""The dispatch engine on committed rows: snapshot, claim, send over real HTTP (the Graph stub)
or the sandbox, write-back of recipients, conversation messages, timeline and counters, and
the classification of Meta's errors."""

from __future__ import annotations

import asyncio

import pytest

from campaigns.models import AudienceKind, Campaign, CampaignState, PauseReason, Recipient, RecipientState


def _campaign(committed, channel, contacts, *, template=None, body="", **extra):
    from campaigns.services import campaign_create
    from crm.models import ContactList, ContactListMember

    def make():
        contact_list = ContactList.objects.create(name="Lista " + committed.tag + str(len(contacts)))
        ContactListMember.objects.bulk_create(
            [ContactListMember(contact_list=contact_list, contact=c) for c in contacts]
        )
        return campaign_create(
            name="Campanha " + committed.tag,
            channel=channel,
            variants=[{"template": template, "body": body, "split": 100}],
            audience_kind=AudienceKind.LISTS,
            list_ids=[contact_list.pk],
            window_days=list(range(7)),
            time_zone="America/Sao_Paulo",
            **extra,
        )

    return committed(make)


def _start_and_launch(committed, campaign):
    from campaigns.services import campaign_launch, campaign_start

    def go():
        campaign_start(campaign=campaign)
        return campaign_launch(campaign_id=campaign.pk)

    return committed(go)


def _run(committed, campaign) -> str:
    from campaigns.dispatch.run import CampaignRun

    return committed(lambda: asyncio.run(CampaignRun(schema=committed.schema, campaign_id=campaign.pk).run()))


def _state(committed, campaign):
    return committed(lambda: Campaign.objects.get(pk=campaign.pk))


def _recipients(committed, campaign):
    return committed(lambda: list(Recipient.objects.filter(campaign=campaign).order_by("id")))


@pytest.fixture(autouse=True)
def _no_window(settings):
    settings.CAMPAIGN_LEASE_S = 30


def test_sandbox_campaign_sends_everyone_once_and_writes_conversations_and_timeline(committed):
    from crm.models import TimelineEvent
    from inbox.models import Conversation, Message

    # given a sandbox channel and 30 contacts, one with an invalid number
    channel = committed.channel("sandbox")
    contacts = committed.contacts(30)
    committed(lambda: type(contacts[0]).objects.filter(pk=contacts[0].pk).update(phone="12345"))
    campaign = _campaign(
        committed, channel, contacts, body="Oi {{1}}!", variables={"1": {"source": "contact.first_name"}}
    )
    # when it starts and a run works through it
    launched = _start_and_launch(committed, campaign)
    assert launched.total_count == 30 and launched.queued_count == 29
    assert launched.excluded == {"opted_out": 0, "invalid": 1, "duplicate": 0}
    verdict = _run(committed, campaign)
    # then every valid recipient was sent once, and the campaign completed
    assert verdict == "done"
    rows = _recipients(committed, campaign)
    sent = [r for r in rows if r.state == RecipientState.SENT]
    assert len(sent) == 29
    assert {r.reason for r in rows if r.state == RecipientState.SKIPPED} == {"invalid"}
    assert all(r.provider_message_id.startswith("wamid.SANDBOX") and r.message_id for r in sent)
    final = _state(committed, campaign)
    assert final.state == CampaignState.COMPLETED
    assert (final.sent_count, final.queued_count, final.skipped_count) == (29, 0, 1)
    # and the agent sees what was sent in the contact's conversation and timeline
    messages = committed(lambda: list(Message.objects.filter(channel_id=channel.pk).order_by("id")))
    assert len(messages) == 29
    assert messages[0].body == "Oi Cliente!"
    assert messages[0].status == "sent"
    conversations = committed(lambda: Conversation.objects.filter(channel_id=channel.pk).count())
    assert conversations == 29
    events = committed(
        lambda: TimelineEvent.objects.filter(kind="campaign.sent", contact_id__in=[c.pk for c in contacts]).count()
    )
    assert events == 29


def test_cloud_campaign_sends_templates_with_callback_data_and_classifies_errors(committed, graph):
    # given a Cloud API number and six contacts; Meta refuses some of them
    channel = committed.channel("whatsapp_cloud", token=graph.token)
    contacts = committed.contacts(6)
    template = committed.template(channel)
    campaign = _campaign(committed, channel, contacts, template=template)
    phones = [c.phone.lstrip("+") for c in contacts]
    graph.fail_codes[phones[0]] = [131026]  # final: undeliverable
    graph.fail_codes[phones[1]] = [130429]  # throughput: retried later
    graph.fail_codes[phones[2]] = [131000]  # temporary: retried later
    _start_and_launch(committed, campaign)
    # when a run sends
    _run(committed, campaign)
    # then the accepted ones carry our recipient in biz_opaque_callback_data
    rows = {r.phone.lstrip("+"): r for r in _recipients(committed, campaign)}
    bodies = {b["to"]: b for b in graph.sent}
    for phone in phones[3:]:
        body = bodies[phone]
        assert body["type"] == "template"
        assert body["template"]["name"] == template.name
        assert body["template"]["components"] == [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Cliente"},
                    {"type": "text", "text": rows[phone].variables.get("field.cidade") or "sua cidade"},
                ],
            }
        ]
        assert body["biz_opaque_callback_data"] == f"mia:c{campaign.pk}:r{rows[phone].pk}"
        assert rows[phone].state == RecipientState.SENT
    # a final error keeps Meta's code, title and details
    failed = rows[phones[0]]
    assert failed.state == RecipientState.FAILED
    assert failed.error_code == "131026"
    assert failed.error_title == "Message undeliverable"
    assert failed.error_details == "Unable to deliver message."
    # retryable errors went back to the queue with a backoff and were sent on the next attempt
    for phone in phones[1:3]:
        assert rows[phone].state == RecipientState.SENT
        assert rows[phone].attempts == 2
        assert rows[phone].error_code == ""
    assert graph.call(lambda: dict(graph.rejected)) == {131026: 1, 130429: 1, 131000: 1}
    final = _state(committed, campaign)
    assert (final.sent_count, final.failed_count, final.queued_count) == (5, 1, 0)
    assert final.state == CampaignState.COMPLETED
    # never twice: each accepted recipient exactly once
    assert graph.call(lambda: dict(graph.accepted)) == {p: 1 for p in phones[1:]}


@pytest.mark.parametrize(
    "code,reason",
    [
        ("131048", PauseReason.SPAM_RATE),
        ("132015", PauseReason.TEMPLATE_PAUSED),
        ("368", PauseReason.ACCOUNT_RESTRICTED),
    ],
)
def test_pause_codes_pause_the_campaign_instead_of_burning_the_audience(committed, graph, code, reason):
    channel = committed.channel("whatsapp_cloud", token=graph.token)
    contacts = committed.contacts(4)
    template = committed.template(channel)
    campaign = _campaign(committed, channel, contacts, template=template)
    for contact in contacts:
        graph.fail_codes[contact.phone.lstrip("+")] = [int(code)]
    _start_and_launch(committed, campaign)
    verdict = _run(committed, campaign)
    final = _state(committed, campaign)
    assert verdict.startswith("paused")
    assert final.state == CampaignState.PAUSED
    assert final.pause_reason == reason
    assert code in final.pause_detail
    # nobody was marked failed: the recipients wait for the resume
    rows = _recipients(committed, campaign)
    assert {r.state for r in rows} == {RecipientState.QUEUED}
    assert final.failed_count == 0 and final.queued_count == 4
