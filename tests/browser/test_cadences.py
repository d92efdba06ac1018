"""A drip cadence end to end, with a real Celery worker running the campaign engine and a test
clock for the cadence tick (``cadences_tick(now=...)``, no sleeps standing in for days):

- build a cadence in the builder: send, wait 1 day, a branch ("does not have the tag" -> next,
  else leave), send; see the schedule preview; activate it;
- enrol a segment of three contacts from the builder;
- tick "now": the first step goes out through the engine on the sandbox number (the step's
  figures count the sends, the conversations get the messages);
- one customer replies from the sandbox's "simulate a customer reply": the enrolment stops;
- tick "a day later": the branch passes and the second message goes to the two others only.

The company speaks pt-BR (the default), so the test reads the Portuguese the customer sees.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest_worker import celery_worker_process  # noqa: F401
from tests.browser.support import log_in
from tests.browser.support import run_committed as _run
from tests.conftest_helpers import TEST_PASSWORD

LIVE_TIMEOUT = 60_000


def _company(committed, unique):
    from allauth.account.models import EmailAddress
    from django_tenants.utils import schema_context

    from tenants.models import User
    from tenants.services import company_create

    def setup():
        email = f"{unique('cad')}@example.com"
        owner = User.objects.create_user(email=email, password=TEST_PASSWORD, full_name="Carla Dona")
        EmailAddress.objects.create(user=owner, email=email, verified=True, primary=True)
        company = company_create(name=unique("Loja Cadencia "), owner=owner)
        with schema_context(company.schema_name):
            from crm.demo import demo_contacts_setup
            from crm.models import ConsentStatus, Contact, Segment, Tag
            from inbox.demo import demo_inbox_setup

            demo_contacts_setup()
            demo_inbox_setup()
            tag = Tag.objects.create(name="follow-up")
            ids = list(
                Contact.objects.exclude(consent_status=ConsentStatus.OPTED_OUT)
                .exclude(phone="")
                .order_by("id")
                .values_list("id", flat=True)[:3]
            )
            Contact.objects.filter(pk__in=ids).update(tag_ids=[tag.pk])
            Segment.objects.create(name="Follow-up", filters={"tags_any": [tag.pk]})
        return company, email, ids

    return _run(committed, setup)


def _tick(committed, company, now):
    from django_tenants.utils import schema_context

    from cadences.engine import cadences_tick

    def tick():
        with schema_context(company.schema_name):
            return cadences_tick(now=now)

    return _run(committed, tick)


def _enrolments(committed, company):
    from django_tenants.utils import schema_context

    from cadences.models import Enrollment

    def read():
        with schema_context(company.schema_name):
            return {e.contact_id: (e.state, e.exit_reason) for e in Enrollment.objects.all()}

    return _run(committed, read)


def _sent_to(committed, company, contact_ids):
    from django_tenants.utils import schema_context

    from inbox.models import Message

    def read():
        with schema_context(company.schema_name):
            rows = Message.objects.filter(direction="out", conversation__contact_id__in=contact_ids)
            return {c: rows.filter(conversation__contact_id=c).count() for c in contact_ids}

    return _run(committed, read)


@pytest.mark.usefixtures("celery_worker_process")
def test_a_cadence_sends_its_steps_and_stops_when_the_customer_answers(
    new_context, url_for, unique, committed, screenshot
):
    company, email, contact_ids = _company(committed, unique)
    page = log_in(committed, new_context(), url_for, company.slug, email)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # --- the cadence's settings: every day, any hour, no holidays ---------------------------
    page.goto(url_for("/cadences/", slug=company.slug))
    page.click('[data-testid="cadence-new"]')
    page.fill("#id_name", "Follow-up de orçamento")
    for day in range(7):
        page.check(f"#id_weekdays_{day}")
    page.fill("#id_window_start", "")
    page.fill("#id_window_end", "")
    page.uncheck("#id_national_holidays")
    page.click('[data-testid="cadence-save"]')
    page.wait_for_load_state()
    assert "/settings/" not in page.url and "/new/" not in page.url, page.locator(
        "[data-testid=cadence-form]"
    ).inner_text()[:1500]

    # --- the builder: send, wait 1 day, branch, send ----------------------------------------
    page.locator('[data-testid="add-send"]').evaluate("d => { d.open = true; }")
    page.fill('[data-testid="add-send"] textarea[name="body"]', "Olá {{first_name}}, podemos ajudar com o orçamento?")
    page.click('[data-testid="add-send-submit"]')
    page.locator('[data-testid="add-wait"]').evaluate("d => { d.open = true; }")
    page.fill('[data-testid="add-wait"] input[name="amount"]', "1")
    page.select_option('[data-testid="add-wait"] select[name="unit"]', "days")
    page.click('[data-testid="add-wait-submit"]')
    page.locator('[data-testid="add-branch"]').evaluate("d => { d.open = true; }")
    page.select_option('[data-testid="add-branch"] select[name="condition"]', "lacks_tag")
    page.select_option('[data-testid="add-branch"] select[name="tag_id"]', label="follow-up")
    page.select_option('[data-testid="add-branch"] select[name="then"]', "exit")
    page.select_option('[data-testid="add-branch"] select[name="else"]', "next")
    page.click('[data-testid="add-branch-submit"]')
    page.locator('[data-testid="add-send"]').evaluate("d => { d.open = true; }")
    page.fill('[data-testid="add-send"] textarea[name="body"]', "{{first_name}}, o orçamento vale até sexta!")
    page.click('[data-testid="add-send-submit"]')
    expect(page.locator('[data-testid="step-card"]')).to_have_count(4)
    expect(page.locator('[data-testid="preview-row"]')).to_have_count(2)
    expect(page.locator('[data-testid="preview-row"]').nth(1)).to_contain_text("dia 2")
    page.click('[data-testid="cadence-activate"]')
    expect(page.locator('[data-testid="cadence-status"]')).to_have_text(re.compile("Ativ"))
    screenshot(page, "cadences-builder-desktop")

    # --- enrol the segment -------------------------------------------------------------------
    page.select_option('[data-testid="enrol-segment"]', label="Follow-up")
    page.click('[data-testid="enrol-submit"]')
    expect(page.locator('[data-testid="enrolment-row"]')).to_have_count(3)

    # --- the clock: now. The first message goes out through the engine ----------------------
    start = dt.datetime.now(dt.UTC)
    assert _tick(committed, company, start)["picked"] == 3
    page.goto(url_for(f"/cadences/{_cadence_id(committed, company)}/", slug=company.slug))
    first = page.locator('[data-testid="step-card"]').nth(0).locator('[data-testid="step-stats"]')
    for _attempt in range(60):
        if "3 enviadas" in first.inner_text():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(first).to_contain_text("3 enviadas")
    assert _sent_to(committed, company, contact_ids) == dict.fromkeys(contact_ids, 1)

    # --- the first customer answers from the sandbox -----------------------------------------
    conversation = _conversation_of(committed, company, contact_ids[0])
    page.goto(url_for(f"/inbox/c/{conversation}/", slug=company.slug))
    page.locator("[data-simulate] summary").click()
    page.fill(f"#simulate-{conversation}", "Sim, quero saber mais!")
    page.locator("[data-simulate-form] button[type=submit]").click()
    for _attempt in range(60):
        if _enrolments(committed, company)[contact_ids[0]] == ("exited", "replied"):
            break
        page.wait_for_timeout(500)
    assert _enrolments(committed, company)[contact_ids[0]] == ("exited", "replied")

    # --- the clock: a day later. The branch passes, the second message goes to the others -----
    assert _tick(committed, company, start + dt.timedelta(days=1, minutes=1))["picked"] == 2
    for _attempt in range(60):
        if _sent_to(committed, company, contact_ids) == {contact_ids[0]: 1, contact_ids[1]: 2, contact_ids[2]: 2}:
            break
        page.wait_for_timeout(500)
    assert _sent_to(committed, company, contact_ids) == {contact_ids[0]: 1, contact_ids[1]: 2, contact_ids[2]: 2}
    _tick(committed, company, start + dt.timedelta(days=1, minutes=2))

    page.goto(url_for(f"/cadences/{_cadence_id(committed, company)}/enrolments/", slug=company.slug))
    rows = page.locator('[data-testid="enrolment-row"]')
    expect(rows).to_have_count(3)
    expect(page.locator('[data-testid="enrolment-reason"]', has_text=re.compile("Respond"))).to_have_count(1)
    expect(page.locator('[data-state="completed"]')).to_have_count(2)
    screenshot(page, "cadences-enrolments-desktop")
    assert not errors, errors


def _cadence_id(committed, company) -> int:
    from django_tenants.utils import schema_context

    from cadences.models import Cadence

    def read():
        with schema_context(company.schema_name):
            return Cadence.objects.get().pk

    return _run(committed, read)


def _conversation_of(committed, company, contact_id) -> int:
    from django_tenants.utils import schema_context

    from inbox.models import Conversation

    def read():
        with schema_context(company.schema_name):
            return Conversation.objects.get(contact_id=contact_id).pk

    return _run(committed, read)
