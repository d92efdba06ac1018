"""Send steps go out through the campaign dispatch engine itself (committed rows, the engine's
own threads, the sandbox provider): conversation messages written by the engine, and never
twice, whatever the cadence tick or the engine runs again."""

from __future__ import annotations

import asyncio

import pytest
from django.utils import timezone

ALWAYS = {"weekdays": [0, 1, 2, 3, 4, 5, 6], "window_start": None, "window_end": None, "national_holidays": False}


@pytest.fixture
def world(committed):
    made: dict = {}
    yield made

    def remove():
        from cadences.models import Cadence

        Cadence.objects.filter(pk__in=made.get("cadences", [])).delete()

    committed(remove)


def _run_engine(committed, campaign_id):
    from campaigns.dispatch.run import CampaignRun

    return committed(lambda: asyncio.run(CampaignRun(schema=committed.schema, campaign_id=campaign_id).run()))


def test_steps_are_sent_by_the_campaign_engine_once(committed, world, settings):
    from cadences import services
    from cadences.engine import cadences_tick
    from cadences.models import Enrollment
    from campaigns.models import Campaign, Recipient
    from inbox.models import Message

    settings.CAMPAIGN_LEASE_S = 30
    channel = committed.channel("sandbox")
    people = committed.contacts(6)

    def build():
        cadence = services.cadence_create(name="Engine " + committed.tag, channel=channel, **ALWAYS)
        services.step_add(
            cadence=cadence,
            kind="send",
            config={
                "body": "Olá {{1}}, tudo bem?",
                "variables": {"1": {"source": "contact.first_name", "fallback": "cliente"}},
            },
        )
        services.step_add(cadence=cadence, kind="wait", config={"amount": 2, "unit": "days"})
        services.step_add(cadence=cadence, kind="send", config={"body": "Segunda mensagem"})
        services.cadence_set_status(cadence=cadence, status="active")
        services.enrol(cadence=cadence, contact_ids=[p.pk for p in people])
        return cadence

    cadence = committed(build)
    world["cadences"] = [cadence.pk]
    committed(lambda: cadences_tick(now=timezone.now()))
    first = committed(lambda: cadence.steps.get(position=0))

    # when the engine runs the step's campaign (as the queued campaigns.run would)
    _run_engine(committed, first.campaign_id)

    # then every contact got exactly one message, written in its conversation by the engine
    rows = committed(lambda: list(Recipient.objects.filter(campaign_id=first.campaign_id)))
    assert len(rows) == 6 and {r.state for r in rows} <= {"sent", "delivered", "read"}
    messages = committed(
        lambda: list(Message.objects.filter(channel_id=channel.pk, direction="out").values_list("body", flat=True))
    )
    assert len(messages) == 6 and all(m.startswith("Olá Cliente") for m in messages)
    campaign = committed(lambda: Campaign.objects.get(pk=first.campaign_id))
    assert campaign.kind == "cadence" and campaign.sent_count == 6

    # when the tick and the engine run again: nothing is sent twice
    committed(lambda: cadences_tick(now=timezone.now()))
    _run_engine(committed, first.campaign_id)
    assert committed(lambda: Message.objects.filter(channel_id=channel.pk, direction="out").count()) == 6
    assert committed(lambda: Recipient.objects.filter(campaign_id=first.campaign_id).count()) == 6
    # the sends' outcomes were looked at: none failed, everyone waits for the second send
    states = committed(
        lambda: set(Enrollment.objects.filter(cadence_id=cadence.pk).values_list("state", "outcome_pending"))
    )
    assert states == {("active", False)}
