"""The engine's rules on their own: Meta's error classification, backoff, send windows in
America/Sao_Paulo, the WhatsApp Web warm-up, SMS segments and variable rendering; and tenant
isolation of the campaigns tasks and progress events."""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo

import pytest

from campaigns.dispatch.outcomes import FINAL, PAUSE, RETRY, UNCERTAIN, backoff, classify
from campaigns.rendering import render_text, template_components
from campaigns.schedule import warmup_cap, window_next_open
from inbox.providers.base import ProviderError
from inbox.providers.sms import sms_segments

SP = zoneinfo.ZoneInfo("America/Sao_Paulo")


@pytest.mark.parametrize("code", ["130429", "131056", "131057", "131000", "131016", "network"])
def test_temporary_errors_are_retried(code):
    assert classify(ProviderError("x", code=code, status=400)) == RETRY


def test_5xx_is_retried_whatever_the_code():
    assert classify(ProviderError("x", code="999", status=503)) == RETRY


@pytest.mark.parametrize("code", ["131026", "131047", "131049", "131050", "132000", "132001", "132012", "100"])
def test_final_errors_fail_the_recipient(code):
    assert classify(ProviderError("x", code=code, status=400)) == FINAL


@pytest.mark.parametrize("code", ["131048", "132015", "132016", "368", "190", "session"])
def test_account_and_template_errors_pause_the_campaign(code):
    assert classify(ProviderError("x", code=code, status=400)) == PAUSE


def test_a_request_that_may_have_reached_meta_is_never_retried_blindly():
    assert classify(ProviderError("x", code="timeout", retryable=True, uncertain=True)) == UNCERTAIN


def test_backoff_grows_with_jitter_and_is_bounded():
    rng = random.Random(1)
    first = [backoff(1, rng=rng) for _ in range(50)]
    fifth = [backoff(5, rng=rng) for _ in range(50)]
    assert 1.0 <= min(first) and max(first) <= 2.0
    assert 16.0 <= min(fifth) and max(fifth) <= 32.0
    assert len(set(first)) > 40  # jitter: workers do not retry in lockstep
    assert max(backoff(30, rng=rng) for _ in range(20)) <= 300


def _at(y, m, d, h, mi=0):
    return dt.datetime(y, m, d, h, mi, tzinfo=SP)


MON_SAT = [0, 1, 2, 3, 4, 5]


def test_send_window_in_sao_paulo_time():
    window = {"time_zone": "America/Sao_Paulo", "start": dt.time(8), "end": dt.time(20), "days": MON_SAT}
    # Saturday 2026-12-05 19:59 local: open
    assert window_next_open(now=_at(2026, 12, 5, 19, 59), **window) is None
    # Saturday 20:00 local (23:00 UTC): closed until Monday 08:00 local, which is 11:00 UTC
    opens = window_next_open(now=_at(2026, 12, 5, 20, 0), **window)
    assert opens == dt.datetime(2026, 12, 7, 11, 0, tzinfo=dt.UTC)
    # Monday 07:00 local: opens at 08:00 the same day
    assert window_next_open(now=_at(2026, 12, 7, 7, 0), **window) == _at(2026, 12, 7, 8, 0)
    # the same instant given in UTC gives the same answer
    assert window_next_open(now=_at(2026, 12, 7, 7, 0).astimezone(dt.UTC), **window) == _at(2026, 12, 7, 8, 0)


def test_window_across_midnight_and_any_time_windows():
    night = {"time_zone": "America/Sao_Paulo", "start": dt.time(22), "end": dt.time(6), "days": list(range(7))}
    assert window_next_open(now=_at(2026, 12, 8, 23, 30), **night) is None
    assert window_next_open(now=_at(2026, 12, 9, 5, 59), **night) is None  # started yesterday
    assert window_next_open(now=_at(2026, 12, 9, 12, 0), **night) == _at(2026, 12, 9, 22, 0)
    days_only = {"time_zone": "America/Sao_Paulo", "start": None, "end": None, "days": MON_SAT}
    assert window_next_open(now=_at(2026, 12, 6, 10), **days_only) == _at(2026, 12, 7, 0, 0)  # Sunday: wait


def test_whatsapp_web_warm_up_grows_from_20_a_day_to_the_cap():
    today = dt.date(2026, 12, 10)
    caps = [
        warmup_cap(daily_cap=500, start=20, growth_pct=30, started_on=today - dt.timedelta(days=d), today=today)
        for d in range(0, 20, 3)
    ]
    assert caps[0] == 20
    assert caps == sorted(caps) and caps[-1] == 500
    assert warmup_cap(daily_cap=500, start=20, growth_pct=30, started_on=None, today=today) == 20


