"""The workspace shell in a real browser: sign-up, language, theme, members, API keys, the
offline page, and screenshots of the main pages at desktop and phone widths
(test-artifacts/screenshots/)."""

from __future__ import annotations

import re

import pytest

PASSWORD = "S3nha-forte-123"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def workspace(committed, unique):
    """A company with an owner (created for real, so the live server sees it)."""
    from allauth.account.models import EmailAddress

    from tenants.models import User
    from tenants.services import company_create

    slug = unique("loja-")
    email = f"{slug}@example.com"
    with committed():
        user = User.objects.create_user(email=email, password=PASSWORD, full_name="Ana Souza")
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        company = company_create(name=f"Loja {slug[-4:].upper()}", slug=slug, owner=user)
    return {"slug": company.slug, "email": email, "name": company.name}


def log_in(page, url_for, workspace, path="/"):
    page.goto(url_for(f"/accounts/login/?next={path}", slug=workspace["slug"]))
    page.fill("input[name=login]", workspace["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_selector("main#main")


def test_public_pages_look_right(new_context, url_for, screenshot):
    # Desktop in English, phone as a Brazilian visitor's browser (Accept-Language pt-BR).
    for viewport, suffix, locale in (({"width": 1366, "height": 900}, "desktop", "en-US"), (PHONE, "phone", "pt-BR")):
        page = new_context(viewport=viewport, locale=locale).new_page()
        page.goto(url_for("/"))
        assert page.locator("h1").first.is_visible()
        screenshot(page, f"landing-{suffix}")
        page.goto(url_for("/accounts/signup/"))
        screenshot(page, f"signup-{suffix}")
        page.goto(url_for("/accounts/login/"))
        # Bad credentials get a clear message and the form stays.
        page.fill("input[name=login]", "ninguem@example.com")
        page.fill("input[name=password]", "errada-123")
        page.click("form button[type=submit]")
        page.wait_for_selector("form [role=alert], form .field-error")
        screenshot(page, f"login-error-{suffix}")
        page.goto(url_for("/accounts/password/reset/"))
        screenshot(page, f"password-reset-{suffix}")


def test_sign_up_switch_language_and_theme(page, url_for, unique, screenshot):
    email = f"{unique('dona')}@example.com"
    page.goto(url_for("/accounts/signup/"))
    page.fill("input[name=email]", email)
    page.fill("input[name=full_name]", "Beatriz Rocha")
    page.fill("input[name=company_name]", unique("Padaria "))
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-kpi=members]")
    assert page.locator("[data-kpi=members]").inner_text().strip() == "1"
    assert page.locator("html").get_attribute("lang") == "pt-br"
    assert page.locator("[data-testid=next-steps]").is_visible()
    screenshot(page, "dashboard-new-company-desktop")

    # language: the menu opens with the keyboard and switches to English
    page.focus("[data-testid=language-menu]")
    page.keyboard.press("Enter")
    page.locator("[data-language=en]").wait_for(state="visible")
    page.click("[data-language=en]")
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert page.locator("[data-nav-item=members]").first.inner_text().strip() == "Members"
    assert "Get your workspace ready" in page.content()

    # theme: dark, kept after a reload
    assert "dark" not in (page.locator("html").get_attribute("class") or "")
    page.click("[data-testid=theme-toggle]")
    assert "dark" in page.locator("html").get_attribute("class")
    page.reload()
    assert "dark" in page.locator("html").get_attribute("class")
    screenshot(page, "dashboard-dark-desktop")
    page.click("[data-testid=theme-toggle]")
    assert "dark" not in page.locator("html").get_attribute("class")


def test_invite_member_and_manage_roles(page, url_for, workspace, screenshot, unique):
    log_in(page, url_for, workspace, "/settings/members/")
    colleague = f"{unique('colega')}@example.com"
    # A bad address is refused inline, nothing is sent.
    page.fill("[data-testid=invite-form] input[name=email]", "sem-arroba")
    page.click("[data-testid=invite-form] button[type=submit]")
    page.wait_for_selector("[data-field=email] .field-error")
    assert page.locator("[data-invitation]").count() == 0
    page.fill("[data-testid=invite-form] input[name=email]", colleague)
    page.select_option("[data-testid=invite-form] select[name=role]", "agent")
    page.click("[data-testid=invite-form] button[type=submit]")
    page.wait_for_selector(f"[data-invitation='{colleague}']")
    page.locator("#toasts [data-toast-item]", has_text=colleague).wait_for()
    screenshot(page, "members-desktop")

    # The debounced search replaces only the table (htmx) and keeps the term in the URL.
    page.fill("#members-table-search", "ninguem-com-este-nome")
    page.wait_for_selector("#members-table [data-empty-state]")
    assert "q=ninguem-com-este-nome" in page.url
    assert page.locator("[data-testid=invite-form]").is_visible()  # the rest of the page stayed
    page.fill("#members-table-search", "")
    page.wait_for_selector(f"#members-table [data-member='{workspace['email']}']")

    # Revoking asks first; cancelling changes nothing.
    page.click(f"[data-invitation='{colleague}'] [data-testid=revoke-invitation]")
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    screenshot(page, "confirm-dialog-desktop", full_page=False)
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.locator(f"[data-invitation='{colleague}']").count() == 1
    page.click(f"[data-invitation='{colleague}'] [data-testid=revoke-invitation]")
    page.click("#confirm-dialog [data-confirm-accept]")
    page.wait_for_selector(f"[data-invitation='{colleague}']", state="detached")


def test_create_and_revoke_api_key(page, url_for, workspace, screenshot):
    log_in(page, url_for, workspace, "/settings/api-keys/")
    screenshot(page, "api-keys-empty-desktop")
    page.fill("[data-testid=api-key-form] input[name=name]", "Integração ERP")
    page.click("[data-testid=api-key-form] button[type=submit]")
    key = page.locator("[data-testid=new-api-key]").inner_text().strip()
    assert re.fullmatch(r"mia_[0-9a-f]{12}_[\w-]+", key)
    screenshot(page, "api-key-created-desktop")
    # Shown once: a reload does not show it again.
    page.goto(url_for("/settings/api-keys/", slug=workspace["slug"]))
    assert page.locator("[data-testid=new-api-key]").count() == 0
    row = page.locator("[data-api-key='Integração ERP']")
    row.locator("[data-testid=revoke-key]").click()
    page.click("#confirm-dialog [data-confirm-accept]")
    page.wait_for_selector("[data-api-key='Integração ERP'] [data-testid=key-revoked]")
    assert page.locator("[data-testid=revoke-key]").count() == 0


def test_offline_page_when_network_is_gone(new_context, url_for, workspace):
    context = new_context()
    page = context.new_page()
    log_in(page, url_for, workspace)
    # The service worker installs and takes control of the page.
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    context.set_offline(True)
    page.goto(url_for("/settings/members/", slug=workspace["slug"]))
    page.wait_for_selector("[data-offline-page]")
    assert page.locator("h1").inner_text().strip() in {"Você está offline", "You are offline"}
    context.set_offline(False)


def test_phone_layout_and_screenshots(new_context, url_for, workspace, screenshot):
    page = new_context(viewport=PHONE, is_mobile=True, has_touch=True, reduced_motion="reduce").new_page()
    log_in(page, url_for, workspace)
    assert page.locator("[data-testid=bottom-bar]").is_visible()
    assert not page.locator("aside[aria-label] [data-nav='main']").first.is_visible()
    screenshot(page, "dashboard-phone")
    page.click("[data-testid=open-menu]")
    page.locator("#mobile-nav").wait_for(state="visible")
    screenshot(page, "menu-phone", full_page=False)
    page.locator("#mobile-nav [data-nav-item=members]").click()
    page.wait_for_url("**/settings/members/")
    screenshot(page, "members-phone")
    page.goto(url_for("/settings/api-keys/", slug=workspace["slug"]))
    screenshot(page, "api-keys-phone")
    page.goto(url_for("/settings/profile/", slug=workspace["slug"]))
    screenshot(page, "profile-phone")
    page.click("[data-testid=theme-toggle]")
    page.goto(url_for("/", slug=workspace["slug"]))
    screenshot(page, "dashboard-dark-phone")


def test_desktop_screenshots_of_settings(page, url_for, workspace, screenshot):
    page.emulate_media(reduced_motion="reduce")  # menus appear at once for the screenshots
    log_in(page, url_for, workspace, "/settings/company/")
    screenshot(page, "company-profile-desktop")
    page.goto(url_for("/settings/profile/", slug=workspace["slug"]))
    screenshot(page, "profile-desktop")
    # allauth's account pages render inside the shell on the company's domain.
    page.goto(url_for("/accounts/password/change/", slug=workspace["slug"]))
    assert page.locator("[data-account-page] input[name=oldpassword]").is_visible()
    screenshot(page, "password-change-desktop")
    page.goto(url_for("/accounts/3rdparty/", slug=workspace["slug"]))
    screenshot(page, "social-connections-desktop")
    page.goto(url_for("/settings/profile/", slug=workspace["slug"]))
    page.click("[data-testid=user-menu]")
    page.locator("[role=menu][aria-label]").last.wait_for(state="visible")
    screenshot(page, "user-menu-desktop", full_page=False)
    page.keyboard.press("Escape")
    page.click("[data-testid=company-switcher]")
    page.locator(f"[data-workspace='{workspace['slug']}']").wait_for(state="visible")
    screenshot(page, "company-switcher-desktop", full_page=False)
    # Keyboard: arrows move through the menu, Escape closes it and gives focus back.
    in_menu = "document.activeElement.getAttribute('role') === 'menuitem'"
    page.wait_for_function("() => " + in_menu)
    first_item = "document.activeElement === document.querySelectorAll('[role=menuitem]')[0]"
    page.keyboard.press("ArrowDown")
    page.wait_for_function(f"() => {in_menu} && !({first_item})")  # the arrow moved focus at once
    page.keyboard.press("Escape")
    # the panel leaves with a short transition, and focus is back on the button
    page.locator(f"[data-workspace='{workspace['slug']}']").wait_for(state="hidden")
    page.wait_for_function("() => document.activeElement.dataset.testid === 'company-switcher'")


def test_workspaces_and_invitation_pages(new_context, url_for, workspace, committed, screenshot):
    from tenants.models import Company, Membership
    from tenants.services import invitation_create

    with committed():
        company = Company.objects.get(slug=workspace["slug"])
        by = Membership.objects.get(company=company, user__email=workspace["email"])
        _invitation, token = invitation_create(company=company, email="convidada@example.com", role="agent", by=by)
    visitor = new_context().new_page()
    visitor.goto(url_for(f"/invitations/{token}/"))
    assert company.name in visitor.locator("h1").inner_text()
    screenshot(visitor, "invitation-desktop")
    visitor.goto(url_for("/invitations/nao-existe/"))
    screenshot(visitor, "invitation-invalid-desktop")

    page = new_context().new_page()
    page.goto(url_for("/accounts/login/?next=/workspaces/"))
    page.fill("input[name=login]", workspace["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_selector(f"[data-workspace='{workspace['slug']}']")
    screenshot(page, "workspaces-desktop")


def test_ui_kit_in_the_browser(new_context, url_for, workspace, committed, screenshot):
    from tenants.models import User

    with committed():
        User.objects.filter(email=workspace["email"]).update(is_staff=True)
    page = new_context(reduced_motion="reduce").new_page()
    log_in(page, url_for, workspace, "/ui/")
    screenshot(page, "ui-kit-desktop")
    # A toast raised by an HX-Trigger response header.
    page.click("[data-testid=toast-htmx]")
    page.wait_for_selector("#toasts [data-toast-item][data-level=success]")
    # The drawer opens when htmx loads a record into it, and closes with Escape.
    page.click("[data-testid=kit-drawer]")
    page.locator("#drawer [data-drawer-title]").wait_for(state="visible")
    screenshot(page, "drawer-desktop", full_page=False)
    page.keyboard.press("Escape")
    page.locator("#drawer").wait_for(state="hidden")
    # The polling progress bar reaches 100 % and stops asking.
    page.wait_for_selector("[data-testid=kit-poll][aria-valuenow='100']:not([hx-get])")
    # The websocket progress bar follows job events sent to the company's group.
    page.wait_for_function("() => document.documentElement.dataset.live === 'open'")
    send_company_event(
        committed, workspace["slug"], {"type": "job", "op": "progress", "id": "demo-job", "done": 900, "total": 1000}
    )
    page.wait_for_selector("[data-job-id=demo-job][aria-valuenow='90']")
    assert page.locator("[data-job-id=demo-job] [data-progress-text]").inner_text() == "90%"


def send_company_event(committed, slug, event):
    """Send a realtime event as a service would (from another thread: the test thread runs
    Playwright's event loop, where async_to_sync may not be used)."""
    import threading

    from django_tenants.utils import schema_context

    from core.realtime import send_event
    from tenants.models import Company

    errors = []

    def send():
        try:
            with committed(), schema_context(Company.objects.get(slug=slug).schema_name):
                send_event(event)
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    thread.join(10)
    assert not errors, errors
