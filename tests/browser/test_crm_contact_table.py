"""The contact table fits a 1366 px desktop screen (the most common laptop width in Brazil):
no sideways scrolling, in Portuguese (the longer headers) and English, with the demo contacts
plus the contacts that make tables grow (long names and e-mails, many tags, an owner)."""

from __future__ import annotations

import pytest

from tests.browser.support import demo_like_company, log_in, run_committed
from tests.conftest_helpers import TEST_PASSWORD

DESKTOP = {"width": 1366, "height": 768}
# The table's own scroller and the page: what a person would have to scroll sideways.
OVERFLOW = """() => {
  const scroller = document.querySelector("[data-table] .overflow-x-auto");
  const page = document.documentElement;
  return {
    table: [scroller.scrollWidth, scroller.clientWidth],
    page: [page.scrollWidth, page.clientWidth],
    rows: document.querySelectorAll("[data-contact]").length,
  };
}"""


@pytest.fixture
def crowded(committed, unique):
    slug = unique("tabela-")
    demo = demo_like_company(committed, slug, f"{slug}@example.com", password=TEST_PASSWORD)

    def add_wide_contacts():
        from django_tenants.utils import schema_context

        from crm.models import ConsentStatus, Contact, Tag
        from tenants.models import Company, User

        company = Company.objects.get(slug=slug)
        owner = User.objects.get(email=demo["email"])
        owner.full_name = "Maria Aparecida Conceição dos Santos Figueiredo"
        owner.save(update_fields=["full_name"])
        with schema_context(company.schema_name):
            tags = [Tag.objects.create(name=name).pk for name in ("Atacado Região Sudeste", "Black Friday 2026")]
            tags += list(Tag.objects.exclude(pk__in=tags).values_list("pk", flat=True))
            for i in range(3):
                Contact.objects.create(
                    name=f"Maria Aparecida Conceição dos Santos Figueiredo de Albuquerque {i}",
                    phone=f"+55119{88880000 + i}",
                    email=f"maria.aparecida.conceicao.figueiredo.albuquerque{i}@empresa-de-exemplo.com.br",
                    tag_ids=tags,
                    owner_id=owner.pk,
                    consent_status=ConsentStatus.OPTED_OUT,
                    last_interaction_at=company.created_at,
                )

    run_committed(committed, add_wide_contacts)
    return demo


@pytest.mark.parametrize("language", ["pt-br", "en"])
def test_contact_table_does_not_scroll_sideways_on_a_1366_px_screen(
    language, crowded, new_context, url_for, committed, screenshot
):
    context = new_context(viewport=DESKTOP, locale=language)
    from django.conf import settings

    context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": url_for("/", slug=crowded["slug"])}]
    )
    page = log_in(committed, context, url_for, crowded["slug"], crowded["email"])
    for query in ("", "?q=aparecida"):
        page.goto(url_for(f"/contacts/{query}", slug=crowded["slug"]))
        page.wait_for_selector("[data-contact]")
        sizes = page.evaluate(OVERFLOW)
        screenshot(page, f"crm-contacts-1366-{language}{'-search' if query else ''}")
        assert sizes["rows"] > 0
        assert sizes["table"][0] <= sizes["table"][1], f"the table scrolls sideways ({language}{query}): {sizes}"
        assert sizes["page"][0] <= sizes["page"][1], f"the page scrolls sideways ({language}{query}): {sizes}"
