"""Bulk actions on "all matching" (with undo), merge, export."""

import csv
import io

import pytest
from django.db import connection
from openpyxl import load_workbook

from crm.models import BulkAction, ConsentStatus, Contact, ContactListMember, Note, Tag, TimelineEvent
from crm.services import contact_merge, contacts_bulk_action, contacts_bulk_undo, note_create, timeline_record
from crm.tests.factories import ContactFactory, ContactListFactory, TagFactory

pytestmark = pytest.mark.django_db


def test_bulk_tag_all_matching_then_undo(owner_client, acme):
    connection.set_tenant(acme)
    marias = [ContactFactory(name=f"Maria {i}") for i in range(30)]
    others = [ContactFactory(name=f"Pedro {i}") for i in range(5)]
    already = TagFactory(name="Campanha")
    marias[0].tag_ids = [already.pk]
    marias[0].save()
    connection.set_schema_to_public()
    # the page showed q=maria; the user picked "all matching" and "add tag"
    response = owner_client.post(
        "/contacts/bulk/", {"scope": "all", "filters": "q=maria", "action": "tag", "tag": "Campanha"}
    )
    assert response.status_code == 302
    connection.set_tenant(acme)
    tag = Tag.objects.get(name="Campanha")
    assert Contact.objects.filter(tag_ids__contains=[tag.pk]).count() == 30
    assert not Contact.objects.filter(pk__in=[o.pk for o in others], tag_ids__contains=[tag.pk]).exists()
    assert TimelineEvent.objects.filter(kind="contact.tagged").count() == 29  # the one already tagged is unchanged
    connection.set_schema_to_public()
    page = owner_client.get("/contacts/")
    undo = page.context["undo"]
    assert undo.affected == 29
    owner_client.post(f"/contacts/bulk/{undo.pk}/undo/")
    connection.set_tenant(acme)
    assert list(Contact.objects.filter(tag_ids__contains=[tag.pk]).values_list("pk", flat=True)) == [marias[0].pk]
    assert TimelineEvent.objects.filter(kind="contact.tagged").count() == 0


def test_bulk_selected_ids_untag_owner_list_opt_out(tenant, owner):
    tag = TagFactory()
    contacts = [ContactFactory(tag_ids=[tag.pk]) for _ in range(4)]
    chosen = Contact.objects.filter(pk__in=[c.pk for c in contacts[:2]])
    op = contacts_bulk_action(queryset=chosen, action=BulkAction.UNTAG, params={"tag_id": tag.pk}, by=owner)
    assert op.affected == 2
    assert Contact.objects.filter(tag_ids__contains=[tag.pk]).count() == 2
    op = contacts_bulk_action(queryset=chosen, action=BulkAction.ASSIGN_OWNER, params={"owner_id": owner.pk})
    assert set(Contact.objects.filter(owner_id=owner.pk)) == set(chosen)
    contacts_bulk_undo(operation=op)
    assert not Contact.objects.filter(owner_id=owner.pk).exists()
    lst = ContactListFactory()
    op = contacts_bulk_action(queryset=Contact.objects.all(), action=BulkAction.ADD_TO_LIST, params={"list_id": lst.pk})
    assert op.affected == 4
    again = contacts_bulk_action(
        queryset=Contact.objects.all(), action=BulkAction.ADD_TO_LIST, params={"list_id": lst.pk}
    )
    assert again.affected == 0
    op = contacts_bulk_action(queryset=chosen, action=BulkAction.OPT_OUT, params={})
    assert Contact.objects.filter(consent_status=ConsentStatus.OPTED_OUT).count() == 2
    contacts_bulk_undo(operation=op)
    assert not Contact.objects.filter(consent_status=ConsentStatus.OPTED_OUT).exists()


def test_bulk_delete_and_undo_restores_everything(tenant, owner):
    lst = ContactListFactory()
    contact = ContactFactory(name="Restaurar", custom_fields={"a": 1})
    lst.members.create(contact=contact)
    note_create(contact=contact, body="importante", by=owner)
    timeline_record(contact=contact, kind="message.in", data={"text": "oi"})
    keep = ContactFactory()
    op = contacts_bulk_action(queryset=Contact.objects.filter(pk=contact.pk), action=BulkAction.DELETE, params={})
    assert op.affected == 1
    assert list(Contact.objects.all()) == [keep]
    assert not Note.objects.exists()
    assert not ContactListMember.objects.exists()
    restored = contacts_bulk_undo(operation=op)
    assert restored == 1
    back = Contact.objects.get(pk=contact.pk)
    assert (back.name, back.phone, back.custom_fields) == ("Restaurar", contact.phone, {"a": 1})
    assert Note.objects.get().body == "importante"
    assert TimelineEvent.objects.filter(contact=back, kind="message.in").exists()
    assert ContactListMember.objects.filter(contact_list=lst, contact=back).exists()


def test_bulk_page_confirms_parameters(owner_client, acme):
    response = owner_client.post("/contacts/bulk/", {"scope": "all", "action": "tag", "tag": ""})
    assert response.status_code == 302
    nothing = owner_client.post("/contacts/bulk/", {"action": "delete"})
    assert nothing.status_code == 302
    connection.set_tenant(acme)
    assert not Tag.objects.exists()


