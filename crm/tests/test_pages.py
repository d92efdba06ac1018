"""Every CRM page renders for the right roles and only shows the current company's data."""

import pytest
from django.db import connection
from django.http import QueryDict

from crm.models import ConsentStatus, Contact, ContactImport, CustomFieldDefinition, FieldType
from crm.tests.factories import ContactFactory, ContactListFactory, SegmentFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_data(tenant):
    tag = TagFactory(name="VIP")
    contacts = [ContactFactory(name=f"Maria {i}", tag_ids=[tag.pk] if i % 2 else []) for i in range(30)]
    lst = ContactListFactory(name="Clientes")
    seg = SegmentFactory(name="VIPs", filters={"tags_any": [tag.pk]})
    field = CustomFieldDefinition.objects.create(key="cidade", label="Cidade", field_type=FieldType.TEXT)
    imp = ContactImport.objects.create(original_name="a.csv", headers=["Nome", "Telefone"], status="done")
    connection.set_schema_to_public()
    return {"tag": tag, "contacts": contacts, "list": lst, "segment": seg, "field": field, "import": imp}


def test_every_page_renders_for_the_owner(owner_client, acme_data):
    contact = acme_data["contacts"][0]
    urls = [
        "/contacts/",
        "/contacts/?q=maria",
        f"/contacts/?tag={acme_data['tag'].pk}",
        f"/contacts/?segment={acme_data['segment'].pk}",
        "/contacts/?sort=name",
        "/contacts/?sort=-last_interaction",
        "/contacts/count/",
        "/contacts/new/",
        f"/contacts/{contact.pk}/",
        f"/contacts/{contact.pk}/merge/",
        "/imports/",
        f"/imports/{acme_data['import'].pk}/",
        "/audiences/",
        "/audiences/segments/new/",
        f"/audiences/segments/{acme_data['segment'].pk}/",
        "/settings/contacts/",
        f"/settings/contacts/fields/{acme_data['field'].pk}/",
    ]
    for url in urls:
        response = owner_client.get(url)
        assert response.status_code == 200, url


def test_contact_list_pages_through_everything(owner_client, acme_data):
    seen = []
    url = "/contacts/?size=10"
    for _ in range(5):
        response = owner_client.get(url)
        page = response.context["page"]
        seen += [c.pk for c in page.items]
        if not page.has_next:
            break
        url = f"/contacts/?size=10&after={page.next_cursor}"
    assert sorted(seen, reverse=True) == seen
    assert set(seen) == {c.pk for c in acme_data["contacts"]}


@pytest.mark.parametrize("sort", ["name", "-name", "id", "-last_interaction"])
def test_every_sort_pages_forward_and_back(owner_client, acme_data, sort):
    first = owner_client.get(f"/contacts/?size=10&sort={sort}").context["page"]
    second = owner_client.get(f"/contacts/?size=10&sort={sort}&after={first.next_cursor}").context["page"]
    back = owner_client.get(f"/contacts/?size=10&sort={sort}&before={second.previous_cursor}").context["page"]
    assert [c.pk for c in back.items] == [c.pk for c in first.items]
    assert not {c.pk for c in first.items} & {c.pk for c in second.items}


def test_contact_list_query_count_does_not_grow(owner_client, acme_data, query_count):
    # session, user, membership, page, tags, filter options, members, shell: the number does not
    # depend on how many contacts the page shows.
    few = query_count.of(owner_client, "/contacts/?size=10")
    many = query_count.of(owner_client, "/contacts/?size=100")
    assert many == few <= 12
    assert len(owner_client.get("/contacts/?size=100").context["page"].items) == 30


def test_search_finds_phone_in_any_format(owner_client, tenant):
    target = Contact.objects.create(name="Joana Dark", phone="+5511987654321", email="joana@exemplo.com.br")
    Contact.objects.create(name="Outro", phone="+5521912345678")
    connection.set_schema_to_public()
    for q in [
        "(11) 98765-4321",
        "11987654321",
        "+55 11 9876",
        "joana",
        "JOANA dar",
        "joana@exemplo.com.br",
        "11 8765-4321",
    ]:
        items = owner_client.get("/contacts/", {"q": q}).context["page"].items
        assert [c.pk for c in items] == [target.pk], q


