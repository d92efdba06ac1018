"""The functions the inbox and campaigns build on."""

import pytest

from crm.models import ConsentStatus, Contact, ContactList, ContactListMember, CrmSettings, Segment, TimelineEvent
from crm.phones import InvalidPhoneError
from crm.selectors import crm_settings_get, is_opt_out_keyword, marketing_audience
from crm.services import contact_opt_in, contact_opt_out, contact_upsert_from_channel, timeline_record

pytestmark = pytest.mark.django_db


def test_upsert_creates_then_finds_by_wa_id_without_ninth_digit(tenant):
    # given a contact saved with the ninth digit
    saved = Contact.objects.create(phone="+5511987654321", name="Maria")
    # when WhatsApp reports the old 12-digit id
    found = contact_upsert_from_channel(phone="551187654321", wa_id="551187654321", name="Mari", source="whatsapp")
    # then it is the same person; the name we had is kept, the id and interaction are stored
    assert found.pk == saved.pk
    found.refresh_from_db()
    assert found.wa_id == "551187654321"
    assert found.name == "Maria"
    assert found.last_interaction_at is not None
    assert Contact.objects.count() == 1


def test_upsert_creates_unknown_contact_with_timeline(tenant):
    contact = contact_upsert_from_channel(phone="+5521998765432", wa_id="5521998765432", name="João", source="whatsapp")
    assert contact.phone == "+5521998765432"
    assert contact.source == "whatsapp"
    assert contact.consent_status == ConsentStatus.UNKNOWN
    assert list(TimelineEvent.objects.filter(contact=contact).values_list("kind", flat=True)) == ["contact.created"]
    again = contact_upsert_from_channel(phone="5521998765432", wa_id="5521998765432", name=None, source="whatsapp")
    assert again.pk == contact.pk


def test_upsert_rejects_garbage(tenant):
    with pytest.raises(InvalidPhoneError):
        contact_upsert_from_channel(phone="abc", wa_id=None, name="x", source="sms")
    assert Contact.objects.count() == 0


def test_opt_out_and_in_are_recorded_and_audience_excludes_opted_out(tenant, owner):
    a = Contact.objects.create(phone="+5511911111111")
    b = Contact.objects.create(phone="+5511922222222")
    contact_opt_out(contact=a, source="keyword", by=owner)
    assert set(marketing_audience()) == {b}
    a.refresh_from_db()
    assert a.consent_status == ConsentStatus.OPTED_OUT
    assert a.consent_source == "keyword"
    assert a.consent_changed_at is not None
    event = TimelineEvent.objects.get(contact=a)
    assert (event.kind, event.actor_id) == ("contact.opted_out", owner.pk)
    contact_opt_in(contact=a, source="manual")
    assert set(marketing_audience()) == {a, b}


def test_audience_of_list_and_segment_never_has_opted_out(tenant):
    a = Contact.objects.create(phone="+5511911111111", source="import")
    b = Contact.objects.create(phone="+5511922222222", source="import", consent_status=ConsentStatus.OPTED_OUT)
    c = Contact.objects.create(phone="+5511933333333", source="manual")
    lst = ContactList.objects.create(name="VIP")
    ContactListMember.objects.bulk_create([ContactListMember(contact_list=lst, contact=x) for x in (a, b, c)])
    segment = Segment.objects.create(name="Importados", filters={"source": ["import"]})
    assert set(marketing_audience(contact_list=lst)) == {a, c}
    assert set(marketing_audience(segment=segment)) == {a}
    assert set(marketing_audience(segment=segment, contact_list=lst)) == {a}


def test_opt_out_keywords_ignore_case_accents_and_punctuation(tenant):
    assert is_opt_out_keyword("sair")
    assert is_opt_out_keyword("  Parar! ")
    assert is_opt_out_keyword("STOP")
    assert not is_opt_out_keyword("quero sair da lista amanhã")
    assert not is_opt_out_keyword("")
    settings_row = crm_settings_get()
    settings_row.opt_out_keywords = ["Não quero"]
    settings_row.save()
    assert is_opt_out_keyword("nao QUERO")
    assert not is_opt_out_keyword("sair")
    assert CrmSettings.objects.count() == 1


def test_timeline_record_for_other_apps(tenant, owner):
    contact = Contact.objects.create(phone="+5511911111111")
    event = timeline_record(contact=contact, kind="message.in", data={"text": "Oi"}, actor=owner)
    assert event.contact_id == contact.pk
    assert event.data == {"text": "Oi"}


def test_demo_contacts_are_created_once(tenant):
    from crm.demo import DEMO_COUNT, demo_contacts_setup

    assert demo_contacts_setup() == DEMO_COUNT
    assert demo_contacts_setup() == 0
    assert Contact.objects.filter(source="demo").count() == DEMO_COUNT
    assert Contact.objects.filter(consent_status=ConsentStatus.OPTED_OUT).exists()
    phones = list(Contact.objects.values_list("phone", flat=True))
    assert all(p.startswith("+55") and len(p) == 14 for p in phones)
