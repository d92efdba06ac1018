"""A person imports a messy spreadsheet export, follows the import, downloads the failed rows,
filters the contacts, tags "all matching" in one go and opens a contact's timeline."""

from __future__ import annotations

import csv
import io

import pytest

from tests.browser.conftest_worker import celery_worker_process  # noqa: F401

PASSWORD = "S3nha-forte-123"


def messy_file(rows: int = 1200) -> bytes:
    """``;``-separated Latin-1, as Excel saves it on a Brazilian Windows machine."""
    lines = ["Nome;Celular;E-mail;Cidade"]
    shapes = ["({ddd}) 9{a}-{b}", "+55 {ddd} 9{a} {b}", "0{ddd} 9{a}-{b}", "{ddd}9{a}{b}", "({ddd}) {a}-{b}"]
    for i in range(rows):
        number = f"{70000000 + i}"
        phone = shapes[i % len(shapes)].format(ddd=11 + (i % 3) * 10, a=number[:4], b=number[4:])
        lines.append(f"Cliente Ação {i};{phone};cliente{i}@exemplo.com.br;São Paulo")
    lines.append("Linha Ruim;12345;ruim@exemplo.com;Rio")  # invalid phone
    lines.append("Repetido;(11) 97000-0000;rep@exemplo.com;Rio")  # same number as the first row
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


@pytest.mark.django_db
def test_the_messy_file_reads_like_an_excel_export(tmp_path):
    """The file of the browser test is detected as Excel writes it, and its columns guessed.

    (Being a database test, it also makes pytest-django set up the test database when this
    module runs alone: it only does so when a collected test asks for the database.)
    """
    from crm.importing import guess_mapping, inspect_file
    from crm.models import CustomFieldDefinition

    path = tmp_path / "clientes.csv"
    path.write_bytes(messy_file(10))
    inspection = inspect_file(str(path), "clientes.csv")
    assert (inspection.encoding, inspection.delimiter, inspection.total_rows) == ("cp1252", ";", 12)
    assert guess_mapping(inspection.headers, list(CustomFieldDefinition.objects.none())) == {
        "0": "name",
        "1": "phone",
        "2": "email",
    }


@pytest.fixture
def workspace(committed, unique):
    from allauth.account.models import EmailAddress

    from tenants.models import User
    from tenants.services import company_create

    slug = unique("crm-")
    email = f"{slug}@example.com"
    with committed():
        user = User.objects.create_user(email=email, password=PASSWORD, full_name="Carla Gestora")
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        # 1,200 contacts: more than the Free plan holds
        company = company_create(name=f"Loja {slug[-4:].upper()}", slug=slug, owner=user, plan="pro")
    return {"slug": company.slug, "email": email}


