"""Segment compilation (one query), custom field validation."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.fields import (
    ERR_FIELD_BOOLEAN,
    ERR_FIELD_DATE,
    ERR_FIELD_NUMBER,
    ERR_FIELD_REQUIRED,
    ERR_FIELD_UNKNOWN,
    CustomFieldError,
    custom_fields_clean,
)
from crm.models import ConsentStatus, Contact, CustomFieldDefinition, FieldType
from crm.segments import ERR_FILTER_OPERATOR, ERR_FILTER_UNKNOWN_FIELD, ERR_FILTER_VALUE, FilterError, filters_clean
from crm.selectors import contacts_matching
from crm.tests.factories import ContactFactory, ContactListFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(tenant):
    return {
        "plano": CustomFieldDefinition.objects.create(
            key="plano", label="Plano", field_type=FieldType.CHOICE, choices=["Ouro", "Prata"]
        ),
        "valor": CustomFieldDefinition.objects.create(key="valor", label="Valor", field_type=FieldType.NUMBER),
        "nasc": CustomFieldDefinition.objects.create(key="nasc", label="Nascimento", field_type=FieldType.DATE),
        "ativo": CustomFieldDefinition.objects.create(key="ativo", label="Ativo", field_type=FieldType.BOOLEAN),
        "obs": CustomFieldDefinition.objects.create(key="obs", label="Obs", field_type=FieldType.TEXT, required=True),
    }


def test_custom_field_values_parse_pt_br(fields):
    values = custom_fields_clean(
        {"plano": "ouro", "valor": "R$ 1.234,56", "nasc": "31/01/1990", "ativo": "Sim", "obs": " oi "}
    )
    assert values == {"plano": "Ouro", "valor": 1234.56, "nasc": "1990-01-31", "ativo": True, "obs": "oi"}
    assert custom_fields_clean({"valor": 10, "obs": "x"}) == {"valor": 10, "obs": "x"}


def test_custom_field_errors_all_at_once(fields):
    with pytest.raises(CustomFieldError) as excinfo:
        custom_fields_clean({"valor": "muito", "nasc": "ontem", "ativo": "talvez", "plano": "Bronze", "cor": "azul"})
    errors = excinfo.value.errors
    assert errors["valor"] == ERR_FIELD_NUMBER
    assert errors["nasc"] == ERR_FIELD_DATE
    assert errors["ativo"] == ERR_FIELD_BOOLEAN
    assert "Ouro" in str(errors["plano"])
    assert errors["cor"] == ERR_FIELD_UNKNOWN % {"key": "cor"}
    assert errors["obs"] == ERR_FIELD_REQUIRED


def test_empty_value_removes_and_partial_skips_required(fields):
    assert custom_fields_clean({"valor": ""}, current={"valor": 3, "obs": "x"}) == {"obs": "x"}
    assert custom_fields_clean({"valor": "2"}, partial=True) == {"valor": 2}


def test_segment_filters_compile_to_one_query(fields):
    vip, lead, old = TagFactory(name="VIP"), TagFactory(name="Lead"), TagFactory(name="Antigo")
    now = timezone.now()
    match = ContactFactory(
        tag_ids=[vip.pk, lead.pk],
        custom_fields={"plano": "Ouro", "valor": 1500, "nasc": "1990-01-31", "ativo": True},
        consent_status=ConsentStatus.OPTED_IN,
        source="import",
        last_interaction_at=now,
    )
    ContactFactory(tag_ids=[vip.pk], custom_fields={"plano": "Ouro", "valor": 1500})  # not all tags
    ContactFactory(tag_ids=[vip.pk, lead.pk, old.pk], custom_fields={"plano": "Ouro", "valor": 1500})  # tag none
    ContactFactory(tag_ids=[vip.pk, lead.pk], custom_fields={"plano": "Prata", "valor": 1500})  # choice
    ContactFactory(tag_ids=[vip.pk, lead.pk], custom_fields={"plano": "Ouro", "valor": 50})  # number
    lst = ContactListFactory()
    lst.members.create(contact=match)
    filters = {
        "tags_all": [vip.pk, lead.pk],
        "tags_none": [old.pk],
        "consent": ["opted_in"],
        "source": ["import"],
        "list": lst.pk,
        "interaction_from": (now - dt.timedelta(days=1)).date().isoformat(),
        "fields": [
            {"key": "plano", "op": "eq", "value": "Ouro"},
            {"key": "valor", "op": "gte", "value": "1.000"},
            {"key": "nasc", "op": "lt", "value": "2000-01-01"},
            {"key": "ativo", "op": "eq", "value": "sim"},
        ],
    }
    with CaptureQueriesContext(connection) as ctx:
        queryset = contacts_matching(filters)
        ids = list(queryset.values_list("id", flat=True))
    # one query for the definitions (validation), one for the contacts (ignoring SET search_path)
    selects = [q for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 2
    assert ids == [match.pk]


def test_tags_any_and_owner_none_and_text_contains(fields, owner):
    vip, lead = TagFactory(), TagFactory()
    a = ContactFactory(tag_ids=[vip.pk], custom_fields={"obs": "cliente antigo"})
    b = ContactFactory(tag_ids=[lead.pk], owner_id=owner.pk)
    ContactFactory()
    assert set(contacts_matching({"tags_any": [vip.pk, lead.pk]})) == {a, b}
    assert set(contacts_matching({"tags_any": [vip.pk, lead.pk], "owner": ["none"]})) == {a}
    assert set(contacts_matching({"owner": [owner.pk]})) == {b}
    assert set(contacts_matching({"fields": [{"key": "obs", "op": "contains", "value": "ANTIGO"}]})) == {a}
    assert set(contacts_matching({"fields": [{"key": "obs", "op": "is_set"}]})) == {a}
    assert Contact.objects.count() - contacts_matching({"fields": [{"key": "obs", "op": "is_not_set"}]}).count() == 1


def test_bad_filters_are_refused(fields):
    for filters, message in [
        ({"fields": [{"key": "nope", "op": "eq", "value": 1}]}, ERR_FILTER_UNKNOWN_FIELD % {"key": "nope"}),
        ({"fields": [{"key": "ativo", "op": "gt", "value": 1}]}, ERR_FILTER_OPERATOR % {"key": "Ativo"}),
        ({"fields": [{"key": "valor", "op": "gt", "value": "muito"}]}, ERR_FILTER_VALUE % {"key": "valor"}),
        ({"fields": [{"key": "plano", "op": "eq", "value": "Bronze"}]}, ERR_FILTER_VALUE % {"key": "plano"}),
    ]:
        with pytest.raises(FilterError) as excinfo:
            filters_clean(filters)
        assert excinfo.value.message == message
    for filters in [{"consent": ["talvez"]}, {"tags_any": ["x"]}, {"created_from": "ontem"}, "nope"]:
        with pytest.raises(FilterError):
            filters_clean(filters)


def test_segment_live_count_endpoint(owner_client, acme, fields):
    vip = TagFactory()
    ContactFactory(tag_ids=[vip.pk])
    ContactFactory()
    connection.set_schema_to_public()
    response = owner_client.post("/audiences/segments/count/", {"tag": [vip.pk]})
    assert response.content.decode().strip() == "1"
    bad = owner_client.post("/audiences/segments/count/", {"cf_key": ["valor"], "cf_op": ["gt"], "cf_value": ["x"]})
    assert b'role="alert"' in bad.content
    saved = owner_client.post("/audiences/segments/new/", {"name": "VIP", "tag": [vip.pk], "consent": ["unknown"]})
    assert saved.status_code == 302
    connection.set_tenant(acme)
    from crm.models import Segment

    assert Segment.objects.get(name="VIP").filters == {"tags_any": [vip.pk], "consent": ["unknown"]}
