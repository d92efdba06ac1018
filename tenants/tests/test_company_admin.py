"""The admin's company page: plan, limits, usage, suspend and reactivate (members see a notice,
campaigns pause and resume, webhooks are still recorded, nothing is lost)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import translation

from tenants.models import Company
from tests.conftest_helpers import TEST_PASSWORD

ADMIN = {"HTTP_HOST": "localhost"}


@pytest.fixture
def root(make_user):
    return make_user(email="root@masteria.test", is_staff=True, is_superuser=True, password=TEST_PASSWORD)


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    client.cookies["django_language"] = "en"
    return client


def test_company_page_shows_plan_limits_and_usage(admin_client, acme, make_member):
    make_member("owner")
    Company.objects.filter(pk=acme.pk).update(plan="free", limit_contacts=50)
    response = admin_client.get(f"/admin/tenants/company/{acme.pk}/change/", **ADMIN)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="company-usage"' in html
    assert '<tr data-limit="members" data-level="ok"><td>Members</td><td>1</td><td>3</td>' in html
    assert '<tr data-limit="contacts" data-level="ok"><td>Contacts</td><td>0</td><td>50</td>' in html
    assert "Messages sent this month" in html and "AI tokens this month" in html
    assert 'data-testid="company-status"' in html and "Suspend" in html


def test_staff_override_a_limit_from_the_company_page(admin_client, acme):
    page = admin_client.get(f"/admin/tenants/company/{acme.pk}/change/", **ADMIN)
    form = page.context["adminform"].form
    data = {k: ("" if v is None else v) for k, v in form.initial.items() if k in form.fields}
    data.update({"plan": "pro", "limit_channels": "7", "require_mfa": ""})
    for prefix in ("domains", "memberships"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    formsets = page.context["inline_admin_formsets"]
    for inline in formsets:
        fs = inline.formset
        data[f"{fs.prefix}-TOTAL_FORMS"] = str(len(fs.forms) - (1 if fs.extra else 0))
        data[f"{fs.prefix}-INITIAL_FORMS"] = str(fs.initial_form_count())
        for i, f in enumerate(fs.initial_forms):
            for name, field in f.fields.items():
                value = f.initial.get(name, field.initial)
                data[f"{fs.prefix}-{i}-{name}"] = getattr(value, "pk", value) if value is not None else ""
    data = {k: v for k, v in data.items() if v is not False}
    response = admin_client.post(f"/admin/tenants/company/{acme.pk}/change/", data, **ADMIN)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    acme.refresh_from_db()
    assert (acme.plan_id, acme.limit_channels) == ("pro", 7)


def _running_campaign(company):
    from campaigns.models import AudienceKind, Campaign, CampaignState
    from campaigns.services import campaign_create
    from inbox.services import channel_create

    connection.set_tenant(company)
    try:
        channel = channel_create(kind="sandbox", name="Sandbox")
        campaign = campaign_create(
            name="Black Friday",
            channel=channel,
            variants=[{"body": "Oi!", "split": 100}],
            audience_kind=AudienceKind.ALL,
            window_days=list(range(7)),
            time_zone="America/Sao_Paulo",
        )
        Campaign.objects.filter(pk=campaign.pk).update(state=CampaignState.RUNNING)
        return campaign.pk, channel
    finally:
        connection.set_schema_to_public()


def _campaign(company, pk):
    from campaigns.models import Campaign

    connection.set_tenant(company)
    try:
        return Campaign.objects.get(pk=pk)
    finally:
        connection.set_schema_to_public()


def _after_commit(callbacks):
    """Run what the suspension queued after its commit (the apps' receivers). What those queue in
    turn (progress events, campaign runs) would run after their own commit, which the test's
    transaction never makes: left out."""
    for callback in callbacks:
        callback()


def test_suspend_and_reactivate(
    admin_client, acme, other_company, owner_client, public_client, django_capture_on_commit_callbacks, queued_tasks
):
    from inbox.models import WebhookEvent
    from inbox.tests.helpers import meta_envelope, post_meta, text_message

    campaign_pk, channel = _running_campaign(acme)
    other_pk, _other_channel = _running_campaign(other_company)
    # when staff suspend the company with a reason
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(
            f"/admin/tenants/company/{acme.pk}/suspend/", {"reason": "Fatura de novembro em aberto"}, **ADMIN
        )
    assert response.status_code == 302
    _after_commit(callbacks)
    acme.refresh_from_db()
    assert not acme.is_active and acme.suspended_at and acme.suspension_reason == "Fatura de novembro em aberto"
    # then its campaigns pause, the other company's run on
    paused = _campaign(acme, campaign_pk)
    assert (paused.state, paused.pause_reason) == ("paused", "suspended")
    assert _campaign(other_company, other_pk).state == "running"
    # members see a notice saying nothing is lost
    owner_client.cookies["django_language"] = "en"
    page = owner_client.get("/")
    assert page.status_code == 403
    assert "This workspace is suspended." in page.content.decode()
    assert "Nothing was deleted" in page.content.decode()
    # customers' messages are still recorded
    payload = meta_envelope(
        text_message("wamid.SUSP1", "5511987654321", "Oi, tem alguém aí?"),
        phone_number_id=channel.config["phone_number_id"],
    )
    assert post_meta(public_client, channel, payload).status_code == 200
    connection.set_tenant(acme)
    assert WebhookEvent.objects.filter(channel=channel).count() == 1
    connection.set_schema_to_public()
    # the admin page says it is suspended, and reactivating brings everything back
    change = admin_client.get(f"/admin/tenants/company/{acme.pk}/change/", **ADMIN).content.decode()
    assert "Suspended" in change and "Fatura de novembro em aberto" in change and 'id="reactivate-form"' in change
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(f"/admin/tenants/company/{acme.pk}/reactivate/", **ADMIN)
    assert response.status_code == 302
    _after_commit(callbacks)
    acme.refresh_from_db()
    assert acme.is_active and acme.suspended_at is None
    assert _campaign(acme, campaign_pk).state == "running"
    assert owner_client.get("/").status_code in (200, 302)


def test_a_suspended_company_sends_nothing(tenant):
    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from crm.services import contact_upsert_from_channel
    from inbox.models import Conversation
    from inbox.services import channel_create, message_send_text
    from inbox.services.messages import ERR_COMPANY_SUSPENDED

    channel = channel_create(kind="sandbox", name="Sandbox")
    contact = contact_upsert_from_channel(phone="+5511987654321", wa_id="5511987654321", name="Maria", source="t")
    conversation = Conversation.objects.create(channel=channel, contact=contact, last_inbound_at=timezone.now())
    Company.objects.filter(pk=tenant.pk).update(is_active=False)
    connection.tenant.is_active = False
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        message_send_text(conversation=conversation, text="Oi")
    assert refused.value.messages == [ERR_COMPANY_SUSPENDED]


def test_suspend_needs_a_reason_and_staff_rights(admin_client, client, acme, make_user):
    response = admin_client.post(f"/admin/tenants/company/{acme.pk}/suspend/", {"reason": ""}, **ADMIN)
    assert response.status_code == 200
    acme.refresh_from_db()
    assert acme.is_active
    staff = make_user(email="staff@masteria.test", is_staff=True)
    other = type(client)()
    other.force_login(staff)
    assert other.post(f"/admin/tenants/company/{acme.pk}/suspend/", {"reason": "abuso"}, **ADMIN).status_code == 403
    acme.refresh_from_db()
    assert acme.is_active