def test_other_company_sees_none_of_acme(tenant_client_factory, other_company, make_member, acme_data):
    outsider = make_member("owner", company=other_company)
    client = tenant_client_factory(other_company, outsider)
    contact = acme_data["contacts"][0]
    assert client.get("/contacts/").context["page"].items == []
    for url in [
        f"/contacts/{contact.pk}/",
        f"/contacts/{contact.pk}/merge/",
        f"/imports/{acme_data['import'].pk}/",
        f"/audiences/segments/{acme_data['segment'].pk}/",
        f"/settings/contacts/fields/{acme_data['field'].pk}/",
    ]:
        assert client.get(url).status_code == 404, url
    # and a member of acme gets nothing from other's domain
    acme_owner_on_other = tenant_client_factory(other_company, make_member("owner"))
    assert acme_owner_on_other.get("/contacts/").status_code == 404


def test_viewer_reads_but_cannot_write(tenant_client_factory, acme, make_member, acme_data):
    viewer = tenant_client_factory(acme, make_member("viewer"))
    contact = acme_data["contacts"][0]
    assert viewer.get("/contacts/").status_code == 200
    assert viewer.get(f"/contacts/{contact.pk}/").status_code == 200
    assert viewer.get("/contacts/new/").status_code == 403
    assert viewer.get("/imports/").status_code == 403
    assert viewer.post(f"/contacts/{contact.pk}/", {"phone": "+5511900000000"}).status_code == 403
    assert viewer.post("/contacts/bulk/", {"action": "delete", "ids": [contact.pk]}).status_code == 403
    assert viewer.get("/settings/contacts/").status_code == 403


def test_agent_cannot_manage_fields(tenant_client_factory, acme, make_member, acme_data):
    agent = tenant_client_factory(acme, make_member("agent"))
    assert agent.get("/settings/contacts/").status_code == 403
    assert agent.post(f"/settings/contacts/fields/{acme_data['field'].pk}/delete/").status_code == 403
    assert agent.get("/contacts/new/").status_code == 200


def test_create_contact_normalizes_and_rejects_duplicates(owner_client, tenant):
    connection.set_schema_to_public()
    response = owner_client.post(
        "/contacts/new/", {"name": "Ana", "phone": "(11) 98765-4321", "email": "", "consent_status": "unknown"}
    )
    assert response.status_code == 302
    connection.set_tenant(tenant)
    assert Contact.objects.get().phone == "+5511987654321"
    connection.set_schema_to_public()
    again = owner_client.post(
        "/contacts/new/", {"name": "Ana 2", "phone": "011 98765 4321", "email": "", "consent_status": "unknown"}
    )
    assert again.status_code == 200
    assert "Outro contato já tem este número" in again.content.decode() or "Another contact" in again.content.decode()
    connection.set_tenant(tenant)
    assert Contact.objects.count() == 1


def test_edit_contact_validates_custom_fields(owner_client, tenant):
    contact = ContactFactory()
    CustomFieldDefinition.objects.create(key="valor", label="Valor", field_type=FieldType.NUMBER)
    connection.set_schema_to_public()
    bad = owner_client.post(
        f"/contacts/{contact.pk}/",
        {"name": "X", "phone": contact.phone, "consent_status": "unknown", "cf_valor": "muito"},
    )
    assert bad.status_code == 200
    connection.set_tenant(tenant)
    contact.refresh_from_db()
    assert contact.custom_fields == {}
    connection.set_schema_to_public()
    good = owner_client.post(
        f"/contacts/{contact.pk}/",
        {"name": "X", "phone": contact.phone, "consent_status": "opted_out", "cf_valor": "1.234,50"},
    )
    assert good.status_code == 302
    connection.set_tenant(tenant)
    contact.refresh_from_db()
    assert contact.custom_fields == {"valor": 1234.5}
    assert contact.consent_status == ConsentStatus.OPTED_OUT


