"""Templates and campaigns end to end, in a demo company (demo contacts, segments and its
sandbox number), with a real Celery worker running the engine:

- create a local template with two variables, preview it for a contact (fallbacks included);
- create a campaign with it to a segment, read the review (audience after exclusions, cost),
  start it and watch the live counters reach completion with delivered and read counts;
- start a second, slow one, pause it (the reason in plain words), resume it, cancel it;
- open a failed recipient's reason in plain words (the demo campaign has WhatsApp failures);
- the pages at desktop (1366) and phone (390) widths, light and dark, with screenshots.

The company speaks pt-BR (the default), so the test reads the Portuguese the customer sees.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest_worker import celery_worker_process  # noqa: F401
from tests.browser.support import log_in
from tests.browser.support import run_committed as _run
from tests.conftest_helpers import TEST_PASSWORD

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LIVE_TIMEOUT = 60_000


def _demo_company(committed, unique):
    """A company with the demo company's data: contacts, tags, segments, the sandbox number,
    the demo templates and campaigns."""
    from allauth.account.models import EmailAddress
    from django_tenants.utils import schema_context

    from tenants.models import User
    from tenants.services import company_create

    def setup():
        email = f"{unique('dona')}@example.com"
        owner = User.objects.create_user(email=email, password=TEST_PASSWORD, full_name="Olga Dona")
        EmailAddress.objects.create(user=owner, email=email, verified=True, primary=True)
        company = company_create(name=unique("Loja Demo "), owner=owner)
        with schema_context(company.schema_name):
            from campaigns.demo import demo_campaigns_setup
            from campaigns.demo_pages import demo_pages_setup
            from crm.demo import demo_contacts_setup
            from inbox.demo import demo_inbox_setup

            demo_contacts_setup()
            demo_inbox_setup()
            demo_campaigns_setup()
            demo_pages_setup()
        return company, email

    return _run(committed, setup)


def _no_overflow(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"page is {width}px wide"


def _count(page, name: str) -> int:
    text = page.locator(f'[data-testid="count-{name}"]').inner_text()
    return int(re.sub(r"\D", "", text) or 0)


@pytest.mark.usefixtures("celery_worker_process")
def test_templates_and_campaigns_end_to_end(new_context, url_for, unique, committed, screenshot):
    company, email = _demo_company(committed, unique)
    page = log_in(committed, new_context(), url_for, company.slug, email)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    template_name = unique("boas_vindas_")

    # --- a template, previewed for a contact ---------------------------------------------------
    page.goto(url_for("/templates/new/", slug=company.slug))
    page.fill('[data-testid="template-name"]', template_name)
    page.fill('[data-testid="template-body"]', "Olá {{1}}! Bem-vindo à {{2}}. Use o cupom BEMVINDO hoje.")
    variables = page.locator("[data-variable]")
    variables.nth(1).wait_for()
    variables.nth(0).locator("select").select_option("contact.first_name")
    variables.nth(0).locator('input[name^="var_fallback_"]').fill("cliente")
    variables.nth(1).locator("select").select_option("static")
    variables.nth(1).locator('input[name^="var_value_"]').fill("Loja Demo")
    page.locator('[data-testid="phone-preview"]', has_text="Bem-vindo à Loja Demo").wait_for()
    # preview it for a demo contact: her first name shows in the bubble
    contact = page.locator('[data-testid="preview-contact"] option').nth(1)
    contact_label = contact.inner_text()
    first_name = contact_label.split(" ")[0]
    page.select_option('[data-testid="preview-contact"]', contact.get_attribute("value"))
    page.locator('[data-testid="preview-body"]', has_text=f"Olá {first_name}! Bem-vindo à Loja Demo").wait_for()
    page.locator('[data-testid="template-checks"]', has_text="Pronto para usar").wait_for()
    screenshot(page, "campaigns-template-builder-desktop")
    page.click('[data-testid="template-save"]')
    page.locator('[data-testid="template-status"]', has_text="Aprovado").wait_for()
    screenshot(page, "campaigns-template-page-desktop")

    # --- a campaign with it to a segment, watched live to the end --------------------------------
    page.goto(url_for("/campaigns/new/", slug=company.slug))
    page.fill('[data-testid="campaign-name"]', unique("Boas-vindas "))
    template_option = page.locator("#c-A-template option", has_text=template_name)
    page.select_option("#c-A-template", template_option.get_attribute("value"))
    page.locator("#variant-A-live [data-testid=phone-preview]", has_text="Bem-vindo à Loja Demo").wait_for()
    page.check('[data-testid="audience-segments"]')
    page.locator('[data-testid="segment-option"]').first.check()
    screenshot(page, "campaigns-form-desktop")
    page.click('[data-testid="campaign-create"]')
    recipients = int(page.locator('[data-testid="estimate-recipients"]').inner_text().replace(".", "").replace(",", ""))
    assert recipients > 0
    screenshot(page, "campaigns-review-desktop")
    page.click('[data-testid="campaign-start"]')
    page.click("#confirm-dialog [data-confirm-accept]")
    page.locator('[data-testid="campaign-state"]', has_text="Concluída").wait_for(timeout=LIVE_TIMEOUT)
    # (a locator wait, not wait_for_function: the page's CSP runs no eval, Playwright's included)
    expect(page.locator('[data-testid="count-read"]')).to_have_text(re.compile(r"[1-9]"), timeout=LIVE_TIMEOUT)
    assert _count(page, "delivered") > 0 and _count(page, "read") > 0
    assert _count(page, "delivered") + _count(page, "failed") >= _count(page, "sent") > 0
    screenshot(page, "campaigns-live-completed-desktop")

    # --- a second one, slow: pause, resume, cancel ---------------------------------------------
    page.goto(url_for("/campaigns/new/", slug=company.slug))
    page.fill('[data-testid="campaign-name"]', unique("Lenta "))
    page.select_option("#c-A-template", template_option.get_attribute("value"))
    page.check('[data-testid="audience-all"]')
    page.fill("#c-rate", "1")
    page.click('[data-testid="campaign-create"]')
    page.click('[data-testid="campaign-start"]')
    page.click("#confirm-dialog [data-confirm-accept]")
    page.locator('[data-testid="campaign-state"]', has_text="Enviando").wait_for(timeout=LIVE_TIMEOUT)
    page.click('[data-testid="campaign-pause"]')
    page.locator('[data-testid="campaign-state"]', has_text="Pausad").wait_for()
    page.locator('[data-testid="pause-reason"]', has_text="Pausada por uma pessoa").wait_for()
    screenshot(page, "campaigns-paused-desktop")
    sent_when_paused = _count(page, "sent")
    sent_text_when_paused = page.locator('[data-testid="count-sent"]').inner_text()
    page.click('[data-testid="campaign-resume"]')
    page.locator('[data-testid="campaign-state"]', has_text="Enviando").wait_for()
    # the counter only grows: a new text is a larger count
    expect(page.locator('[data-testid="count-sent"]')).not_to_have_text(sent_text_when_paused, timeout=LIVE_TIMEOUT)
    assert _count(page, "sent") > sent_when_paused
    page.click('[data-testid="campaign-cancel"]')
    page.click("#confirm-dialog [data-confirm-accept]")
    page.locator('[data-testid="campaign-state"]', has_text="Cancelada").wait_for()

    # --- a failed recipient's reason, in plain words ---------------------------------------------
    page.goto(url_for("/campaigns/", slug=company.slug))
    page.locator("a", has_text="Black Friday (demonstração)").click()
    # the socket is open and its first counters fetch is back: nothing swaps the links any more
    page.locator('html[data-campaigns-live="open"]').wait_for(state="attached")
    expect(page.locator(".htmx-request")).to_have_count(0)
    page.click('[data-testid="show-failed"]')
    page.locator('[data-testid="recipients"][data-state-filter="failed"] [data-recipient]').first.wait_for()
    page.locator('[data-testid="recipient-link"]').first.click()
    reason = page.locator('[data-testid="recipient-reason"]')
    reason.wait_for()
    assert "O WhatsApp não conseguiu entregar" in reason.inner_text()
    screenshot(page, "campaigns-failed-reason-desktop")

    # --- phone width, light and dark -------------------------------------------------------------
    phone = log_in(committed, new_context(**PHONE), url_for, company.slug, email)
    phone.goto(page.url.split("#")[0].split("?")[0])
    phone.locator('[data-testid="campaign-state"]').wait_for()
    _no_overflow(phone)
    screenshot(phone, "campaigns-campaign-phone")
    phone.goto(url_for("/campaigns/", slug=company.slug))
    _no_overflow(phone)
    screenshot(phone, "campaigns-list-phone")
    phone.goto(url_for("/templates/new/", slug=company.slug))
    phone.fill('[data-testid="template-body"]', "Oi {{1}}, sua fatura vence amanhã. Pague pelo app.")
    phone.locator('[data-testid="phone-preview"]', has_text="sua fatura vence amanhã").wait_for()
    _no_overflow(phone)
    screenshot(phone, "campaigns-template-builder-phone")
    phone.evaluate("window.miaTheme && window.miaTheme.set('dark')")
    phone.goto(url_for("/campaigns/", slug=company.slug))
    phone.locator("a", has_text="Black Friday (demonstração)").click()
    phone.locator('[data-testid="campaign-state"]').wait_for()
    screenshot(phone, "campaigns-campaign-phone-dark")
    assert errors == []
