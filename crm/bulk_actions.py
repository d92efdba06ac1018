"""Bulk actions over "all matching" contacts (tag, untag, add to a list, assign an owner, opt
out, delete) as set-based SQL, each recorded as a ``BulkOperation`` that can be undone within
``UNDO_WINDOW``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core import duework
from core.realtime import send_event_on_commit
from crm.models import BulkAction, BulkOperation, DeletedContact
from crm.timeline import actor_id
from crm.validation import ContactDataError
from tenants.context import require_tenant_schema

# The columns of ``crm_contact`` a deleted contact is kept with (in the undo trash) and
# restored from.
CONTACT_COLUMNS = (
    "id",
    "name",
    "phone",
    "wa_id",
    "email",
    "tag_ids",
    "custom_fields",
    "owner_id",
    "source",
    "consent_status",
    "consent_changed_at",
    "consent_source",
    "created_at",
    "updated_at",
    "last_interaction_at",
)


def _delete_contacts_sql(where_sql: str, params: list, operation_id: int) -> int:
    """Move matching contacts (and their notes, timeline, list memberships) to the undo trash."""
    sql = f"""
        WITH target AS ({where_sql}),
        gone_members AS (
            DELETE FROM crm_contactlistmember m USING target t WHERE m.contact_id = t.id
            RETURNING m.contact_id, m.contact_list_id
        ),
        gone_notes AS (
            DELETE FROM crm_note n USING target t WHERE n.contact_id = t.id RETURNING n.*
        ),
        gone_events AS (
            DELETE FROM crm_timelineevent e USING target t WHERE e.contact_id = t.id RETURNING e.*
        ),
        gone AS (
            DELETE FROM crm_contact c USING target t WHERE c.id = t.id
            RETURNING {", ".join("c." + col for col in CONTACT_COLUMNS)}
        ),
        members_by AS (SELECT contact_id, jsonb_agg(contact_list_id) j FROM gone_members GROUP BY contact_id),
        notes_by AS (SELECT contact_id, jsonb_agg(to_jsonb(n)) j FROM gone_notes n GROUP BY contact_id),
        events_by AS (SELECT contact_id, jsonb_agg(to_jsonb(e)) j FROM gone_events e GROUP BY contact_id)
        INSERT INTO crm_deletedcontact (operation_id, row, related)
        SELECT %s, to_jsonb(g), jsonb_build_object(
            'lists', coalesce(mb.j, '[]'::jsonb),
            'notes', coalesce(nb.j, '[]'::jsonb),
            'timeline', coalesce(eb.j, '[]'::jsonb))
        FROM gone g
        LEFT JOIN members_by mb ON mb.contact_id = g.id
        LEFT JOIN notes_by nb ON nb.contact_id = g.id
        LEFT JOIN events_by eb ON eb.contact_id = g.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, operation_id])
        return cursor.rowcount


UNDO_WINDOW = dt.timedelta(hours=1)
ERR_DELETE_IN_USE = _(
    "These contacts have conversations in the inbox (or other records that point to them), so they "
    "cannot be deleted. Nothing was deleted."
)
# The due-work kind (``core.duework``) of the contacts' periodic maintenance: bulk operations
# to forget once their undo window closes, and contact indexes a dead bulk import left out.
CONTACTS_MAINTENANCE = "contacts_maintenance"
duework.register(CONTACTS_MAINTENANCE)


def _ids_sql(queryset) -> tuple[str, list]:
    sql, params = queryset.order_by().values("id").query.sql_with_params()
    return sql, list(params)


