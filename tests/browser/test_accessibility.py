"""Accessibility: axe-core (vendored, tests/browser/vendor/) over every page of the navigation
registry of a demo-like company, plus the pages opened from them every day (a contact, a
conversation opened from the inbox's list), in the light and the dark theme: no WCAG 2.1 AA
violation at all.

axe is evaluated in the page through the DevTools protocol (``page.evaluate`` of its source):
the product's Content-Security-Policy allows no inline script, and the test downloads nothing.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.support import demo_like_company, log_in

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
RUN_AXE = """async (tags) => {
  const result = await window.axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "").replace(/\\s+/g, " ")),
    count: v.nodes.length,
  }));
}"""


class _Everyone:
    """A principal that may see every entry (the owner of the company does)."""

    def can(self, minimum: str) -> bool:
        return True


def _navigation_paths() -> dict[str, str]:
    from django.urls import NoReverseMatch, reverse

    from ui import navigation

    paths = {}
    for section in ("main", "settings"):
        for item in navigation.items_for(_Everyone(), section):
            try:
                paths[item.key] = reverse(item.url_name, urlconf="config.urls_tenant")
            except NoReverseMatch:
                continue
    return paths


@pytest.fixture(scope="module")
def demo_like(django_db_blocker):
    from django.db import connection

    from tests.conftest_helpers import TEST_PASSWORD

    @contextmanager
    def module_committed():
        with django_db_blocker.unblock():
            try:
                yield
            finally:
                connection.set_schema_to_public()

    slug = f"a11y-{uuid.uuid4().hex[:8]}"
    return demo_like_company(module_committed, slug, f"{slug}@example.com", password=TEST_PASSWORD)


def _pages(demo) -> dict[str, str]:
    pages = _navigation_paths()
    assert {"dashboard", "contacts", "inbox", "members"} <= set(pages), pages
    if demo["contact"]:
        pages["contact-detail"] = f"/contacts/{demo['contact']}/"
        pages["kanban-create-card"] = f"/pipelines/cards/create/?contact={demo['contact']}"
    return pages


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_page_has_no_wcag_21_aa_violation(theme, demo_like, new_context, url_for, committed, screenshot):
    source = AXE.read_text()
    context = new_context(color_scheme=theme)
    page = log_in(committed, context, url_for, demo_like["slug"], demo_like["email"])
    pending: set[str] = set()
    page.on("request", lambda request: pending.add(request.url))
    page.on("requestfinished", lambda request: pending.discard(request.url))
    page.on("requestfailed", lambda request: pending.discard(request.url))
    found = []
    for name, path in _pages(demo_like).items():
        try:
            response = page.goto(url_for(path, slug=demo_like["slug"]))
        except PlaywrightTimeoutError:
            found.append(f"{name} ({path}, {theme}): did not finish loading; pending: {sorted(pending)}")
            continue
        assert response is not None and response.status == 200, (name, path, response and response.status)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.classList.contains('dark')") is (theme == "dark")
        if not page.evaluate("typeof window.axe === 'object'"):
            page.evaluate(source)
        for violation in page.evaluate(RUN_AXE, WCAG_21_AA):
            found.append(
                f"{name} ({path}, {theme}): {violation['id']} [{violation['impact']}] {violation['help']}"
                f" - {violation['count']} element(s)\n      " + "\n      ".join(violation["nodes"])
            )
    # a conversation, opened from the inbox's list as people do
    page.goto(url_for("/inbox/", slug=demo_like["slug"]))
    page.locator("[data-open-conversation]").first.click()
    page.wait_for_selector("[data-conversation] [data-thread-list] li")
    page.wait_for_load_state("networkidle")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(source)
    for violation in page.evaluate(RUN_AXE, WCAG_21_AA):
        found.append(
            f"inbox-thread ({theme}): {violation['id']} [{violation['impact']}] {violation['help']}"
            f" - {violation['count']} element(s)\n      " + "\n      ".join(violation["nodes"])
        )
    screenshot(page, f"a11y-inbox-thread-{theme}")
    assert not found, f"{len(found)} axe violation(s):\n  " + "\n  ".join(found)
