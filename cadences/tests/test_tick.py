"""The tick: due enrolments move through waits, branches and actions set-based, send steps are
handed to the campaign engine as recipient rows of the step's campaign (never twice), and
sends wait for an allowed moment."""

from __future__ import annotations

import datetime as dt

import pytest

from cadences.models import Enrollment, StepEvent
from cadences.tests.conftest import SP, TUESDAY, tick


def _enrol(cadence, contacts, now=TUESDAY):
    from cadences.services import enrol

    return enrol(cadence=cadence, contact_ids=[c.pk for c in contacts], now=now)


def _recipients(step):
    from campaigns.models import Recipient

    return list(Recipient.objects.filter(campaign_id=step.campaign_id).order_by("contact_id"))


def test_send_wait_send_hands_each_step_once_to_the_engine(make_cadence, contacts):
    # given a cadence: send, wait 2 days at 09:30, send
    cadence = make_cadence(
        [
            ("send", {"body": "Oi {{1}}"}),
            ("wait", {"amount": 2, "unit": "days", "at": "09:30"}),
            ("send", {"body": "Ainda aí?"}),
        ]
    )
    first, wait, second = cadence.steps.order_by("position")
    people = contacts(3)
    assert _enrol(cadence, people) == 3

    # when the tick runs on Tuesday 10:00
    tick(TUESDAY)

    # then the first send is handed (one queued recipient per contact) and everyone waits
    rows = _recipients(first)
    assert [r.contact_id for r in rows] == sorted(c.pk for c in people)
    assert all(r.state == "queued" for r in rows)
    enrolments = list(Enrollment.objects.filter(cadence=cadence))
    assert {e.step_id for e in enrolments} == {second.pk}
    assert {e.next_due_at for e in enrolments} == {dt.datetime(2026, 12, 3, 9, 30, tzinfo=SP)}
    assert all(e.last_recipient_id for e in enrolments)

    # when the tick runs again before the wait is over: nothing new goes out
    tick(TUESDAY + dt.timedelta(hours=5))
    assert _recipients(second) == []
    assert len(_recipients(first)) == 3

    # when the wait is over: the second send is handed, and the enrolments complete
    tick(dt.datetime(2026, 12, 3, 9, 31, tzinfo=SP))
    assert len(_recipients(second)) == 3
    tick(dt.datetime(2026, 12, 3, 9, 32, tzinfo=SP))
    assert set(Enrollment.objects.filter(cadence=cadence).values_list("state", flat=True)) == {"completed"}
    cadence.refresh_from_db()
    assert (cadence.active_count, cadence.completed_count) == (0, 3)
    assert StepEvent.objects.filter(cadence_id=cadence.pk, kind="sent").count() == 6
    assert len(_recipients(first)) == 3  # never twice


def test_a_send_outside_the_window_waits_for_the_next_allowed_moment(make_cadence, contacts):
    cadence = make_cadence()
    (step,) = cadence.steps.all()
    _enrol(cadence, contacts(2), now=dt.datetime(2026, 12, 4, 19, 0, tzinfo=SP))  # Friday 19:00

    tick(dt.datetime(2026, 12, 4, 19, 0, tzinfo=SP))

    assert _recipients(step) == []
    assert set(Enrollment.objects.filter(cadence=cadence).values_list("next_due_at", flat=True)) == {
        dt.datetime(2026, 12, 7, 9, 0, tzinfo=SP)
    }
    tick(dt.datetime(2026, 12, 7, 9, 0, tzinfo=SP))
    assert len(_recipients(step)) == 2


def test_the_sent_event_is_unique_so_a_replayed_step_is_not_handed_again(make_cadence, contacts):
    cadence = make_cadence([("send", {"body": "Oi"}), ("wait", {"amount": 1, "unit": "days"}), ("send", {"body": "2"})])
    first = cadence.steps.get(position=0)
    _enrol(cadence, contacts(2))
    tick(TUESDAY)
    # a bug or a person puts the enrolments back at the first step, due now
    Enrollment.objects.filter(cadence=cadence).update(step=first, next_due_at=TUESDAY)

    tick(TUESDAY + dt.timedelta(minutes=1))

    assert len(_recipients(first)) == 2


