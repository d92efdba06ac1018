"""Plans and limits (``tenants.limits``): each limit is enforced in its service with a message
that names it and how to raise it, a staff override wins over the plan, usage is counted from
the database, and another company on the same plan is unaffected."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone, translation

from tenants import limits
from tenants.models import Company, Invitation, Plan


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _limit(company, **overrides):
    Company.objects.filter(pk=company.pk).update(**overrides)
    company.refresh_from_db()
    if getattr(getattr(connection, "tenant", None), "pk", None) == company.pk:
        connection.tenant = company  # the tenant fixture's copy of the row
    return company


def _on_free_plan(*companies):
    for company in companies:
        Company.objects.filter(pk=company.pk).update(plan="free")
        company.refresh_from_db()


def test_plans_exist_and_new_companies_start_on_free(db):
    free = Plan.objects.get(code="free")
    assert (free.max_members, free.max_channels, free.max_contacts) == (3, 2, 1000)
    assert Plan.objects.get(code="enterprise").max_contacts is None
    demo = Plan.objects.get(code="demo")
    # the demo lets a new user try every part (several channels, members, a large base)
    assert demo.max_channels >= 5 and demo.max_members >= 10 and demo.max_contacts >= 100_000
    assert Company._meta.get_field("plan").get_default() == "free"


def test_override_wins_over_the_plan(acme):
    _on_free_plan(acme)
    assert limits.limit_of(acme, limits.CONTACTS) == 1000
    _limit(acme, limit_contacts=5)
    assert limits.limit_of(acme, limits.CONTACTS) == 5
    assert limits.limit_of(acme, limits.MEMBERS) == 3


def test_members_limit_counts_invitations_and_spares_the_other_company(acme, other_company, make_member):
    from tenants import services
    from tenants.models import Membership

    _on_free_plan(acme, other_company)
    _limit(acme, limit_members=2)
    owner = make_member("owner")
    by = Membership.objects.get(user=owner, company=acme)
    services.invitation_create(company=acme, email="a@example.com", role="agent", by=by)
    # renewing the same person's invitation takes no new seat
    services.invitation_create(company=acme, email="a@example.com", role="agent", by=by)
    with pytest.raises(limits.LimitReached) as refused:
        services.invitation_create(company=acme, email="b@example.com", role="agent", by=by)
    assert "allows 2 members" in refused.value.messages[0] and "raise the limit" in refused.value.messages[0]
    assert not Invitation.objects.filter(company=acme, email="b@example.com").exists()
    # the other company, on the same plan without the override, invites freely
    other_owner = make_member("owner", company=other_company)
    other_by = Membership.objects.get(user=other_owner, company=other_company)
    services.invitation_create(company=other_company, email="b@example.com", role="agent", by=other_by)


def test_members_page_shows_the_limit_message(owner_client, acme):
    _limit(acme, limit_members=1)
    owner_client.cookies["django_language"] = "en"
    response = owner_client.post("/settings/members/", {"email": "new@example.com", "role": "agent"}, follow=True)
    assert "allows 1 members" in response.content.decode()
    assert not Invitation.objects.filter(company=acme, email="new@example.com").exists()


def test_channels_limit(tenant, other_company):
    from inbox.services import channel_create

    _limit(tenant, limit_channels=1)
    channel_create(kind="sandbox", name="Um")
    with pytest.raises(limits.LimitReached) as refused:
        channel_create(kind="sandbox", name="Dois")
    assert "1 connected channels" in refused.value.messages[0]
    connection.set_tenant(other_company)
    channel_create(kind="sandbox", name="Outra")  # enterprise plan: no limit


def test_contacts_limit_on_create_page_and_api(tenant, owner, tenant_client_factory):
    from crm.services import contact_create
    from crm.validation import contact_data_clean

    _limit(tenant, limit_contacts=1)
    contact_create(data=contact_data_clean({"phone": "+5511987650001", "name": "Ana"}))
    with pytest.raises(limits.LimitReached):
        contact_create(data=contact_data_clean({"phone": "+5511987650002", "name": "Bia"}))
    connection.set_schema_to_public()
    client = tenant_client_factory(tenant, owner)
    client.cookies["django_language"] = "en"
    page = client.post("/contacts/new/", {"phone": "+5511987650003", "name": "Caio", "consent_status": "unknown"})
    assert page.status_code == 200
    assert "allows 1 contacts" in page.content.decode(), page.content.decode()[page.content.decode().find("<main") :][
        :3000
    ]
    from tenants.services import api_key_create

    _key, full = api_key_create(company=tenant, name="ERP", role="admin", by=owner)
    api = client.post(
        "/api/v1/contacts/",
        {"phone": "+5511987650004", "name": "Duda"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {full}",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert api.status_code == 400 and "allows 1 contacts" in str(api.json())
    connection.set_tenant(tenant)
    from crm.models import Contact

    assert Contact.objects.count() == 1


def _import(content: str):
    import tempfile

    from crm.importing import inspect_file, run_import
    from crm.services import contact_import_create

    with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as fh:
        fh.write(content.encode("cp1252"))
    inspection = inspect_file(fh.name, "contatos.csv")
    contact_import = contact_import_create(stored_name="", original_name="contatos.csv", inspection=inspection)
    contact_import.file.save("contatos.csv", ContentFile(content.encode("cp1252")), save=False)
    contact_import.status = "queued"
    contact_import.save()
    return run_import(contact_import, chunk_rows=2)


def test_import_is_cut_at_the_limit_with_a_message_and_updates_still_apply(tenant, settings, tmp_path):
    from crm.models import Contact
    from crm.services import contact_create
    from crm.validation import contact_data_clean

    settings.MEDIA_ROOT = str(tmp_path)
    contact_create(data=contact_data_clean({"phone": "+5511987650001", "name": "Antiga"}))
    _limit(tenant, limit_contacts=3, locale="en")  # the message is written in the company's language
    rows = "".join(f"Cliente {i};(11) 98765-000{i}\r\n" for i in range(1, 7))
    result = _import("Nome;Telefone\r\n" + rows)
    # the existing contact was updated, two new ones fit, three were cut (counted as skipped)
    assert (result.created_count, result.updated_count, result.skipped_count) == (2, 1, 3)
    assert Contact.objects.count() == 3
    assert Contact.objects.get(phone="+5511987650001").name == "Cliente 1"
    assert "3 new contacts were not imported" in result.error and "allows 3 contacts" in result.error
    # the file's first new rows are the ones kept
    assert set(Contact.objects.values_list("phone", flat=True)) == {
        "+5511987650001",
        "+5511987650002",
        "+5511987650003",
    }


def test_full_contacts_limit_refuses_to_start_an_import(tenant):
    from crm.models import ContactImport
    from crm.services import contact_create, contact_import_start
    from crm.validation import contact_data_clean

    contact_create(data=contact_data_clean({"phone": "+5511987650001", "name": "Ana"}))
    _limit(tenant, limit_contacts=1)
    contact_import = ContactImport.objects.create(original_name="x.csv", headers=["Telefone"])
    with pytest.raises(limits.LimitReached):
        contact_import_start(
            contact_import=contact_import, mapping={"0": "phone"}, tag_ids=[], list_id=None, existing="update"
        )
    contact_import.refresh_from_db()
    assert contact_import.status != "queued"


def _conversation(channel):
    from crm.services import contact_upsert_from_channel
    from inbox.models import Conversation

    contact = contact_upsert_from_channel(phone="+5511987654321", wa_id="5511987654321", name="Maria", source="test")
    return Conversation.objects.create(channel=channel, contact=contact, last_inbound_at=timezone.now())


def test_messages_per_month_count_this_month_only(tenant):
    from inbox.models import Message
    from inbox.services import channel_create, message_send_text, note_add

    conversation = _conversation(channel_create(kind="sandbox", name="Sandbox"))
    _limit(tenant, limit_messages_month=2)
    first, _ = message_send_text(conversation=conversation, text="um")
    # a message of last month does not count, nor does a private note
    last_month = limits.month_start(tenant) - dt.timedelta(minutes=1)
    Message.objects.filter(pk=first.pk).update(created_at=last_month)
    note_add(conversation=conversation, body="nota", by=None)
    message_send_text(conversation=conversation, text="dois")
    message_send_text(conversation=conversation, text="três")
    with pytest.raises(limits.LimitReached) as refused:
        message_send_text(conversation=conversation, text="quatro")
    assert "2 messages sent per month" in refused.value.messages[0]
    assert limits.usage_of(tenant, limits.MESSAGES).used == 2


def test_month_starts_in_the_company_time_zone(acme):
    # 02:00 UTC on 1 March is still February in São Paulo (UTC-3)
    now = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
    start = limits.month_start(acme, now)
    assert (start.month, start.day, start.hour) == (2, 1, 0)


def test_ai_tokens_limit_stops_model_calls(tenant):
    from ai_personas.llm import LLM, LLMError
    from ai_personas.usage import usage_add

    _limit(tenant, limit_ai_tokens_month=1000)
    usage_add(persona_id=None, tokens_in=600, tokens_out=300)
    LLM().check_plan()  # 900 of 1,000: still allowed
    usage_add(persona_id=None, tokens_in=100)
    with pytest.raises(LLMError) as refused:
        LLM().check_plan()
    assert refused.value.kind == "budget" and "1,000 AI tokens per month" in refused.value.message


def test_dashboard_shows_usage_against_limits(owner_client, acme, make_member):
    _on_free_plan(acme)
    owner_client.cookies["django_language"] = "en"
    response = owner_client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="plan-usage"' in html and "Your plan: Free" in html
    assert 'data-limit="members" data-level="ok"' in html
    assert "1 / 3" in html
    make_member("agent")
    make_member("agent")
    html = owner_client.get("/").content.decode()
    assert 'data-limit="members" data-level="full"' in html and "Limit reached" in html


def test_limit_messages_are_translated(tenant):
    from inbox.services import channel_create

    _limit(tenant, limit_channels=0)
    with translation.override("pt-br"), pytest.raises(limits.LimitReached) as refused:
        channel_create(kind="sandbox", name="Um")
    assert refused.value.messages[0].startswith("Seu plano (Enterprise) permite 0 canais conectados")
    assert "aumentarmos o limite" in refused.value.messages[0]
