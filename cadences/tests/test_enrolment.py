"""Enrolment: by hand, "all N matching" the contact list's filter, a segment once or
continuously (only changed contacts are read), triggers (tag, keyword, new conversation), and
tenant isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from cadences.models import Enrollment
from cadences.tests.conftest import tick


def _contacts_of(cadence, source=None):
    qs = Enrollment.objects.filter(cadence=cadence)
    if source:
        qs = qs.filter(source=source)
    return set(qs.values_list("contact_id", flat=True))


def test_enrol_all_matching_the_contact_list_filter(make_cadence, contacts):
    from cadences.services import enrol_matching
    from crm.models import Tag

    tag = Tag.objects.create(name="lead")
    people = contacts(4)
    from crm.models import Contact

    Contact.objects.filter(pk__in=[people[0].pk, people[2].pk]).update(tag_ids=[tag.pk])
    cadence = make_cadence()
    assert enrol_matching(cadence=cadence, filters={"tags_any": [tag.pk]}) == 2
    assert _contacts_of(cadence) == {people[0].pk, people[2].pk}


def test_a_draft_cadence_takes_no_enrolment_and_the_message_says_why(make_cadence, contacts):
    from cadences.services import ERR_NOT_ENROLLABLE, enrol

    cadence = make_cadence(activate=False)
    with pytest.raises(ValidationError) as caught:
        enrol(cadence=cadence, contact_ids=[c.pk for c in contacts(1)])
    assert caught.value.messages == [ERR_NOT_ENROLLABLE]


def test_a_continuous_segment_enrols_contacts_who_start_matching(make_cadence, contacts):
    from crm.models import Contact, Tag
    from crm.services import segment_save

    tag = Tag.objects.create(name="quente")
    old = contacts(2)
    Contact.objects.filter(pk=old[0].pk).update(tag_ids=[tag.pk])
    segment = segment_save(name="Quentes", filters={"tags_any": [tag.pk]})
    cadence = make_cadence(enrol_mode="segment_continuous", segment=segment)

    # the first look enrols everyone matching
    now = timezone.now()
    tick(now)
    assert _contacts_of(cadence, "segment") == {old[0].pk}

    # a contact starts matching (its updated_at moves)
    Contact.objects.filter(pk=old[1].pk).update(tag_ids=[tag.pk], updated_at=now + dt.timedelta(seconds=40))
    tick(now + dt.timedelta(seconds=45))
    assert _contacts_of(cadence, "segment") == {old[0].pk, old[1].pk}


def test_the_continuous_sweep_reads_only_changed_contacts(make_cadence, contacts):
    """The query plan of a later look is a range over ``updated_at``, not the whole segment."""
    from cadences.enrolment import _changed

    contacts(1)
    since = timezone.now()
    sql, params = _changed(since, since + dt.timedelta(minutes=1)).values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cursor.fetchall())
    assert "crm_contact_updated_at" in plan


def test_a_segment_once_enrols_only_at_the_first_look(make_cadence, contacts):
    from crm.models import Contact
    from crm.services import segment_save

    people = contacts(2)
    segment = segment_save(name="Todos SP", filters={"source": ["manual"]})
    Contact.objects.filter(pk=people[1].pk).update(source="import")
    cadence = make_cadence(enrol_mode="segment_once", segment=segment)
    now = timezone.now()
    tick(now)
    first = _contacts_of(cadence)
    assert people[0].pk in first and people[1].pk not in first
    Contact.objects.filter(pk=people[1].pk).update(source="manual", updated_at=now + dt.timedelta(seconds=40))
    tick(now + dt.timedelta(seconds=45))
    assert people[1].pk not in _contacts_of(cadence)


def test_tag_trigger_enrols_a_contact_when_tagged(make_cadence, contacts):
    from crm.models import Tag
    from crm.services import contact_update

    tag = Tag.objects.create(name="orcamento")
    cadence = make_cadence(trigger_tag_id=tag.pk)
    a, b = contacts(2)
    now = timezone.now()
    tick(now)
    contact_update(contact=a, data={"tag_ids": [tag.pk]})
    tick(timezone.now() + dt.timedelta(seconds=31))
    assert _contacts_of(cadence, "trigger") == {a.pk}


def test_keyword_and_new_conversation_triggers(make_cadence, contacts, channel):
    from cadences.enrolment import inbound_apply
    from inbox.models import Conversation, Message

    by_word = make_cadence(name="Preço", trigger_keyword="Preço", exit_on_reply="none")
    by_channel = make_cadence(name="Boas-vindas", trigger_channel=channel, exit_on_reply="none")
    a, b = contacts(2)
    conversation = Conversation.objects.create(contact=a, channel=channel)
    message = Message.objects.create(
        conversation=conversation, channel=channel, direction="in", kind="text", body="preco!"
    )

    inbound_apply(contact_id=a.pk, channel_id=channel.pk, at=timezone.now(), message_id=message.pk)
    inbound_apply(contact_id=b.pk, channel_id=channel.pk, at=timezone.now(), conversation_created=True)

    assert _contacts_of(by_word, "trigger") == {a.pk}
    assert _contacts_of(by_channel, "trigger") == {b.pk}


def test_the_inbound_hook_is_registered_and_its_task_stops_the_enrolment(make_cadence, contacts, channel):
    from cadences import tasks
    from inbox import hooks

    assert "cadences.inbound" in hooks.listeners(hooks.ON_INBOUND_MESSAGE)
    assert "cadences.statuses" in hooks.listeners(hooks.ON_MESSAGE_STATUS)
    cadence = make_cadence()
    (a,) = contacts(1)
    from cadences.services import enrol

    enrol(cadence=cadence, contact_ids=[a.pk])
    tasks.inbound.run(
        "acme", {"contact": a.pk, "channel": channel.pk, "message": None, "at": timezone.now().isoformat()}
    )
    assert Enrollment.objects.get(cadence=cadence).state == "exited"


def test_tenant_isolation_the_tick_of_one_company_never_touches_another(make_cadence, contacts, other_company):
    from cadences.services import enrol

    cadence = make_cadence()
    (a,) = contacts(1)
    enrol(cadence=cadence, contact_ids=[a.pk])
    connection.set_tenant(other_company)
    try:
        assert not Enrollment.objects.exists()
        from cadences.engine import cadences_tick

        assert cadences_tick(now=timezone.now())["picked"] == 0
    finally:
        connection.set_schema_to_public()
    from tenants.models import Company

    connection.set_tenant(Company.objects.get(slug="acme"))
    assert Enrollment.objects.get(cadence=cadence).state == "active"


def test_the_beat_task_and_due_work_kind_are_registered(settings):
    from core import duework

    assert settings.CELERY_BEAT_SCHEDULE["cadences-tick"]["task"] == "cadences.tick"
    assert duework.indexed("cadences")
