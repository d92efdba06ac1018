"""A WhatsApp Web number's sending pace: the page shows today's warm-up cap and what was sent,
admins change the pauses and the cap (bad values get a clear message and change nothing),
viewers only read, another company's number is 404, and the review of a WhatsApp Web
campaign shows the pace the engine will keep."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import AudienceKind, Campaign, Recipient
from campaigns.services import campaign_create, sending_pace_update


@pytest.fixture
def admin_client(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("admin", email="admin@acme.test"))


@pytest.fixture
def viewer_client(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("viewer", email="viewer@acme.test"))


@pytest.fixture
def web_channel(tenant):
    from inbox.models import Channel

    return Channel.objects.create(kind="whatsapp_web", name="Celular da loja")


def _limit(channel):
    from inbox.models import SendingLimit

    return SendingLimit.objects.filter(channel_id=channel.pk).first()


GOOD = {"min_delay_s": "6", "max_delay_s": "15,5", "daily_cap": "400", "warmup_start": "30", "warmup_growth_pct": "25"}


def test_an_admin_sets_the_pace_and_the_warm_up_shows_todays_cap(admin_client, web_channel):
    from inbox.models import SendingLimit

    page = admin_client.get(f"/campaigns/numbers/{web_channel.pk}/pace/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-testid="pace-form"' in body and "4–12 s" in body  # the defaults of a new number

    response = admin_client.post(f"/campaigns/numbers/{web_channel.pk}/pace/", GOOD)
    assert response.status_code == 302
    row = _limit(web_channel)
    assert (row.min_delay_s, row.max_delay_s, row.daily_cap, row.warmup_start, row.warmup_growth_pct) == (
        6.0,
        15.5,
        400,
        30,
        25,
    )
    # bulk sending started 3 days ago: 30 -> 37 -> 46 -> 58 (25% a day), under the cap
    SendingLimit.objects.filter(pk=row.pk).update(warmup_started_on=timezone.localdate() - dt.timedelta(days=3))
    page = admin_client.get(f"/campaigns/numbers/{web_channel.pk}/pace/").content.decode()
    assert '<dd class="mt-1 text-3xl font-semibold tabular-nums" data-testid="pace-today-cap">58</dd>' in page
    assert "6–15.5 s" in page or "6–15,5 s" in page


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"min_delay_s": "20", "max_delay_s": "10"}, "delay"),
        ({"min_delay_s": "0"}, "delay"),
        ({"max_delay_s": "301"}, "delay"),
        ({"daily_cap": "0"}, "daily_cap"),
        ({"daily_cap": "100001"}, "daily_cap"),
        ({"warmup_start": "500"}, "warmup_start"),
        ({"warmup_growth_pct": "0"}, "warmup_growth_pct"),
        ({"daily_cap": "muitos"}, "form"),
    ],
)
def test_bad_values_get_a_clear_message_and_change_nothing(admin_client, web_channel, change, field):
    sending_pace_update(
        channel=web_channel, min_delay_s=5, max_delay_s=9, daily_cap=300, warmup_start=20, warmup_growth_pct=30
    )
    response = admin_client.post(f"/campaigns/numbers/{web_channel.pk}/pace/", {**GOOD, **change})
    assert response.status_code == 400
    assert response.context["errors"].get(field), response.context["errors"]
    assert 'class="field-error' in response.content.decode()
    row = _limit(web_channel)
    assert (row.min_delay_s, row.max_delay_s, row.daily_cap, row.warmup_start) == (5.0, 9.0, 300, 20)


def test_viewers_read_the_pace_but_cannot_change_it(viewer_client, web_channel):
    page = viewer_client.get(f"/campaigns/numbers/{web_channel.pk}/pace/")
    assert page.status_code == 200 and 'data-testid="pace-form"' not in page.content.decode()
    assert viewer_client.post(f"/campaigns/numbers/{web_channel.pk}/pace/", GOOD).status_code == 403
    assert _limit(web_channel) is None


def test_only_whatsapp_web_numbers_have_a_pace(admin_client, tenant, sandbox_channel):
    from django.core.exceptions import ValidationError

    assert admin_client.get(f"/campaigns/numbers/{sandbox_channel.pk}/pace/").status_code == 404
    with pytest.raises(ValidationError):
        sending_pace_update(
            channel=sandbox_channel, min_delay_s=5, max_delay_s=9, daily_cap=300, warmup_start=20, warmup_growth_pct=30
        )


def test_another_companys_number_is_404(admin_client, other_company, acme):
    from inbox.models import Channel, SendingLimit

    connection.set_tenant(other_company)
    theirs = Channel.objects.create(kind="whatsapp_web", name="Deles")
    connection.set_tenant(acme)
    assert admin_client.get(f"/campaigns/numbers/{theirs.pk}/pace/").status_code == 404
    assert admin_client.post(f"/campaigns/numbers/{theirs.pk}/pace/", GOOD).status_code == 404
    connection.set_tenant(other_company)
    assert not SendingLimit.objects.filter(channel_id=theirs.pk).exists()


def test_the_review_of_a_whatsapp_web_campaign_shows_the_pace_and_what_was_sent_today(admin_client, web_channel):
    from crm.models import Contact

    Contact.objects.create(name="Ana", phone="+5511988887777")
    sending_pace_update(
        channel=web_channel, min_delay_s=5, max_delay_s=9, daily_cap=300, warmup_start=20, warmup_growth_pct=30
    )
    earlier = campaign_create(
        name="Ontem",
        channel=web_channel,
        variants=[{"template": None, "body": "Oi!", "split": 100}],
        audience_kind=AudienceKind.ALL,
    )
    Recipient.objects.create(campaign=earlier, phone="+5511988887777", state="sent", sent_at=timezone.now())
    campaign = campaign_create(
        name="Hoje",
        channel=web_channel,
        variants=[{"template": None, "body": "Oi de novo!", "split": 100}],
        audience_kind=AudienceKind.ALL,
    )
    page = admin_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'data-testid="review-pace"' in page
    assert "a pause of 5–9 s between messages, at most 20 today (1 sent so far)" in page
    assert f"/campaigns/numbers/{web_channel.pk}/pace/" in page
    assert Campaign.objects.get(pk=campaign.pk).state == "draft"