def test_merge_keeps_richest_values_and_moves_history(tenant, owner):
    vip, lead = TagFactory(), TagFactory()
    lst = ContactListFactory()
    primary = ContactFactory(name="Ana", email="", tag_ids=[vip.pk], custom_fields={"a": 1})
    duplicate = ContactFactory(
        name="Ana Paula Souza",
        email="ana@x.com",
        tag_ids=[lead.pk],
        custom_fields={"a": 2, "b": 3},
        consent_status=ConsentStatus.OPTED_OUT,
        wa_id="5511999999999",
    )
    lst.members.create(contact=duplicate)
    note_create(contact=duplicate, body="nota", by=owner)
    merged = contact_merge(primary=primary, others=[duplicate], by=owner)
    assert merged.pk == primary.pk
    assert not Contact.objects.filter(pk=duplicate.pk).exists()
    merged.refresh_from_db()
    assert merged.name == "Ana Paula Souza"
    assert merged.email == "ana@x.com"
    assert merged.wa_id == "5511999999999"
    assert sorted(merged.tag_ids) == sorted([vip.pk, lead.pk])
    assert merged.custom_fields == {"a": 1, "b": 3}
    assert merged.consent_status == ConsentStatus.OPTED_OUT
    assert Note.objects.get().contact_id == merged.pk
    assert ContactListMember.objects.get().contact_id == merged.pk
    assert TimelineEvent.objects.filter(contact=merged, kind="contact.merged").exists()


def test_merge_page(owner_client, acme):
    connection.set_tenant(acme)
    a = ContactFactory(name="Carlos Lima")
    b = ContactFactory(name="Carlos Lima")
    connection.set_schema_to_public()
    page = owner_client.get(f"/contacts/{a.pk}/merge/")
    assert [c.pk for c in page.context["candidates"]] == [b.pk]
    assert owner_client.post(f"/contacts/{a.pk}/merge/", {"other": a.pk}).status_code == 302
    owner_client.post(f"/contacts/{a.pk}/merge/", {"other": b.pk})
    connection.set_tenant(acme)
    assert list(Contact.objects.all()) == [a]


def test_export_csv_streams_the_current_filter(owner_client, acme):
    connection.set_tenant(acme)
    vip = TagFactory(name="VIP")
    ContactFactory(name="Exportado", phone="+5511987654321", tag_ids=[vip.pk])
    ContactFactory(name="Fora")
    connection.set_schema_to_public()
    response = owner_client.get(f"/contacts/export.csv?tag={vip.pk}")
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert len(rows) == 2
    assert rows[1][:4] == ["Exportado", "+5511987654321", "", "VIP"]


def test_export_xlsx(owner_client, acme):
    connection.set_tenant(acme)
    ContactFactory(name="Planilha")
    connection.set_schema_to_public()
    response = owner_client.get("/contacts/export.xlsx")
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(workbook.active.values)
    assert rows[1][0] == "Planilha"


def test_export_is_isolated(tenant_client_factory, acme, other_company, make_member):
    connection.set_tenant(acme)
    ContactFactory(name="Segredo", phone="+5511911112222")
    connection.set_tenant(other_company)
    ContactFactory(name="Da Outra", phone="+5521933334444")
    connection.set_schema_to_public()
    client = tenant_client_factory(other_company, make_member("owner", company=other_company))
    text = b"".join(client.get("/contacts/export.csv").streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:3] == ["Nome", "Telefone", "E-mail"]  # the company speaks pt-BR
    assert [row[:2] for row in rows[1:]] == [["Da Outra", "+5521933334444"]]  # its own contact, and only that


def test_large_bulk_runs_in_the_worker(owner_client, acme, owner, monkeypatch, django_capture_on_commit_callbacks):
    from crm import views
    from crm.tasks import contacts_bulk_action_run

    monkeypatch.setattr(views, "BULK_SYNC_LIMIT", 3)
    connection.set_tenant(acme)
    for i in range(6):
        ContactFactory(name=f"Maria {i}")
    tag = TagFactory(name="Grande")
    connection.set_schema_to_public()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        owner_client.post(
            "/contacts/bulk/", {"scope": "all", "filters": "q=maria", "action": "tag", "tag": str(tag.pk)}
        )
    assert len(callbacks) == 1  # queued, not done in the request
    connection.set_tenant(acme)
    assert not Contact.objects.filter(tag_ids__contains=[tag.pk]).exists()
    # what the worker runs
    assert contacts_bulk_action_run(acme.schema_name, "tag", {"tag_id": tag.pk}, "q=maria", owner.pk) == 6
    connection.set_tenant(acme)
    assert Contact.objects.filter(tag_ids__contains=[tag.pk]).count() == 6
    connection.set_schema_to_public()
    assert owner_client.get("/contacts/").context["undo"].affected == 6


def test_undo_data_is_forgotten_after_the_window(tenant):
    import datetime as dt

    from django.utils import timezone

    from crm.models import BulkOperation, DeletedContact
    from crm.tasks import bulk_operations_purge_all

    ContactFactory()
    op = contacts_bulk_action(queryset=Contact.objects.all(), action=BulkAction.DELETE, params={})
    assert DeletedContact.objects.filter(operation=op).count() == 1
    BulkOperation.objects.filter(pk=op.pk).update(created_at=timezone.now() - dt.timedelta(hours=2))
    bulk_operations_purge_all()
    connection.set_tenant(tenant)
    assert not BulkOperation.objects.filter(pk=op.pk).exists()
    assert not DeletedContact.objects.exists()