def test_branch_on_tag_and_actions(make_cadence, contacts, tenant):
    from crm.models import Contact, Tag

    vip = Tag.objects.create(name="vip")
    done_tag = Tag.objects.create(name="seguido")
    cadence = make_cadence([("send", {"body": "placeholder"})], activate=False)
    from cadences import services

    send_vip = services.step_add(cadence=cadence, kind="send", config={"body": "VIP!"})
    services.step_add(cadence=cadence, kind="action", config={"action": "add_tag", "tag_id": done_tag.pk})
    services.step_add(
        cadence=cadence,
        kind="branch",
        config={"condition": "has_tag", "tag_id": vip.pk, "then": f"step:{send_vip.pk}", "else": "exit"},
        position=1,
    )
    services.cadence_set_status(cadence=cadence, status="active")
    a, b = contacts(2)
    Contact.objects.filter(pk=a.pk).update(tag_ids=[vip.pk])

    _enrol(cadence, [a, b])
    tick(TUESDAY)

    states = dict(Enrollment.objects.filter(cadence=cadence).values_list("contact_id", "state"))
    assert states == {a.pk: "completed", b.pk: "exited"}
    assert [r.contact_id for r in _recipients(send_vip)] == [a.pk]
    assert done_tag.pk in Contact.objects.get(pk=a.pk).tag_ids
    assert done_tag.pk not in Contact.objects.get(pk=b.pk).tag_ids
    assert Enrollment.objects.get(contact=b, cadence=cadence).exit_reason == "branch"


def test_an_opted_out_contact_is_never_handed_and_exits(make_cadence, contacts):
    from crm.models import Contact

    cadence = make_cadence([("wait", {"amount": 1, "unit": "hours"}), ("send", {"body": "Oi"})])
    send = cadence.steps.get(position=1)
    a, b = contacts(2)
    _enrol(cadence, [a, b])
    tick(TUESDAY)
    Contact.objects.filter(pk=a.pk).update(consent_status="opted_out")

    tick(TUESDAY + dt.timedelta(hours=1, minutes=1))

    assert [r.contact_id for r in _recipients(send)] == [b.pk]
    assert Enrollment.objects.get(contact=a, cadence=cadence).exit_reason == "opted_out"


def test_the_pick_takes_batches_oldest_due_first(make_cadence, contacts, monkeypatch):
    from cadences import engine

    cadence = make_cadence([("wait", {"amount": 1, "unit": "hours"}), ("send", {"body": "x"})])
    people = contacts(5)
    for i, person in enumerate(people):
        _enrol(cadence, [person], now=TUESDAY - dt.timedelta(minutes=10 - i))
    picked = engine.due_pick(now=TUESDAY, limit=2)
    assert [p[2] for p in picked] == [people[0].pk, people[1].pk]
    monkeypatch.setattr(engine, "PICK", 2)
    assert tick(TUESDAY)["picked"] == 5


def test_a_paused_cadence_sends_nothing_until_resumed(make_cadence, contacts):
    from cadences.services import cadence_set_status

    cadence = make_cadence()
    (step,) = cadence.steps.all()
    _enrol(cadence, contacts(2))
    cadence_set_status(cadence=cadence, status="paused")
    tick(TUESDAY)
    assert _recipients(step) == []
    cadence_set_status(cadence=cadence, status="active")
    tick(TUESDAY)
    assert len(_recipients(step)) == 2


