"""Campaign pages: the form to a segment, the review (audience after exclusions, cost, the
messaging-limit warning, the test send), start now or at a time in the company's zone,
pause / resume / cancel with the reason in plain words, the recipient table (filters, keyset
pages, a failed recipient's reason), the formula-safe CSV export, roles and isolation."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from campaigns import services
from campaigns.models import (
    Campaign,
    CampaignState,
    MessageTemplate,
    PauseReason,
    Recipient,
    RecipientState,
    TemplateOrigin,
    TemplateStatus,
)


@pytest.fixture
def admin(make_member):
    return make_member("admin", email="admin@acme.test")


@pytest.fixture
def admin_client(tenant_client_factory, acme, admin):
    return tenant_client_factory(acme, admin)


@pytest.fixture
def viewer_client(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("viewer", email="viewer@acme.test"))


@pytest.fixture
def audience(tenant):
    """A VIP segment: 5 contacts with the tag (one opted out), 2 without."""
    from crm.models import ConsentStatus, Contact, Segment, Tag

    vip = Tag.objects.create(name="VIP")
    contacts = []
    for i in range(5):
        contacts.append(
            Contact.objects.create(
                name=f"Cliente {i}",
                phone=f"+551198888000{i}",
                wa_id=f"551198888000{i}",
                tag_ids=[vip.pk],
                custom_fields={"cidade": "Recife" if i % 2 else ""},
                consent_status=ConsentStatus.OPTED_OUT if i == 4 else ConsentStatus.OPTED_IN,
            )
        )
    for i in range(2):
        Contact.objects.create(name=f"Outro {i}", phone=f"+551197777000{i}")
    segment = Segment.objects.create(name="VIPs", filters={"tags_any": [vip.pk]})
    return segment, contacts


def _create(admin_client, channel, segment, **fields):
    post = {
        "channel": str(channel.pk),
        "name": "Ofertas VIP",
        "variant_count": "1",
        "variant_A_body": "Olá {{first_name}}, novidades em {{cidade}}: https://loja.com.br/vip hoje!",
        "var_A_source_first_name": "contact.first_name",
        "var_A_fallback_first_name": "cliente",
        "var_A_source_cidade": "field.cidade",
        "var_A_fallback_cidade": "sua cidade",
        "audience_kind": "segments",
        "segments": [str(segment.pk)],
        "action": "create",
    }
    post.update(fields)
    return admin_client.post("/campaigns/new/", post)


def test_the_form_creates_a_draft_to_a_segment_with_its_variables_and_tracked_links(
    admin_client, sandbox_channel, audience
):
    segment, _contacts = audience
    assert admin_client.get(f"/campaigns/new/?channel={sandbox_channel.pk}&segment={segment.pk}").status_code == 200

    response = _create(admin_client, sandbox_channel, segment)

    assert response.status_code == 302
    campaign = Campaign.objects.get(name="Ofertas VIP")
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    assert campaign.state == CampaignState.DRAFT and campaign.segment_ids == [segment.pk]
    [variant] = campaign.variants.all()
    assert variant.body.startswith("Olá {{first_name}}")
    assert variant.variables["cidade"] == {"source": "field.cidade", "fallback": "sua cidade"}
    assert [link.url for link in campaign.links.all()] == ["https://loja.com.br/vip"]


def test_the_form_says_what_is_wrong_and_creates_nothing(admin_client, sandbox_channel, audience):
    segment, _ = audience
    response = _create(admin_client, sandbox_channel, segment, variant_A_body="", window="on", window_start="20:00")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Write the message of variant A." in html and "Enter a time such as 08:00." in html
    response = _create(admin_client, sandbox_channel, segment, segments=[])
    assert response.status_code == 400 and "Choose who receives the campaign." in response.content.decode()
    assert not Campaign.objects.exists()


def test_ab_variants_need_splits_that_add_up(admin_client, sandbox_channel, audience):
    segment, _ = audience
    fields = {
        "variant_count": "2",
        "variant_A_split": "50",
        "variant_B_split": "40",
        "variant_B_body": "Oi {{first_name}}!",
    }
    response = _create(admin_client, sandbox_channel, segment, **fields)
    assert response.status_code == 400 and "must add up to 100%" in response.content.decode()
    fields.update({"variant_B_split": "50", "ab_test": "on", "ab_test_share": "20", "ab_wait_hours": "4"})
    assert _create(admin_client, sandbox_channel, segment, **fields).status_code == 302
    campaign = Campaign.objects.get()
    assert [(v.key, v.split) for v in campaign.variants.order_by("key")] == [("A", 50), ("B", 50)]
    assert campaign.ab_test_share == 20 and campaign.ab_wait == timezone.timedelta(hours=4)


def test_cloud_campaigns_send_approved_templates_only(admin_client, cloud_channel, audience):
    segment, _ = audience
    pending = MessageTemplate.objects.create(
        origin=TemplateOrigin.META, waba_id="2025550001", name="em_revisao", status=TemplateStatus.PENDING
    )
    response = _create(admin_client, cloud_channel, segment, variant_A_template=str(pending.pk))
    assert response.status_code == 400 and "Choose an approved template for variant A." in response.content.decode()


def test_review_shows_the_audience_after_exclusions_the_cost_and_the_tier_warning(
    admin_client, cloud_channel, audience, graph, acme
):
    from campaigns.pricing.models import MessagePrice
    from inbox.models import SendingLimit

    segment, _ = audience
    template = MessageTemplate.objects.create(
        origin=TemplateOrigin.META,
        waba_id="2025550001",
        channel=cloud_channel,
        name="vip_junho",
        status=TemplateStatus.APPROVED,
        category="MARKETING",
        components=[{"type": "BODY", "text": "Olá {{1}}, temos ofertas para você hoje."}],
        variables={"1": {"source": "contact.first_name", "fallback": "cliente"}},
    )
    connection.set_schema_to_public()
    MessagePrice.objects.update_or_create(
        kind="whatsapp",
        category="MARKETING",
        country="BR",
        valid_from=timezone.localdate(),
        defaults={"price": Decimal("0.35")},
    )
    connection.set_tenant(acme)
    import time

    from inbox.limits import limiter_for

    SendingLimit.objects.update_or_create(channel_id=cloud_channel.pk, defaults={"tier": "TIER_250"})
    # 248 people messaged in the last 24 hours: 2 left, the audience has 4
    limiter_for(cloud_channel).tier_seed([(f"+55119000{i:05d}", time.time()) for i in range(248)])

    assert _create(admin_client, cloud_channel, segment, variant_A_template=str(template.pk)).status_code == 302
    campaign = Campaign.objects.get()
    html = admin_client.get(f"/campaigns/{campaign.pk}/").content.decode()

    assert 'data-testid="estimate-recipients">4<' in html  # 5 in the segment, 1 opted out
    assert "Left out because they opted out: 1" in html
    assert "R$1.40" in html, re.search(r"estimate-cost.{0,300}", html, re.S).group(0)  # 4 x R$ 0.35
    assert 'data-testid="tier-warning"' in html
    assert "Olá cliente, temos ofertas para você hoje." in html


def test_start_now_runs_and_pause_resume_cancel_show_the_reason(admin_client, sandbox_channel, audience, admin):
    segment, _ = audience
    _create(admin_client, sandbox_channel, segment)
    campaign = Campaign.objects.get()

    response = admin_client.post(f"/campaigns/{campaign.pk}/start/", {"when": "now"})

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.RUNNING and campaign.started_at is not None
    services.campaign_launch(campaign_id=campaign.pk)  # what the worker does first
    campaign.refresh_from_db()
    assert campaign.total_count == 4 and campaign.queued_count == 4

    assert admin_client.post(f"/campaigns/{campaign.pk}/pause/").status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.PAUSED and campaign.pause_reason == PauseReason.USER
    html = admin_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert "Paused by a person" in html and 'data-testid="campaign-resume"' in html

    # the engine pauses for WhatsApp's reasons too: the page says which, in plain words
    services.campaign_resume(campaign=campaign, by=admin)
    services.campaign_pause(campaign=campaign.pk, reason=PauseReason.SPAM_RATE, detail="(#131048) Spam rate limit hit")
    stats = admin_client.get(f"/campaigns/{campaign.pk}/stats/").content.decode()
    assert "too many people marked them as spam" in stats and "Spam rate limit hit" in stats

    assert admin_client.post(f"/campaigns/{campaign.pk}/resume/").status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.RUNNING and campaign.pause_reason == ""
    assert admin_client.post(f"/campaigns/{campaign.pk}/cancel/").status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.CANCELLED
    assert Recipient.objects.filter(campaign=campaign, state=RecipientState.SKIPPED).count() == 4


def test_schedule_in_the_companys_time_zone(admin_client, sandbox_channel, audience):
    import zoneinfo

    segment, _ = audience
    _create(admin_client, sandbox_channel, segment)
    campaign = Campaign.objects.get()
    tomorrow = timezone.now().astimezone(zoneinfo.ZoneInfo("America/Sao_Paulo")).date() + timezone.timedelta(days=1)

    admin_client.post(f"/campaigns/{campaign.pk}/start/", {"when": "later", "at": f"{tomorrow.isoformat()}T09:30"})

    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SCHEDULED
    local = campaign.scheduled_at.astimezone(zoneinfo.ZoneInfo("America/Sao_Paulo"))
    assert (local.date(), local.hour, local.minute) == (tomorrow, 9, 30)


def test_scheduling_in_the_past_or_without_a_time_is_refused(admin_client, sandbox_channel, audience):
    segment, _ = audience
    _create(admin_client, sandbox_channel, segment)
    campaign = Campaign.objects.get()
    response = admin_client.post(
        f"/campaigns/{campaign.pk}/start/", {"when": "later", "at": "2020-01-01T10:00"}, follow=True
    )
    assert "Choose a moment in the future to send." in response.content.decode()
    response = admin_client.post(f"/campaigns/{campaign.pk}/start/", {"when": "later", "at": "amanhã"}, follow=True)
    assert "Choose the date and time to send." in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT


def test_test_send_goes_to_my_number_through_the_inbox(admin_client, sandbox_channel, audience):
    from inbox.models import Message

    segment, _ = audience
    _create(admin_client, sandbox_channel, segment)
    campaign = Campaign.objects.get()

    response = admin_client.post(f"/campaigns/{campaign.pk}/test/", {"phone": "(11) 99123-4567"}, follow=True)

    assert "Test message sent to +5511991234567" in response.content.decode()
    message = Message.objects.get(conversation__contact__phone="+5511991234567")
    assert message.body == "Olá admin, novidades em sua cidade: https://loja.com.br/vip hoje!"  # my name
    response = admin_client.post(f"/campaigns/{campaign.pk}/test/", {"phone": "123"}, follow=True)
    assert "Enter your phone number with area code" in response.content.decode()


def _launched(admin_client, sandbox_channel, audience):
    segment, _ = audience
    _create(admin_client, sandbox_channel, segment)
    campaign = Campaign.objects.get()
    services.campaign_start(campaign=campaign)
    services.campaign_launch(campaign_id=campaign.pk)
    rows = list(Recipient.objects.filter(campaign=campaign).order_by("id"))
    now = timezone.now()
    Recipient.objects.filter(pk=rows[0].pk).update(
        state=RecipientState.READ, sent_at=now, delivered_at=now, read_at=now
    )
    Recipient.objects.filter(pk=rows[1].pk).update(
        state=RecipientState.FAILED,
        failed_at=now,
        error_code="131026",
        error_title="Message undeliverable",
        error_details="Unable to deliver message.",
    )
    Recipient.objects.filter(pk=rows[2].pk).update(
        state=RecipientState.FAILED, failed_at=now, error_code="131050", name='=HYPERLINK("http://x")'
    )
    return campaign, rows


def test_recipient_table_filters_failed_and_by_code_and_shows_the_reason(admin_client, sandbox_channel, audience):
    campaign, rows = _launched(admin_client, sandbox_channel, audience)

    html = admin_client.get(f"/campaigns/{campaign.pk}/recipients/?state=failed").content.decode()
    assert html.count('data-recipient="') == 2
    assert "WhatsApp could not deliver it" in html and "stopped receiving marketing messages" in html
    html = admin_client.get(f"/campaigns/{campaign.pk}/recipients/?code=131050").content.decode()
    assert html.count('data-recipient="') == 1

    drawer = admin_client.get(f"/campaigns/{campaign.pk}/recipients/{rows[1].pk}/").content.decode()
    assert 'data-testid="recipient-reason"' in drawer
    assert "WhatsApp could not deliver it" in drawer and "Provider code 131026" in drawer
    assert "Unable to deliver message." in drawer


def test_recipient_table_pages_by_keyset(admin_client, sandbox_channel, audience):
    campaign, rows = _launched(admin_client, sandbox_channel, audience)
    first = admin_client.get(f"/campaigns/{campaign.pk}/recipients/?size=10").content.decode()
    assert first.count('data-recipient="') == 4
    page = admin_client.get(f"/campaigns/{campaign.pk}/recipients/?after={rows[2].pk}").content.decode()
    assert [int(x) for x in re.findall(r'data-recipient="(\d+)"', page)] == [rows[1].pk, rows[0].pk]


def test_export_is_formula_safe(admin_client, sandbox_channel, audience):
    campaign, rows = _launched(admin_client, sandbox_channel, audience)

    response = admin_client.get(f"/campaigns/{campaign.pk}/export.csv")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert table[0][:4] == ["Name", "Phone", "Variant", "Status"]
    assert len(table) == 5
    names = [row[0] for row in table[1:]]
    assert '\'=HYPERLINK("http://x")' in names
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)


def test_live_counters_on_the_page(admin_client, sandbox_channel, audience):
    campaign, _rows = _launched(admin_client, sandbox_channel, audience)
    Campaign.objects.filter(pk=campaign.pk).update(sent_count=3, delivered_count=2, read_count=1, failed_count=2)
    html = admin_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f'data-campaign-live="{campaign.pk}"' in html
    assert 'data-testid="count-delivered">2<' in html and 'data-testid="count-failed">2<' in html
    assert "data-rate-chart" in html and "vendor/chart.umd.min.js" in html


def test_viewers_see_but_cannot_run_campaigns(viewer_client, admin_client, sandbox_channel, audience):
    segment, _ = audience
    _create(admin_client, sandbox_channel, segment)
    campaign = Campaign.objects.get()
    assert viewer_client.get("/campaigns/").status_code == 200
    assert viewer_client.get(f"/campaigns/{campaign.pk}/").status_code == 200
    assert viewer_client.get("/campaigns/new/").status_code == 403
    for action in ("start", "pause", "resume", "cancel", "test"):
        assert viewer_client.post(f"/campaigns/{campaign.pk}/{action}/").status_code == 403
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT


def test_another_companys_campaign_is_404_everywhere(admin_client, other_company, acme):
    from inbox.models import Channel

    connection.set_tenant(other_company)
    channel = Channel.objects.create(kind="sandbox", name="Deles")
    theirs = Campaign.objects.create(name="Segredo", channel=channel)
    connection.set_tenant(acme)
    for path in ("", "stats/", "row/", "recipients/", "recipients/1/", "export.csv"):
        assert admin_client.get(f"/campaigns/{theirs.pk}/{path}").status_code == 404, path
    for action in ("start", "pause", "resume", "cancel", "test"):
        assert admin_client.post(f"/campaigns/{theirs.pk}/{action}/").status_code == 404
    assert "Segredo" not in admin_client.get("/campaigns/").content.decode()
    connection.set_tenant(other_company)
    theirs.refresh_from_db()
    assert theirs.state == CampaignState.DRAFT