@pytest.mark.usefixtures("celery_worker_process")  # the import runs in a real Celery worker
def test_import_messy_file_then_bulk_tag_and_timeline(page, url_for, workspace, screenshot):
    slug = workspace["slug"]
    page.goto(url_for("/accounts/login/?next=/imports/", slug=slug))
    page.fill("input[name=login]", workspace["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-testid=upload-form]")

    # upload: the file is inspected (encoding and separator detected) and columns guessed
    page.set_input_files(
        "input[name=file]", files=[{"name": "clientes.csv", "mimeType": "text/csv", "buffer": messy_file()}]
    )
    page.click("[data-testid=upload]")
    page.wait_for_selector("[data-testid=mapping-form]")
    facts = page.locator("[data-testid=file-facts]").inner_text()
    assert "Windows-1252" in facts and ";" in facts
    assert page.locator("[data-testid=map-1]").input_value() == "phone"
    assert page.locator("[data-testid=map-0]").input_value() == "name"
    page.select_option("[data-testid=map-3]", "")  # the city is not imported
    page.fill("input[name=tags]", "Feira 2026")
    screenshot(page, "crm-import-mapping")
    page.click("[data-testid=start-import]")

    # progress, then the result
    page.wait_for_selector("[data-testid=import-progress]")
    screenshot(page, "crm-import-progress")
    page.wait_for_selector("[data-testid=import-progress][data-status=done]", timeout=60000)
    assert page.locator("[data-count=created]").inner_text().replace(".", "").replace(",", "") == "1200"
    assert page.locator("[data-count=failed]").inner_text() == "2"
    screenshot(page, "crm-import-result")

    # the failed rows, each with its reason
    with page.expect_download() as download_info:
        page.click("[data-testid=download-failed]")
    failed = download_info.value.path().read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(failed), delimiter=";"))
    assert [r[1] for r in rows[1:]] == ["Linha Ruim", "Repetido"]
    assert all(r[-1] for r in rows[1:])

    # filter: search a phone typed in another format
    page.click("[data-testid=see-contacts]")
    page.wait_for_selector("[data-testid=contact-filters]")
    page.fill("#contacts-search", "11 97000-0000")
    page.wait_for_function("() => document.querySelectorAll('[data-contact]').length === 1")
    assert page.locator("[data-testid=contact-phone]").inner_text() == "+55 11 97000-0000"

    # bulk: everyone from the fair (1,200 contacts over many pages) gets a tag at once
    page.fill("#contacts-search", "cliente")
    page.wait_for_function("() => document.querySelectorAll('[data-contact]').length === 25")
    page.check("[data-testid=select-page]")
    page.wait_for_selector("[data-testid=select-all-banner]")
    page.wait_for_function("() => document.querySelector('[data-testid=matching-count]').innerText.includes('200')")
    page.click("[data-testid=select-all-matching]")
    page.fill("[data-testid=bulk-tag]", "Campanha Dezembro")
    screenshot(page, "crm-bulk-all-matching")
    page.click("[data-testid=bulk-apply]")
    page.wait_for_selector("[data-testid=undo-banner]")
    assert (
        "1.200" in page.locator("[data-testid=undo-banner]").inner_text()
        or "1,200" in page.locator("[data-testid=undo-banner]").inner_text()
    )
    screenshot(page, "crm-contacts-after-bulk")

    # open a contact: the timeline shows the import and the tag
    page.locator("[data-testid=contact-link]").first.click()
    page.wait_for_selector("[data-testid=timeline]")
    kinds = page.locator("[data-testid=timeline] li").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert "contact.imported" in kinds
    assert "contact.tagged" in kinds
    assert "Campanha Dezembro" in page.locator("[data-testid=contact-tags]").inner_text()
    screenshot(page, "crm-contact-timeline")

    # a segment of the tagged contacts: the count follows the filter while it is edited
    page.goto(url_for("/audiences/segments/new/", slug=slug))
    page.fill("#seg-name", "Campanha de dezembro")
    count = "document.querySelector('[data-testid=segment-count]').innerText.trim() === '{}'"
    page.wait_for_function("() => " + count.format("1.200"))
    page.check("input[name=consent][value=opted_out]")
    page.wait_for_function("() => " + count.format("0"))
    page.uncheck("input[name=consent][value=opted_out]")
    page.select_option("#seg-tags", label="Campanha Dezembro")
    page.wait_for_function("() => " + count.format("1.200"))
    screenshot(page, "crm-segment-live-count")
    page.click("[data-testid=save-segment]")
    page.wait_for_selector("[data-testid=segments]")
    assert "Campanha de dezembro" in page.locator("[data-testid=segments]").inner_text()
    screenshot(page, "crm-lists-and-segments")

    # settings: a custom field, then the contact page offers it
    page.goto(url_for("/settings/contacts/", slug=slug))
    page.fill("input[name=field-label]", "Data da compra")
    page.fill("input[name=field-key]", "data_compra")
    page.select_option("select[name=field-field_type]", "date")
    page.click("[data-testid=field-form] button")
    page.wait_for_selector("[data-testid=custom-fields] >> text=data_compra")
    screenshot(page, "crm-settings")


def test_contact_list_on_a_phone(new_context, url_for, workspace, committed, screenshot):
    from django_tenants.utils import schema_context

    from crm.demo import demo_contacts_setup
    from tenants.models import Company

    with committed():
        with schema_context(Company.objects.get(slug=workspace["slug"]).schema_name):
            demo_contacts_setup()
    page = new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True).new_page()
    page.goto(url_for("/accounts/login/?next=/contacts/", slug=workspace["slug"]))
    page.fill("input[name=login]", workspace["email"])
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-contact]")
    assert page.locator("[data-contact]").count() == 25
    # nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "crm-contacts-phone")
    page.locator("[data-testid=contact-link]").first.click()
    page.wait_for_selector("[data-testid=timeline]")
    screenshot(page, "crm-contact-phone")