def test_sms_segments_gsm7_and_ucs2():
    assert sms_segments("a" * 160) == ("GSM-7", 1)
    assert sms_segments("a" * 161) == ("GSM-7", 2)
    assert sms_segments("[" * 80) == ("GSM-7", 1)  # extension characters take two septets
    assert sms_segments("[" * 81) == ("GSM-7", 2)
    assert sms_segments("Promoção de Natal") == ("UCS-2", 1)  # "ç" and "ã" are not GSM-7
    assert sms_segments("ã" * 71) == ("UCS-2", 2)
    assert sms_segments("😀" * 35) == ("UCS-2", 1)  # two UTF-16 units each
    assert sms_segments("😀" * 36) == ("UCS-2", 2)


def test_rendering_uses_fallbacks_for_empty_values():
    mapping = {"1": {"source": "contact.first_name", "fallback": "cliente"}, "2": {"source": "static", "value": "10%"}}
    assert render_text("Oi {{1}}, ganhe {{2}}!", mapping, {"contact.first_name": ""}) == "Oi cliente, ganhe 10%!"
    assert render_text("Oi {{ 1 }}", mapping, {"contact.first_name": "Ana"}) == "Oi Ana"


def test_named_template_parameters_header_and_url_button():
    from campaigns.models import MessageTemplate

    template = MessageTemplate(
        name="promo",
        parameter_format="NAMED",
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Oferta {{loja}}"},
            {"type": "BODY", "text": "Olá {{first_name}}!"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Sair"},
                    {"type": "URL", "text": "Ver", "url": "https://x.com/{{1}}"},
                ],
            },
        ],
    )
    mapping = {
        "first_name": {"source": "contact.first_name", "fallback": "cliente"},
        "header.loja": {"source": "static", "value": "Centro"},
        "button.1.1": {"source": "csv.cupom", "fallback": "BEMVINDO"},
    }
    assert template_components(template, mapping, {"contact.first_name": "Ana"}) == [
        {"type": "header", "parameters": [{"type": "text", "text": "Centro", "parameter_name": "loja"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana", "parameter_name": "first_name"}]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "BEMVINDO"}]},
    ]


# --- tenant isolation ----------------------------------------------------------------------------


def test_campaign_tasks_refuse_to_run_without_a_company():
    from campaigns import tasks
    from tenants.context import NoTenantError

    with pytest.raises(NoTenantError):
        tasks.statuses(
            "public", {"channel": 1, "statuses": [], "callbacks": [{"callback": "mia:c1:r1", "status": "read"}]}
        )
    with pytest.raises(NoTenantError):
        tasks.run("", 1)


def test_a_status_task_of_another_company_never_touches_this_company(tenant, other_company):
    from django.db import connection

    from campaigns import tasks
    from campaigns.models import Campaign, Recipient
    from inbox.services import channel_create

    channel = channel_create(kind="sandbox", name="Sandbox")
    campaign = Campaign.objects.create(name="Isolada", channel=channel, state="running")
    recipient = Recipient.objects.create(campaign=campaign, phone="+5511999990000", state="sent")
    ref = f"mia:c{campaign.pk}:r{recipient.pk}"
    # the other company's schema receives a status naming our ids
    payload = {
        "channel": channel.pk,
        "statuses": [],
        "callbacks": [{"callback": ref, "provider_message_id": "wamid.X", "status": "read"}],
    }
    tasks.statuses(other_company.schema_name, payload)
    connection.set_tenant(tenant)
    recipient.refresh_from_db()
    assert recipient.state == "sent" and recipient.read_at is None
    # in our own schema the same status lands
    tasks.statuses(tenant.schema_name, payload)
    connection.set_tenant(tenant)
    recipient.refresh_from_db()
    assert recipient.state == "read"
    campaign.refresh_from_db()
    assert campaign.read_count == 1 and campaign.delivered_count == 1


async def test_progress_events_reach_only_the_company_that_sent_them(acme, other_company):
    from asgiref.sync import sync_to_async
    from channels.layers import get_channel_layer
    from django_tenants.utils import schema_context

    from campaigns.realtime import progress_group
    from core.realtime import scoped_group, send_event

    layer = get_channel_layer()
    mine = await layer.new_channel()
    theirs = await layer.new_channel()
    await layer.group_add(scoped_group(acme.schema_name, progress_group()), mine)
    await layer.group_add(scoped_group(other_company.schema_name, progress_group()), theirs)

    def publish():
        with schema_context(acme.schema_name):
            send_event({"type": "campaign", "op": "progress", "id": 1, "counters": {}}, groups=[progress_group()])

    await sync_to_async(publish)()
    got = await layer.receive(mine)
    assert got["event"]["type"] == "campaign" and got["event"]["op"] == "progress"
    import asyncio

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(theirs), timeout=0.3)
    await layer.group_discard(scoped_group(acme.schema_name, progress_group()), mine)
    await layer.group_discard(scoped_group(other_company.schema_name, progress_group()), theirs)
