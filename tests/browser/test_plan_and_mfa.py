"""In a real browser, under the strict CSP: the dashboard shows the plan's usage against its
limits; an owner sets up two-factor authentication (the code computed here from the secret
the page shows) and then requires it of the company, and a member without it is sent to set
it up."""

from __future__ import annotations

from tenants.tests.test_mfa import totp
from tests.browser.support import log_in
from tests.browser.support import run_committed as _run
from tests.conftest_helpers import TEST_PASSWORD


def _company(committed, unique):
    from allauth.account.models import EmailAddress

    from tenants.models import Membership, User
    from tenants.services import company_create

    def setup():
        owner_email, agent_email = f"{unique('dona')}@example.com", f"{unique('agente')}@example.com"
        owner = User.objects.create_user(email=owner_email, password=TEST_PASSWORD, full_name="Olga Dona")
        agent = User.objects.create_user(email=agent_email, password=TEST_PASSWORD, full_name="Ari Agente")
        for user, email in ((owner, owner_email), (agent, agent_email)):
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        company = company_create(name=unique("Plano "), owner=owner)
        Membership.objects.create(user=agent, company=company, role="agent")
        return company, owner_email, agent_email

    return _run(committed, setup)


def test_plan_usage_mfa_enrolment_and_the_company_requirement(url_for, new_context, unique, committed, screenshot):
    from allauth.mfa.models import Authenticator

    company, owner_email, agent_email = _company(committed, unique)
    page = log_in(committed, new_context(), url_for, company.slug, owner_email)

    # the dashboard: the Free plan, two members out of three
    page.goto(url_for("/", slug=company.slug))
    usage = page.locator("[data-testid=plan-usage]")
    assert "Free" in usage.inner_text()
    assert page.locator("[data-limit=members] [data-progress-counts]").inner_text().strip() == "2 / 3"
    screenshot(page, "dashboard-plan-usage")

    # the owner sets up an authenticator app from the profile page
    page.goto(url_for("/settings/profile/", slug=company.slug))
    page.click("[data-testid=mfa] a")
    page.goto(url_for("/accounts/2fa/totp/activate/", slug=company.slug))
    if "/accounts/reauthenticate/" in page.url:  # allauth asks for the password again first
        page.fill("input[name=password]", TEST_PASSWORD)
        with page.expect_navigation():
            page.press("input[name=password]", "Enter")  # its own form (the header has others)
    secret = page.locator("#authenticator_secret").input_value()
    screenshot(page, "mfa-activate")
    page.fill("input[name=code]", totp(secret))
    with page.expect_navigation():
        page.press("input[name=code]", "Enter")
    kinds = _run(
        committed, lambda: set(Authenticator.objects.filter(user__email=owner_email).values_list("type", flat=True))
    )
    assert "totp" in kinds and "recovery_codes" in kinds

    # then requires it of every member
    page.goto(url_for("/settings/company/", slug=company.slug))
    page.check("[data-testid=company-security] input[name=require_mfa]")
    page.click("[data-testid=company-security] button[type=submit]")
    page.wait_for_selector("[data-testid=company-security] input[name=require_mfa]:checked")
    screenshot(page, "company-security")

    # a member without it is sent to set it up before the workspace opens
    agent_page = log_in(committed, new_context(), url_for, company.slug, agent_email)
    agent_page.goto(url_for("/inbox/", slug=company.slug))
    assert "/accounts/" in agent_page.url
    screenshot(agent_page, "mfa-required-member")
