"""Channel settings in a real browser: connect a Cloud API number, read the webhook URL and
verify token, and watch a WhatsApp Web QR code arrive live (desktop and phone screenshots)."""

from __future__ import annotations

from tests.browser.support import log_in
from tests.browser.support import run_committed as _run
from tests.conftest_helpers import TEST_PASSWORD

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def _owner_company(committed, unique):
    from allauth.account.models import EmailAddress

    from tenants.models import User
    from tenants.services import company_create

    def setup():
        email = f"{unique('dono')}@example.com"
        owner = User.objects.create_user(email=email, password=TEST_PASSWORD, full_name="Olga Dona")
        EmailAddress.objects.create(user=owner, email=email, verified=True, primary=True)
        return company_create(name=unique("Canais "), owner=owner), email

    return _run(committed, setup)


def test_connect_cloud_channel_and_live_qr(url_for, new_context, unique, committed, screenshot):
    company, email = _owner_company(committed, unique)
    page = log_in(committed, new_context(), url_for, company.slug, email)

    # the owner connects a Cloud API number from the channel settings
    page.goto(url_for("/settings/channels/", slug=company.slug))
    screenshot(page, "inbox-channels-empty")
    page.click("[data-testid=connect-whatsapp_cloud]")
    page.fill("input[name=name]", "Atendimento Meta")
    page.fill("input[name=phone_number_id]", unique("10655"))
    page.fill("input[name=waba_id]", "2025550001")
    page.fill("input[name=access_token]", "EAAG-token")
    page.fill("input[name=app_secret]", "app-secret")
    page.fill("input[name=verify_token]", "token-de-verificacao")
    page.click("[data-testid=channel-save]")

    # then the page shows the webhook URL and verify token to paste into Meta
    webhook = page.locator("[data-testid=webhook-url]")
    assert "/webhooks/whatsapp/" in webhook.inner_text()
    assert page.locator("[data-testid=verify-token]").inner_text() == "token-de-verificacao"
    assert page.locator("[data-testid=channel-status]").inner_text().strip()
    screenshot(page, "inbox-channel-cloud")

    # a WhatsApp Web channel: the QR code arrives live through the realtime events
    def web_channel():
        from django_tenants.utils import schema_context

        from inbox.services import channel_create

        with schema_context(company.schema_name):
            return channel_create(kind="whatsapp_web", name="WhatsApp da loja").pk

    channel_id = _run(committed, web_channel)
    page.goto(url_for(f"/settings/channels/{channel_id}/", slug=company.slug))
    page.wait_for_timeout(1000)  # the page opens its websocket

    def push_qr():
        from django_tenants.utils import schema_context

        from inbox.models import Channel
        from inbox.services import channel_session_qr

        with schema_context(company.schema_name):
            channel_session_qr(channel=Channel.objects.get(pk=channel_id), code="2@bench-qr,abc,def,ghi")

    _run(committed, push_qr)
    qr = page.locator("[data-testid=qr-box] img")
    qr.wait_for(state="visible")
    assert "code=2%40bench-qr" in qr.get_attribute("src")
    page.wait_for_function("() => document.querySelector('[data-testid=qr-box] img').naturalWidth > 0")
    screenshot(page, "inbox-channel-whatsapp-web-qr")

    phone = log_in(committed, new_context(**PHONE), url_for, company.slug, email)
    phone.goto(url_for("/settings/channels/", slug=company.slug))
    screenshot(phone, "inbox-channels-phone")


def test_other_company_cannot_see_channels(url_for, new_context, unique, committed):
    company, email = _owner_company(committed, unique)
    other, other_email = _owner_company(committed, unique)

    def sandbox():
        from django_tenants.utils import schema_context

        from inbox.services import channel_create

        with schema_context(company.schema_name):
            return channel_create(kind="sandbox", name=unique("Sandbox ")).pk

    channel_id = _run(committed, sandbox)
    page = log_in(committed, new_context(), url_for, other.slug, other_email)
    response = page.goto(url_for(f"/settings/channels/{channel_id}/", slug=other.slug))
    assert response.status == 404
    page.goto(url_for("/settings/channels/", slug=other.slug))
    assert page.locator("[data-channel]").count() == 0
