"""Enrolment and exits driven by what happens elsewhere: contact changes, inbound messages,
delivery statuses.

**Contact changes** (``contacts_sweep``, from the tick, at most every ``SWEEP_EVERY``): only
the contacts whose ``crm.Contact.updated_at`` moved since the cadence's last look (minus
``OVERLAP``, for transactions that committed late) are read, through the
``crm_contact_updated_at`` index, never the whole segment again:

- a continuous segment enrols the changed contacts that match it now (the CRM's filters,
  compiled to one query); the first look, and a look after the segment's filters changed,
  enrols every match (``segment_once`` only does that first look);
- the tag trigger enrols changed contacts carrying the tag;
- the goal tag exits live enrolments whose contact now carries it;
- an opt-out exits live enrolments of the contact.

Anything that changes a contact in the CRM (edit, tag, bulk action, import, consent) moves
``updated_at``, so these see every change. Matching that changes by the clock alone (a "created
more than 30 days ago" filter) is seen at the contact's next change, not by itself.

**Inbound messages** (``inbound_apply``, the ``inbox.hooks.ON_INBOUND_MESSAGE`` task): stop on
reply (any inbound, or only after a cadence send), the keyword trigger, and the new
conversation trigger. **Statuses** (``failures_apply``, ``ON_MESSAGE_STATUS``): a permanent
failure reported after the send exits the enrolment whose last send it was.
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from django.db import connection, transaction
from django.utils import timezone

from cadences.models import Cadence, CadenceStatus, Enrollment, EnrolMode, EnrolSource, ExitReason, ReplyExit
from cadences.services import enrol, enrollments_exit

SWEEP_EVERY = dt.timedelta(seconds=30)
OVERLAP = dt.timedelta(minutes=2)


def _changed(since: dt.datetime | None, until: dt.datetime):
    from crm.models import Contact

    qs = Contact.objects.filter(updated_at__lte=until)
    return qs if since is None else qs.filter(updated_at__gt=since - OVERLAP)


def contacts_sweep(*, cadence: Cadence, now: dt.datetime | None = None, force: bool = False) -> dict[str, int]:
    """One look at the contacts that changed since the cadence's last one (see the module
    docstring). Returns counts by what happened."""
    from crm.models import ConsentStatus
    from crm.selectors import segment_contacts

    now = now or timezone.now()
    done = {"segment": 0, "trigger": 0, "goal": 0, "opted_out": 0}
    since = cadence.contacts_checked_at
    if not force and since is not None and now - since < SWEEP_EVERY:
        return done
    with transaction.atomic():
        locked = Cadence.objects.select_for_update(skip_locked=True).filter(pk=cadence.pk).first()
        if locked is None or locked.status != CadenceStatus.ACTIVE:
            return done
        cadence = locked
        since = cadence.contacts_checked_at
        segment = cadence.segment
        if segment is not None and cadence.enrol_mode in (EnrolMode.SEGMENT_ONCE, EnrolMode.SEGMENT_CONTINUOUS):
            checked = cadence.segment_checked_at
            full = checked is None or segment.updated_at > checked
            if cadence.enrol_mode == EnrolMode.SEGMENT_CONTINUOUS or checked is None:
                matching = segment_contacts(segment).filter(updated_at__lte=now)
                if not full and checked is not None:
                    matching = matching.filter(updated_at__gt=checked - OVERLAP)
                done["segment"] = enrol(
                    cadence=cadence, contacts=matching, source=EnrolSource.SEGMENT, now=now, limit=None
                )
                cadence.segment_checked_at = now
        changed = _changed(since, now)
        if cadence.trigger_tag_id:
            done["trigger"] = enrol(
                cadence=cadence,
                contacts=changed.filter(tag_ids__contains=[cadence.trigger_tag_id]),
                source=EnrolSource.TRIGGER,
                now=now,
                limit=None,
            )
        if since is not None:
            live = Enrollment.objects.filter(cadence=cadence, state__in=["active", "paused"])
            if cadence.goal_tag_id:
                ids = list(
                    live.filter(
                        contact__in=changed.filter(tag_ids__contains=[cadence.goal_tag_id]).values("id")
                    ).values_list("id", flat=True)
                )
                done["goal"] = enrollments_exit(ids=ids, reason=ExitReason.GOAL, now=now)
            ids = list(
                live.filter(
                    contact__in=changed.filter(consent_status=ConsentStatus.OPTED_OUT).values("id")
                ).values_list("id", flat=True)
            )
            done["opted_out"] = enrollments_exit(ids=ids, reason=ExitReason.OPTED_OUT, now=now)
        from cadences.extensions import goals

        for name, goal in goals().items():
            config = (cadence.goal or {}).get(name)
            if config:
                contact_ids = list(live_contacts(cadence))
                reached = goal.reached(cadence.pk, config, contact_ids) if contact_ids else set()
                ids = list(
                    Enrollment.objects.filter(
                        cadence=cadence, state__in=["active", "paused"], contact_id__in=reached
                    ).values_list("id", flat=True)
                )
                done["goal"] += enrollments_exit(ids=ids, reason=ExitReason.GOAL, now=now)
        cadence.contacts_checked_at = now
        cadence.save(update_fields=["contacts_checked_at", "segment_checked_at"])
    return done


def live_contacts(cadence: Cadence):
    return Enrollment.objects.filter(cadence=cadence, state__in=["active", "paused"]).values_list(
        "contact_id", flat=True
    )


def _keyword_form(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return " ".join(plain.lower().split()).strip(" .!?")


@transaction.atomic
def inbound_apply(
    *,
    contact_id: int,
    channel_id: int,
    at: dt.datetime,
    message_id: int | None = None,
    conversation_created: bool = False,
) -> dict[str, int]:
    """A customer wrote: stop on reply, then the keyword and new-conversation triggers."""
    done = {"exited": 0, "enrolled": 0}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.id FROM cadences_enrollment e JOIN cadences_cadence c ON c.id = e.cadence_id
            WHERE e.contact_id = %s AND e.state IN ('active', 'paused')
              AND (c.exit_on_reply = %s
                   OR (c.exit_on_reply = %s AND e.last_sent_at IS NOT NULL
                       AND e.last_sent_at <= %s + interval '2 seconds'))
            ORDER BY e.id
            """,
            [contact_id, ReplyExit.ANY, ReplyExit.AFTER_SEND, at],
        )
        ids = [r[0] for r in cursor.fetchall()]
    done["exited"] = enrollments_exit(ids=ids, reason=ExitReason.REPLIED, now=at)
    triggers = Cadence.objects.filter(status=CadenceStatus.ACTIVE).exclude(trigger_keyword="", trigger_channel=None)
    if not triggers.exists():
        return done
    text = ""
    if message_id is not None:
        from inbox.models import Message

        text = Message.objects.filter(pk=message_id).values_list("body", flat=True).first() or ""
    word = _keyword_form(text)
    for cadence in triggers:
        keyword_hit = bool(cadence.trigger_keyword) and word == _keyword_form(cadence.trigger_keyword)
        channel_hit = conversation_created and cadence.trigger_channel_id == channel_id
        if keyword_hit or channel_hit:
            done["enrolled"] += enrol(
                cadence=cadence, contact_ids=[contact_id], source=EnrolSource.TRIGGER, now=at, limit=None
            )
    return done


def failures_apply(*, message_ids: list[int], callbacks: list[str] | None = None) -> int:
    """Statuses reported ``failed`` after the send: the enrolments whose last send it was exit
    (when their cadence stops on a permanent failure)."""
    from campaigns.dispatch.reconcile import parse_ref

    recipient_ids: set[int] = set()
    if message_ids:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM campaigns_recipient WHERE message_id = ANY(%s)", [list(message_ids)])
            recipient_ids |= {r[0] for r in cursor.fetchall()}
    for ref in callbacks or []:
        parsed = parse_ref(str(ref))
        if parsed is not None:
            recipient_ids.add(parsed[1])
    if not recipient_ids:
        return 0
    ids = list(
        Enrollment.objects.filter(
            last_recipient_id__in=recipient_ids, state__in=["active", "paused"], cadence__exit_on_failure=True
        ).values_list("id", flat=True)
    )
    return enrollments_exit(ids=ids, reason=ExitReason.FAILED)
