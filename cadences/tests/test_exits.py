"""Exit rules: reply (any, or only after a cadence send), opt-out, permanent delivery failure
(at once from the engine, later from a status webhook), goal tag, by hand, archive; and
re-enrolment (never / after N days)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from cadences.models import Enrollment
from cadences.tests.conftest import TUESDAY, tick


def _enrol(cadence, contacts, now=TUESDAY, **kw):
    from cadences.services import enrol

    return enrol(cadence=cadence, contact_ids=[c.pk for c in contacts], now=now, **kw)


def _state(cadence, contact):
    e = Enrollment.objects.filter(cadence=cadence, contact=contact).order_by("-id").first()
    return (e.state, e.exit_reason)


def _inbound(channel, contact, at, text="oi", conversation_created=False, message_id=None):
    from cadences.enrolment import inbound_apply

    return inbound_apply(
        contact_id=contact.pk,
        channel_id=channel.pk,
        at=at,
        message_id=message_id,
        conversation_created=conversation_created,
    )


def test_any_inbound_message_stops_the_enrolment(make_cadence, contacts, channel):
    cadence = make_cadence([("wait", {"amount": 1, "unit": "days"}), ("send", {"body": "x"})])
    a, b = contacts(2)
    _enrol(cadence, [a, b])

    _inbound(channel, a, TUESDAY + dt.timedelta(minutes=5))

    assert _state(cadence, a) == ("exited", "replied")
    assert _state(cadence, b) == ("active", "")
    cadence.refresh_from_db()
    assert (cadence.active_count, cadence.exited_count) == (1, 1)


def test_reply_after_a_cadence_message_ignores_earlier_inbound(make_cadence, contacts, channel):
    cadence = make_cadence(
        [("wait", {"amount": 1, "unit": "hours"}), ("send", {"body": "x"}), ("wait", {"amount": 2, "unit": "days"})],
        exit_on_reply="after_send",
    )
    (a,) = contacts(1)
    _enrol(cadence, [a])
    tick(TUESDAY)  # the wait starts
    _inbound(channel, a, TUESDAY + dt.timedelta(minutes=5))  # before any cadence send
    assert _state(cadence, a) == ("active", "")
    tick(TUESDAY + dt.timedelta(hours=1, minutes=1))  # the send is handed
    assert Enrollment.objects.get(cadence=cadence, contact=a).last_sent_at is not None
    _inbound(channel, a, TUESDAY + dt.timedelta(hours=2))
    assert _state(cadence, a) == ("exited", "replied")


def test_no_stop_on_reply_when_the_cadence_says_so(make_cadence, contacts, channel):
    cadence = make_cadence(exit_on_reply="none")
    (a,) = contacts(1)
    _enrol(cadence, [a])
    _inbound(channel, a, TUESDAY)
    assert _state(cadence, a) == ("active", "")


def test_opting_out_exits_at_the_next_look_at_contact_changes(make_cadence, contacts):
    from crm.services import contact_opt_out

    cadence = make_cadence([("wait", {"amount": 3, "unit": "days"}), ("send", {"body": "x"})])
    (a,) = contacts(1)
    _enrol(cadence, [a])
    tick(timezone.now())  # the first look sets the cursor
    contact_opt_out(contact=a, source="test")

    tick(timezone.now() + dt.timedelta(minutes=1))

    assert _state(cadence, a) == ("exited", "opted_out")


def test_goal_tag_added_exits(make_cadence, contacts):
    from crm.models import Tag
    from crm.services import contact_update

    goal = Tag.objects.create(name="comprou")
    cadence = make_cadence([("wait", {"amount": 3, "unit": "days"}), ("send", {"body": "x"})], goal_tag_id=goal.pk)
    a, b = contacts(2)
    _enrol(cadence, [a, b])
    tick(timezone.now())
    contact_update(contact=a, data={"tag_ids": [goal.pk]})

    tick(timezone.now() + dt.timedelta(minutes=1))

    assert _state(cadence, a) == ("exited", "goal")
    assert _state(cadence, b) == ("active", "")


def test_a_send_the_engine_failed_for_good_exits(make_cadence, contacts):
    from campaigns.models import Recipient

    cadence = make_cadence([("send", {"body": "x"}), ("wait", {"amount": 1, "unit": "days"}), ("send", {"body": "y"})])
    a, b = contacts(2)
    _enrol(cadence, [a, b])
    tick(TUESDAY)
    first = cadence.steps.get(position=0)
    # the engine's outcomes: a failed (131026, undeliverable), b sent
    Recipient.objects.filter(campaign_id=first.campaign_id, contact_id=a.pk).update(state="failed", error_code="131026")
    Recipient.objects.filter(campaign_id=first.campaign_id, contact_id=b.pk).update(state="sent")

    tick(TUESDAY + dt.timedelta(minutes=1))

    assert _state(cadence, a) == ("exited", "failed")
    assert _state(cadence, b) == ("active", "")
    assert not Enrollment.objects.filter(cadence=cadence, outcome_pending=True).exists()
    first.refresh_from_db()
    assert first.exited_count == 0  # it left at the step after the send (where it waited)


def test_a_failure_reported_later_by_status_webhook_exits(make_cadence, contacts):
    from cadences import tasks
    from campaigns.dispatch.reconcile import callback_ref

    cadence = make_cadence([("send", {"body": "x"}), ("wait", {"amount": 1, "unit": "days"}), ("send", {"body": "y"})])
    (a,) = contacts(1)
    _enrol(cadence, [a])
    tick(TUESDAY)
    enrolment = Enrollment.objects.get(cadence=cadence, contact=a)
    step = cadence.steps.get(position=0)

    tasks.statuses.run(
        "acme",
        {
            "channel": cadence.channel_id,
            "statuses": [],
            "callbacks": [
                {"callback": callback_ref(step.campaign_id, enrolment.last_recipient_id), "status": "failed"}
            ],
        },
    )

    assert _state(cadence, a) == ("exited", "failed")


def test_no_exit_on_failure_when_turned_off(make_cadence, contacts):
    from cadences.enrolment import failures_apply

    cadence = make_cadence([("send", {"body": "x"}), ("wait", {"amount": 1, "unit": "days"})], exit_on_failure=False)
    (a,) = contacts(1)
    _enrol(cadence, [a])
    tick(TUESDAY)
    from campaigns.models import Recipient

    Recipient.objects.filter(contact_id=a.pk).update(message_id=987654)
    assert failures_apply(message_ids=[987654]) == 0


def test_unenrol_by_hand_and_archive(make_cadence, contacts):
    from cadences.services import cadence_set_status, unenrol

    cadence = make_cadence([("wait", {"amount": 1, "unit": "days"}), ("send", {"body": "x"})])
    a, b = contacts(2)
    _enrol(cadence, [a, b])
    unenrol(enrollment=Enrollment.objects.get(cadence=cadence, contact=a))
    assert _state(cadence, a) == ("exited", "manual")
    cadence_set_status(cadence=cadence, status="archived")
    assert _state(cadence, b) == ("exited", "archived")
    step = cadence.steps.get(position=0)
    assert step.exited_count == 2  # both left before their first step ran


def test_reenrolment_never(make_cadence, contacts, channel):
    cadence = make_cadence()
    (a,) = contacts(1)
    assert _enrol(cadence, [a]) == 1
    assert _enrol(cadence, [a]) == 0  # already live
    _inbound(channel, a, TUESDAY)
    assert _enrol(cadence, [a], now=TUESDAY + dt.timedelta(days=400)) == 0


def test_reenrolment_after_n_days(make_cadence, contacts, channel):
    cadence = make_cadence(reenrol="after_days", reenrol_after_days=7)
    (a,) = contacts(1)
    _enrol(cadence, [a])
    _inbound(channel, a, TUESDAY)  # exits at TUESDAY
    assert _enrol(cadence, [a], now=TUESDAY + dt.timedelta(days=6)) == 0
    assert _enrol(cadence, [a], now=TUESDAY + dt.timedelta(days=8)) == 1
    assert Enrollment.objects.filter(cadence=cadence, contact=a).count() == 2


def test_the_database_refuses_two_live_enrolments(make_cadence, contacts):
    from django.db import IntegrityError, transaction

    cadence = make_cadence()
    (a,) = contacts(1)
    _enrol(cadence, [a])
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.create(cadence=cadence, contact=a, state="paused")