@pytest.mark.parametrize("q", ["zelia", "", "11-9700", "zelia@exemplo"])
@pytest.mark.parametrize("sort", ["-id", "id", "name", "-name", "-last_interaction"])
def test_pages_match_a_plain_query_past_the_window(owner_client, tenant, monkeypatch, sort, q):
    """The two-step search (window, then the matches beyond it) returns exactly what a plain
    filtered, sorted query returns, page after page."""
    import datetime as dt

    from django.utils import timezone

    from crm import listing

    monkeypatch.setattr(listing, "SEARCH_WINDOW", 4)
    now = timezone.now()
    for i in range(40):
        ContactFactory(
            name=f"{'Zélia' if i % 3 else 'Outra'} Pessoa {i:02d}",
            phone=f"+55{'11' if i % 3 else '21'}9{70000000 + i}",  # the Zélias: DDD 11
            email=f"{'zelia' if i % 3 else 'outra'}@exemplo{i}.com",
            last_interaction_at=None if i % 5 == 0 else now - dt.timedelta(minutes=i * 7 % 23),
        )
    expected_qs, _clean, _segment = listing.contacts_for_query(QueryDict(f"q={q}"))
    spec = listing.SPECS[sort]
    expected = list(expected_qs.order_by(*listing.display_order(spec)).values_list("pk", flat=True))
    assert len(expected) == (26 if q else 40)
    connection.set_schema_to_public()
    seen, url = [], f"/contacts/?q={q}&size=10&sort={sort}"
    pages = []
    for _ in range(6):
        page = owner_client.get(url).context["page"]
        pages.append(page)
        seen += [c.pk for c in page.items]
        if not page.has_next:
            break
        url = f"/contacts/?q={q}&size=10&sort={sort}&after={page.next_cursor}"
    assert seen == expected
    # and back: each "previous" page is the page before it
    for earlier, later in zip(pages, pages[1:], strict=False):
        back = owner_client.get(f"/contacts/?q={q}&size=10&sort={sort}&before={later.previous_cursor}").context["page"]
        assert [c.pk for c in back.items] == [c.pk for c in earlier.items]


def test_create_contact_with_required_custom_field(owner_client, tenant):
    CustomFieldDefinition.objects.create(key="cidade", label="Cidade", field_type=FieldType.TEXT, required=True)
    connection.set_schema_to_public()
    page = owner_client.get("/contacts/new/")
    assert b'name="cf_cidade"' in page.content
    missing = owner_client.post("/contacts/new/", {"phone": "11987654321", "consent_status": "unknown"})
    assert missing.status_code == 200
    done = owner_client.post(
        "/contacts/new/", {"phone": "11987654321", "consent_status": "unknown", "cf_cidade": "Recife"}
    )
    assert done.status_code == 302
    connection.set_tenant(tenant)
    assert Contact.objects.get().custom_fields == {"cidade": "Recife"}


def test_sortable_headers_and_htmx_partial(owner_client, acme_data):
    page = owner_client.get("/contacts/?q=maria")
    assert b'data-testid="sort-name"' in page.content
    assert b"q=maria&amp;sort=name" in page.content
    partial = owner_client.get("/contacts/?q=maria&sort=-name", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="contacts")
    assert partial.templates[0].name == "crm/partials/contact_table.html"
    names = [c.name for c in partial.context["page"].items]
    assert names == sorted(names, reverse=True)


def test_pages_write_phones_as_people_do_and_the_api_keeps_e164(owner_client, tenant):
    contact = ContactFactory(name="", phone="+5511987654321")
    imp = ContactImport.objects.create(
        original_name="b.csv",
        headers=["Nome", "Telefone"],
        preview=[["Ana", "(11) 98765-4321"], ["Bia", "21 3000 0000"], ["Cris", "nada"]],
        mapping={"0": "name", "1": "phone"},
        status="mapping",
        total_rows=3,
    )
    connection.set_schema_to_public()

    listing = owner_client.get("/contacts/").content.decode()
    assert 'data-testid="contact-phone">+55 11 98765-4321<' in listing
    assert "+5511987654321" not in listing.split("<tbody")[1]
    detail = owner_client.get(f"/contacts/{contact.pk}/").content.decode()
    assert "<title>+55 11 98765-4321" in detail and 'value="+55 11 98765-4321"' in detail  # the form, as written
    preview = owner_client.get(f"/imports/{imp.pk}/").content.decode()
    assert "+55 11 98765-4321 · +55 21 3000-0000 · nada" in preview  # unreadable values as the file has them
    assert owner_client.get(f"/api/v1/contacts/{contact.pk}/").json()["phone"] == "+5511987654321"