@transaction.atomic
def contacts_bulk_action(*, queryset, action: str, params: dict, by=None) -> BulkOperation:
    """Apply ``action`` to every contact of ``queryset`` with set-based SQL; returns the
    operation (``affected`` rows) that ``contacts_bulk_undo`` can revert within the window.

    ``params``: ``tag_id`` (tag/untag), ``list_id`` (add_to_list), ``owner_id`` (assign_owner;
    None clears). Caller checks the ids exist.
    """
    schema = require_tenant_schema()
    operation = BulkOperation.objects.create(action=action, params=params, actor_id=actor_id(by))
    duework.mark_on_commit(CONTACTS_MAINTENANCE, schema, operation.created_at + UNDO_WINDOW)
    where_sql, where_params = _ids_sql(queryset)
    actor = actor_id(by)
    # action -> (timeline kind, SET clause, its params, extra WHERE, previous-value SQL or None)
    plans: dict[str, tuple[str, str, list[Any], str, str | None]] = {
        BulkAction.TAG: (
            "contact.tagged",
            "tag_ids = array_append(c.tag_ids, %s::bigint)",
            [params.get("tag_id")],
            "NOT c.tag_ids @> ARRAY[%s::bigint]",
            None,
        ),
        BulkAction.UNTAG: (
            "contact.untagged",
            "tag_ids = array_remove(c.tag_ids, %s::bigint)",
            [params.get("tag_id")],
            "c.tag_ids @> ARRAY[%s::bigint]",
            None,
        ),
        BulkAction.ASSIGN_OWNER: (
            "contact.owner_changed",
            "owner_id = %s",
            [params.get("owner_id")],
            "c.owner_id IS DISTINCT FROM %s",
            "coalesce(to_jsonb(old.owner_id), 'null'::jsonb)",
        ),
        BulkAction.OPT_OUT: (
            "contact.opted_out",
            "consent_status = 'opted_out', consent_changed_at = now(), consent_source = 'bulk'",
            [],
            "c.consent_status <> 'opted_out'",
            "jsonb_build_array(old.consent_status, old.consent_changed_at, old.consent_source)",
        ),
    }
    plan = plans.get(action)
    affected = 0
    with connection.cursor() as cursor:
        if action == BulkAction.DELETE:
            # Another app's rows may point at a contact (inbox conversations). Their foreign
            # keys are checked at commit (Django makes them deferred), where a refusal is a 500:
            # checked at the DELETE instead, and then the whole action (its operation row
            # included) rolls back.
            try:
                with transaction.atomic():
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    affected = _delete_contacts_sql(f"SELECT id FROM ({where_sql}) s", where_params, operation.pk)
            except IntegrityError:
                raise ContactDataError({"contacts": ERR_DELETE_IN_USE}) from None
            finally:
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        elif action == BulkAction.ADD_TO_LIST:
            cursor.execute(
                f"""WITH added AS (
                        INSERT INTO crm_contactlistmember (contact_list_id, contact_id, added_at)
                        SELECT %s, s.id, now() FROM ({where_sql}) s
                        ON CONFLICT DO NOTHING RETURNING contact_id)
                    UPDATE crm_bulkoperation SET contact_ids = (SELECT coalesce(array_agg(contact_id), '{{}}') FROM added)
                    WHERE id = %s RETURNING cardinality(contact_ids)""",
                [params["list_id"], *where_params, operation.pk],
            )
            affected = cursor.fetchone()[0]
        elif plan is not None:
            kind, set_sql, set_params, extra_where, previous_sql = plan
            extra_params = [params.get("tag_id")] if "%s" in extra_where and action != BulkAction.ASSIGN_OWNER else []
            if action == BulkAction.ASSIGN_OWNER:
                extra_params = [params.get("owner_id")]
            old_join = "FROM crm_contact old" if previous_sql else ""
            old_where = "AND old.id = c.id" if previous_sql else ""
            returning = f"c.id, {previous_sql} AS prev" if previous_sql else "c.id, NULL::jsonb AS prev"
            cursor.execute(
                f"""WITH changed AS (
                        UPDATE crm_contact c SET {set_sql}, updated_at = now() {old_join}
                        WHERE c.id IN ({where_sql}) AND {extra_where} {old_where}
                        RETURNING {returning}),
                    logged AS (
                        INSERT INTO crm_timelineevent (contact_id, kind, data, actor_id, at)
                        SELECT id, %s, %s::jsonb, %s, now() FROM changed)
                    UPDATE crm_bulkoperation SET
                        contact_ids = (SELECT coalesce(array_agg(id), '{{}}') FROM changed),
                        previous = (SELECT coalesce(jsonb_object_agg(id, prev), '{{}}'::jsonb) FROM changed
                                    WHERE prev IS NOT NULL)
                    WHERE id = %s RETURNING cardinality(contact_ids)""",
                [
                    *set_params,
                    *where_params,
                    *extra_params,
                    kind,
                    json.dumps({"bulk": operation.pk, **params}),
                    actor,
                    operation.pk,
                ],
            )
            affected = cursor.fetchone()[0]
        else:
            raise ValueError(f"unknown bulk action {action!r}")
    BulkOperation.objects.filter(pk=operation.pk).update(affected=affected)
    operation.refresh_from_db()
    send_event_on_commit({"type": "crm.contacts", "op": "bulk", "action": action, "affected": affected})
    return operation


