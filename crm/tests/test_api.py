"""CRM API: CRUD, search, bulk upsert, consent, lists/segments with counts, imports, roles and
tenant isolation of every endpoint."""

import io

import pytest
from django.db import connection

from crm.models import ConsentStatus, Contact, ContactImport, ContactListMember, CustomFieldDefinition, FieldType, Tag
from crm.tests.factories import ContactFactory, ContactListFactory, SegmentFactory, TagFactory

pytestmark = pytest.mark.django_db


def in_acme(acme):
    connection.set_tenant(acme)


def public():
    connection.set_schema_to_public()


def test_create_read_update_delete_contact(owner_client, acme):
    created = owner_client.post(
        "/api/v1/contacts/",
        {"name": "Ana", "phone": "(11) 98765-4321", "tags": ["VIP"], "email": "ANA@x.com"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["phone"] == "+5511987654321"
    assert body["email"] == "ana@x.com"
    assert body["tags"] == ["VIP"]
    pk = body["id"]
    assert owner_client.get(f"/api/v1/contacts/{pk}/").json()["name"] == "Ana"
    patched = owner_client.patch(f"/api/v1/contacts/{pk}/", {"name": "Ana Souza"}, content_type="application/json")
    assert patched.status_code == 200
    assert patched.json()["name"] == "Ana Souza"
    assert patched.json()["phone"] == "+5511987654321"
    assert owner_client.delete(f"/api/v1/contacts/{pk}/").status_code == 204
    assert owner_client.get(f"/api/v1/contacts/{pk}/").status_code == 404


def test_create_rejects_bad_input_and_changes_nothing(owner_client, acme):
    in_acme(acme)
    CustomFieldDefinition.objects.create(key="nascimento", label="Nascimento", field_type=FieldType.DATE)
    ContactFactory(phone="+5511911112222")
    public()
    response = owner_client.post(
        "/api/v1/contacts/",
        {"phone": "11 91111-2222", "email": "nope", "custom_fields": {"nascimento": "ontem", "x": 1}},
        content_type="application/json",
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) >= {"phone", "email", "custom_fields"}
    assert set(errors["custom_fields"]) == {"nascimento", "x"}
    in_acme(acme)
    assert Contact.objects.count() == 1


def test_list_searches_and_filters(owner_client, acme):
    in_acme(acme)
    vip = TagFactory(name="VIP")
    a = ContactFactory(name="Maria Souza", phone="+5511987654321", tag_ids=[vip.pk])
    ContactFactory(name="João Lima", phone="+5521912345678", consent_status=ConsentStatus.OPTED_OUT)
    public()
    assert [c["id"] for c in owner_client.get("/api/v1/contacts/?q=(11) 98765").json()["results"]] == [a.pk]
    assert [c["id"] for c in owner_client.get("/api/v1/contacts/?q=souza").json()["results"]] == [a.pk]
    assert [c["id"] for c in owner_client.get(f"/api/v1/contacts/?tag={vip.pk}").json()["results"]] == [a.pk]
    assert len(owner_client.get("/api/v1/contacts/?consent=opted_out").json()["results"]) == 1
    assert owner_client.get("/api/v1/contacts/?consent=maybe").status_code == 400


def test_bulk_upsert_reports_every_item(owner_client, acme):
    in_acme(acme)
    existing = ContactFactory(name="", phone="+5511987654321")
    public()
    payload = {
        "contacts": [
            {"phone": "11 98765-4321", "name": "Existing now named", "tags": ["Lead"]},
            {"phone": "(21) 91234-5678", "name": "New"},
            {"phone": "123", "name": "Bad"},
            {"phone": "+55 21 91234 5678", "name": "Dup of item 1"},
            {"phone": "(31) 3222-1234", "email": "not-an-email"},
        ]
    }
    response = owner_client.post("/api/v1/contacts/bulk-upsert/", payload, content_type="application/json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["updated", "created", "failed", "failed", "failed"]
    assert body["results"][0]["id"] == existing.pk
    assert "phone" in body["results"][2]["errors"]
    assert "phone" in body["results"][3]["errors"]
    assert "email" in body["results"][4]["errors"]
    assert (body["created"], body["updated"], body["failed"]) == (1, 1, 3)
    in_acme(acme)
    existing.refresh_from_db()
    assert existing.name == "Existing now named"
    assert Tag.objects.get(name="Lead").pk in existing.tag_ids
    assert Contact.objects.count() == 2


def test_bulk_upsert_skip_and_limit(owner_client, acme):
    in_acme(acme)
    ContactFactory(name="Keep", phone="+5511987654321")
    public()
    skip = owner_client.post(
        "/api/v1/contacts/bulk-upsert/",
        {"contacts": [{"phone": "11987654321", "name": "Changed"}], "existing": "skip"},
        content_type="application/json",
    )
    assert skip.json()["results"][0]["status"] == "skipped"
    too_many = owner_client.post(
        "/api/v1/contacts/bulk-upsert/",
        {"contacts": [{"phone": f"+55119{80000000 + i}"} for i in range(1001)]},
        content_type="application/json",
    )
    assert too_many.status_code == 400
    in_acme(acme)
    assert Contact.objects.get().name == "Keep"


def test_bulk_upsert_of_1000_uses_few_queries(owner_client, acme, django_assert_max_num_queries):
    contacts = [{"phone": f"+55119{80000000 + i}", "name": f"C {i}", "tags": ["Lote"]} for i in range(1000)]
    with django_assert_max_num_queries(60):
        response = owner_client.post(
            "/api/v1/contacts/bulk-upsert/", {"contacts": contacts}, content_type="application/json"
        )
    assert response.json()["created"] == 1000


def test_opt_out_and_timeline(owner_client, acme):
    in_acme(acme)
    contact = ContactFactory()
    public()
    response = owner_client.post(
        f"/api/v1/contacts/{contact.pk}/opt-out/", {"source": "crm-sync"}, content_type="application/json"
    )
    assert response.json()["consent_status"] == "opted_out"
    kinds = [e["kind"] for e in owner_client.get(f"/api/v1/contacts/{contact.pk}/timeline/").json()]
    assert kinds == ["contact.opted_out"]
    note = owner_client.post(
        f"/api/v1/contacts/{contact.pk}/notes/", {"body": "Ligar amanhã"}, content_type="application/json"
    )
    assert note.status_code == 201
    assert owner_client.get(f"/api/v1/contacts/{contact.pk}/notes/").json()[0]["body"] == "Ligar amanhã"


def test_lists_and_segments_with_counts(owner_client, acme):
    in_acme(acme)
    vip = TagFactory(name="VIP")
    contacts = [ContactFactory(tag_ids=[vip.pk] if i < 3 else []) for i in range(5)]
    public()
    lst = owner_client.post("/api/v1/lists/", {"name": "Semana"}, content_type="application/json").json()
    added = owner_client.post(
        f"/api/v1/lists/{lst['id']}/members/",
        {"contact_ids": [c.pk for c in contacts[:4]]},
        content_type="application/json",
    )
    assert added.json() == {"count": 4}
    assert owner_client.get(f"/api/v1/lists/{lst['id']}/").json()["count"] == 4
    seg = owner_client.post(
        "/api/v1/segments/", {"name": "VIPs", "filters": {"tags_any": [vip.pk]}}, content_type="application/json"
    )
    assert seg.status_code == 201
    assert seg.json()["count"] == 3
    count = owner_client.post(
        "/api/v1/segments/count/", {"filters": {"tags_none": [vip.pk]}}, content_type="application/json"
    )
    assert count.json() == {"count": 2}
    bad = owner_client.post(
        "/api/v1/segments/", {"name": "x", "filters": {"consent": ["talvez"]}}, content_type="application/json"
    )
    assert bad.status_code == 400


def test_custom_fields_admin_only(tenant_client_factory, acme, make_member):
    agent = tenant_client_factory(acme, make_member("agent"))
    admin = tenant_client_factory(acme, make_member("admin"))
    body = {"key": "plano", "label": "Plano", "field_type": "choice", "choices": ["Ouro", "Prata"]}
    assert agent.post("/api/v1/custom-fields/", body, content_type="application/json").status_code == 403
    assert agent.get("/api/v1/custom-fields/").status_code == 200
    created = admin.post("/api/v1/custom-fields/", body, content_type="application/json")
    assert created.status_code == 201
    again = admin.post("/api/v1/custom-fields/", body, content_type="application/json")
    assert again.status_code == 400
    no_choices = admin.post(
        "/api/v1/custom-fields/",
        {"key": "nivel", "label": "Nível", "field_type": "choice"},
        content_type="application/json",
    )
    assert no_choices.status_code == 400


def test_viewer_reads_only(tenant_client_factory, acme, make_member):
    in_acme(acme)
    contact = ContactFactory()
    public()
    viewer = tenant_client_factory(acme, make_member("viewer"))
    assert viewer.get("/api/v1/contacts/").status_code == 200
    assert viewer.get("/api/v1/segments/").status_code == 200
    assert (
        viewer.post("/api/v1/contacts/", {"phone": "11987654321"}, content_type="application/json").status_code == 403
    )
    assert (
        viewer.patch(f"/api/v1/contacts/{contact.pk}/", {"name": "x"}, content_type="application/json").status_code
        == 403
    )
    assert viewer.delete(f"/api/v1/contacts/{contact.pk}/").status_code == 403
    assert viewer.post("/api/v1/tags/", {"name": "x"}, content_type="application/json").status_code == 403
    assert viewer.get("/api/v1/imports/").status_code == 403


def test_every_endpoint_is_isolated(tenant_client_factory, acme, other_company, make_member):
    in_acme(acme)
    contact = ContactFactory()
    tag = TagFactory()
    lst = ContactListFactory()
    seg = SegmentFactory()
    field = CustomFieldDefinition.objects.create(key="k", label="K")
    imp = ContactImport.objects.create(original_name="a.csv", headers=["Telefone"], status="mapping")
    public()
    outsider = tenant_client_factory(other_company, make_member("owner", company=other_company))
    assert outsider.get("/api/v1/contacts/").json()["results"] == []
    assert outsider.get("/api/v1/tags/").json() == []
    assert outsider.get("/api/v1/lists/").json() == []
    assert outsider.get("/api/v1/segments/").json() == []
    assert outsider.get("/api/v1/custom-fields/").json() == []
    assert outsider.get("/api/v1/imports/").json() == []
    for method, url in [
        ("get", f"/api/v1/contacts/{contact.pk}/"),
        ("patch", f"/api/v1/contacts/{contact.pk}/"),
        ("delete", f"/api/v1/contacts/{contact.pk}/"),
        ("post", f"/api/v1/contacts/{contact.pk}/opt-out/"),
        ("get", f"/api/v1/contacts/{contact.pk}/timeline/"),
        ("get", f"/api/v1/contacts/{contact.pk}/notes/"),
        ("delete", f"/api/v1/tags/{tag.pk}/"),
        ("get", f"/api/v1/lists/{lst.pk}/"),
        ("post", f"/api/v1/lists/{lst.pk}/members/"),
        ("get", f"/api/v1/segments/{seg.pk}/"),
        ("delete", f"/api/v1/custom-fields/{field.pk}/"),
        ("get", f"/api/v1/imports/{imp.pk}/"),
        ("post", f"/api/v1/imports/{imp.pk}/start/"),
        ("get", f"/api/v1/imports/{imp.pk}/failed-rows/"),
    ]:
        response = getattr(outsider, method)(url, {}, content_type="application/json")
        assert response.status_code == 404, (method, url, response.status_code)
    # a list member add with acme's contact ids from the other company changes nothing in acme
    in_acme(acme)
    assert Contact.objects.filter(pk=contact.pk).exists()
    assert ContactListMember.objects.count() == 0
    # and acme's member cannot use the other company's API at all
    public()
    acme_member = tenant_client_factory(other_company, make_member("owner"))
    assert acme_member.get("/api/v1/contacts/").status_code == 404


def test_import_upload_start_and_status(owner_client, acme):
    data = "Nome;Telefone\nAna;(11) 98765-4321\n".encode("latin-1")
    upload = io.BytesIO(data)
    upload.name = "contatos.csv"
    response = owner_client.post("/api/v1/imports/", {"file": upload})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["delimiter"] == ";"
    assert body["headers"] == ["Nome", "Telefone"]
    assert body["mapping"] == {"0": "name", "1": "phone"}
    bad = owner_client.post(
        f"/api/v1/imports/{body['id']}/start/", {"mapping": {"0": "name"}}, content_type="application/json"
    )
    assert bad.status_code == 400
    started = owner_client.post(f"/api/v1/imports/{body['id']}/start/", {}, content_type="application/json")
    assert started.json()["status"] == "queued"
    empty = io.BytesIO(b"")
    empty.name = "vazio.csv"
    assert owner_client.post("/api/v1/imports/", {"file": empty}).status_code == 400


def test_schema_documents_crm_endpoints(owner_client):
    schema = owner_client.get("/api/v1/schema/").content.decode()
    for path in [
        "/api/v1/contacts/",
        "/api/v1/contacts/bulk-upsert/",
        "/api/v1/segments/count/",
        "/api/v1/imports/{id}/failed-rows/",
    ]:
        assert path in schema


def test_contact_list_pages_with_cursors_and_few_queries(owner_client, acme, django_assert_max_num_queries):
    in_acme(acme)
    created = [ContactFactory(name=f"Pessoa {i:02d}") for i in range(30)]
    public()
    with django_assert_max_num_queries(16):
        first = owner_client.get("/api/v1/contacts/?size=10&sort=name").json()
    assert [c["name"] for c in first["results"]] == [f"Pessoa {i:02d}" for i in range(10)]
    assert first["previous"] is None
    second = owner_client.get(first["next"]).json()
    assert [c["name"] for c in second["results"]] == [f"Pessoa {i:02d}" for i in range(10, 20)]
    back = owner_client.get(second["previous"]).json()
    assert back["results"] == first["results"]
    seen = [c["id"] for c in first["results"]]
    url = first["next"]
    while url:
        page = owner_client.get(url).json()
        seen += [c["id"] for c in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(c.pk for c in created)
    assert owner_client.get("/api/v1/contacts/?sort=nope").status_code == 400


def test_tags_are_renamed_and_deleted_by_the_pages_role(tenant_client_factory, acme, make_member):
    """Audit L1: the pages let only admins rename or delete a tag; the API let agents do both."""
    in_acme(acme)
    tag = TagFactory(name="VIP")
    public()
    agent = tenant_client_factory(acme, make_member("agent"))
    admin = tenant_client_factory(acme, make_member("admin"))
    rename = {"name": "Ex-VIP"}
    assert agent.patch(f"/api/v1/tags/{tag.pk}/", rename, content_type="application/json").status_code == 403
    assert agent.delete(f"/api/v1/tags/{tag.pk}/").status_code == 403
    assert agent.post(f"/settings/contacts/tags/{tag.pk}/delete/").status_code == 403  # the page: the same rule
    # agents still create tags, as they do from a contact's page
    assert agent.post("/api/v1/tags/", {"name": "Lead"}, content_type="application/json").status_code == 201
    assert admin.patch(f"/api/v1/tags/{tag.pk}/", rename, content_type="application/json").status_code == 200
    assert admin.delete(f"/api/v1/tags/{tag.pk}/").status_code == 204
