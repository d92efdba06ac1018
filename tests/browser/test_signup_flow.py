"""A person signs up, lands in their company's dashboard, invites a colleague, logs out and
back in; the colleague accepts the invitation."""

from __future__ import annotations

from django.core import mail  # noqa: F401 - the live server uses its own mailbox (console)


def test_sign_up_lands_in_dashboard_and_login_again(page, url_for, unique, screenshot):
    email = f"{unique('owner')}@example.com"
    company = unique("Loja ")
    # given a visitor on the public sign-up page
    page.goto(url_for("/accounts/signup/"))
    page.fill("input[name=email]", email)
    page.fill("input[name=full_name]", "Ana Souza")
    page.fill("input[name=company_name]", company)
    page.fill("input[name=password1]", "S3nha-forte-123")
    page.fill("input[name=password2]", "S3nha-forte-123")
    # when they submit
    page.click("form button[type=submit]")
    # then they land on their company's own subdomain, logged in
    page.wait_for_url("**/")
    slug = page.url.split("//")[1].split(".")[0]
    assert slug.startswith("loja-")
    assert page.locator("[data-kpi=members]").inner_text().strip() == "1"
    screenshot(page, "signup-dashboard")

    # they log out and back in on their company's domain
    page.locator("form[action$='/accounts/logout/'] button").first.click()
    page.goto(url_for("/accounts/login/", slug=slug))
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", "S3nha-forte-123")
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-kpi=members]")