def test_editing_a_step_applies_to_enrolments_still_before_it(make_cadence, contacts):
    from cadences.services import step_change_impact, step_update, steps_change_impact
    from campaigns.models import CampaignVariant

    cadence = make_cadence(
        [("send", {"body": "1"}), ("wait", {"amount": 1, "unit": "days"}), ("send", {"body": "old"})]
    )
    second = cadence.steps.get(position=2)
    _enrol(cadence, contacts(3))
    tick(TUESDAY)
    # the builder warns: 3 running enrolments are still before step 3
    assert step_change_impact(cadence=cadence, position=2) == 3
    # the builder reads every step's count at once, and the counts are the same
    each = {p: step_change_impact(cadence=cadence, position=p) for p in (0, 1, 2)}
    assert steps_change_impact(cadence=cadence, positions=[0, 1, 2]) == each == {0: 0, 1: 0, 2: 3}

    step_update(step=second, config={"body": "new text"})

    assert CampaignVariant.objects.get(campaign_id=second.campaign_id).body == "new text"
    tick(TUESDAY + dt.timedelta(days=1, minutes=1))
    assert len(_recipients(second)) == 3


def test_removing_the_step_enrolments_wait_at_moves_them_on(make_cadence, contacts):
    from cadences.services import step_remove

    cadence = make_cadence([("wait", {"amount": 3, "unit": "days"}), ("send", {"body": "x"}), ("send", {"body": "y"})])
    _enrol(cadence, contacts(2))
    tick(TUESDAY)
    middle = cadence.steps.get(position=1)
    last = cadence.steps.get(position=2)
    step_remove(step=middle, now=TUESDAY)
    assert set(Enrollment.objects.filter(cadence=cadence).values_list("step_id", flat=True)) == {last.pk}
    tick(TUESDAY + dt.timedelta(minutes=1))
    assert len(_recipients(last)) == 2


def test_a_tick_with_nothing_due_is_one_statement_and_marks_the_next_moment(
    make_cadence, contacts, django_capture_on_commit_callbacks
):
    """Beat visits a company marked due; when no enrolment is due, no outcome is pending and no
    contact sweep is due, the visit reads one statement and marks the earliest due enrolment."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cadences.services import CADENCES
    from core import duework

    # given enrolments waiting two days, after a tick that started the wait and swept contacts
    cadence = make_cadence([("wait", {"amount": 2, "unit": "days", "at": "09:30"}), ("send", {"body": "Oi"})])
    _enrol(cadence, contacts(2))
    tick(TUESDAY)
    schema = connection.schema_name
    duework.clear(CADENCES, schema)

    # when beat visits the company ten seconds later
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        done = tick(TUESDAY + dt.timedelta(seconds=10))

    # then one statement read it all, nothing ran, and the company is marked for the wait's end
    statements = [q["sql"] for q in queries.captured_queries if "cadences_" in q["sql"]]
    assert len(statements) == 1, statements
    assert done == {"failed": 0, "picked": 0, "swept": {}}
    due = dt.datetime(2026, 12, 3, 9, 30, tzinfo=SP)
    assert duework.marks(CADENCES)[schema] == pytest.approx(due.timestamp())


def test_a_quiet_tick_keeps_a_company_whose_cadence_watches_contacts_due_soon(
    make_cadence, django_capture_on_commit_callbacks
):
    from django.db import connection

    from cadences.services import CADENCES
    from core import duework
    from crm.models import Tag

    # given an active cadence triggered by a tag, its contacts swept a moment ago
    tag = Tag.objects.create(name="quente-tick")
    make_cadence(trigger_tag_id=tag.pk)
    tick(TUESDAY)
    schema = connection.schema_name
    duework.clear(CADENCES, schema)

    # when beat visits before the next sweep is due
    with django_capture_on_commit_callbacks(execute=True):
        done = tick(TUESDAY + dt.timedelta(seconds=10))

    # then nothing ran, and the company stays due a few seconds later (to see contact changes)
    assert done == {"failed": 0, "picked": 0, "swept": {}}
    soon = TUESDAY + dt.timedelta(seconds=15)
    assert duework.marks(CADENCES)[schema] == pytest.approx(soon.timestamp())