@transaction.atomic
def contacts_bulk_undo(*, operation: BulkOperation, by=None) -> int:
    """Revert a bulk operation (once, within ``UNDO_WINDOW``); returns the contacts restored."""
    require_tenant_schema()
    operation = BulkOperation.objects.select_for_update().get(pk=operation.pk)
    ids = operation.contact_ids
    params = operation.params
    restored = 0
    with connection.cursor() as cursor:
        if operation.action == BulkAction.TAG:
            cursor.execute(
                "UPDATE crm_contact SET tag_ids = array_remove(tag_ids, %s::bigint) WHERE id = ANY(%s)",
                [params["tag_id"], ids],
            )
            restored = cursor.rowcount
        elif operation.action == BulkAction.UNTAG:
            cursor.execute(
                """UPDATE crm_contact SET tag_ids = array_append(tag_ids, %s::bigint)
                   WHERE id = ANY(%s) AND NOT tag_ids @> ARRAY[%s::bigint]""",
                [params["tag_id"], ids, params["tag_id"]],
            )
            restored = cursor.rowcount
        elif operation.action == BulkAction.ADD_TO_LIST:
            cursor.execute(
                "DELETE FROM crm_contactlistmember WHERE contact_list_id = %s AND contact_id = ANY(%s)",
                [params["list_id"], ids],
            )
            restored = cursor.rowcount
        elif operation.action == BulkAction.ASSIGN_OWNER:
            cursor.execute(
                """UPDATE crm_contact c SET owner_id = (p.value #>> '{}')::bigint
                   FROM jsonb_each(%s::jsonb) p WHERE c.id = p.key::bigint""",
                [json.dumps(operation.previous)],
            )
            restored = cursor.rowcount
        elif operation.action == BulkAction.OPT_OUT:
            cursor.execute(
                """UPDATE crm_contact c SET consent_status = p.value->>0,
                       consent_changed_at = (p.value->>1)::timestamptz, consent_source = p.value->>2
                   FROM jsonb_each(%s::jsonb) p WHERE c.id = p.key::bigint""",
                [json.dumps(operation.previous)],
            )
            restored = cursor.rowcount
            cursor.execute(
                "DELETE FROM crm_timelineevent WHERE contact_id = ANY(%s) AND kind = 'contact.opted_out' "
                "AND data @> %s::jsonb",
                [ids, json.dumps({"bulk": operation.pk})],
            )
        elif operation.action == BulkAction.DELETE:
            columns = ", ".join(CONTACT_COLUMNS)
            cursor.execute(
                f"""INSERT INTO crm_contact ({columns})
                    SELECT {", ".join("r." + c for c in CONTACT_COLUMNS)}
                    FROM crm_deletedcontact d, jsonb_populate_record(NULL::crm_contact, d.row) r
                    WHERE d.operation_id = %s ON CONFLICT DO NOTHING""",
                [operation.pk],
            )
            restored = cursor.rowcount
            for table, key in (("crm_note", "notes"), ("crm_timelineevent", "timeline")):
                cursor.execute(
                    f"""INSERT INTO {table}
                        SELECT (jsonb_populate_record(NULL::{table}, x)).*
                        FROM crm_deletedcontact d, jsonb_array_elements(d.related->'{key}') x
                        WHERE d.operation_id = %s
                          AND EXISTS (SELECT 1 FROM crm_contact c WHERE c.id = (x->>'contact_id')::bigint)
                        ON CONFLICT DO NOTHING""",
                    [operation.pk],
                )
            cursor.execute(
                """INSERT INTO crm_contactlistmember (contact_list_id, contact_id, added_at)
                   SELECT l::bigint, (d.row->>'id')::bigint, now()
                   FROM crm_deletedcontact d, jsonb_array_elements_text(d.related->'lists') l
                   WHERE d.operation_id = %s
                     AND EXISTS (SELECT 1 FROM crm_contact c WHERE c.id = (d.row->>'id')::bigint)
                     AND EXISTS (SELECT 1 FROM crm_contactlist cl WHERE cl.id = l::bigint)
                   ON CONFLICT DO NOTHING""",
                [operation.pk],
            )
            DeletedContact.objects.filter(operation=operation).delete()
        if operation.action in (BulkAction.TAG, BulkAction.UNTAG, BulkAction.ASSIGN_OWNER):
            kinds: dict[str, str] = {
                BulkAction.TAG: "contact.tagged",
                BulkAction.UNTAG: "contact.untagged",
                BulkAction.ASSIGN_OWNER: "contact.owner_changed",
            }
            kind = kinds[operation.action]
            cursor.execute(
                "DELETE FROM crm_timelineevent WHERE contact_id = ANY(%s) AND kind = %s AND data @> %s::jsonb",
                [ids, kind, json.dumps({"bulk": operation.pk})],
            )
    operation.undone_at = timezone.now()
    operation.save(update_fields=["undone_at"])
    send_event_on_commit({"type": "crm.contacts", "op": "bulk_undo", "action": operation.action})
    return restored


def bulk_operations_purge(*, older_than: dt.timedelta = UNDO_WINDOW) -> int:
    """Forget operations past their undo window (deleted contacts' data goes for good), and mark
    the company due again for when the next one's window closes."""
    schema = require_tenant_schema()
    deleted, _ = BulkOperation.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    oldest = BulkOperation.objects.aggregate(at=Min("created_at"))["at"]
    if oldest is not None:
        duework.mark_on_commit(CONTACTS_MAINTENANCE, schema, oldest + older_than)
    return deleted
