"""Step actions, run for a whole group of contacts inside the tick's transaction, set-based.

Built in: add or remove a tag, set the owner, assign the contact's open conversations, add a
note, notify an agent (a realtime event to that person). Other apps add theirs through
``cadences.extensions.register_action`` (the Kanban board's "move the card" goes there).
"""

from __future__ import annotations

import datetime as dt

from django.db import connection

from cadences import extensions


def run(config: dict, contact_ids: list[int], *, cadence, now: dt.datetime) -> None:
    action = str(config.get("action", ""))
    if not contact_ids:
        return
    registered = extensions.actions().get(action)
    if registered is not None:
        registered.run(contact_ids, config)
        return
    with connection.cursor() as cursor:
        if action == "add_tag":
            cursor.execute(
                "UPDATE crm_contact SET tag_ids = array_append(tag_ids, %s::bigint), updated_at = %s"
                " WHERE id = ANY(%s) AND NOT tag_ids @> ARRAY[%s]::bigint[]",
                [config["tag_id"], now, contact_ids, config["tag_id"]],
            )
        elif action == "remove_tag":
            cursor.execute(
                "UPDATE crm_contact SET tag_ids = array_remove(tag_ids, %s::bigint), updated_at = %s"
                " WHERE id = ANY(%s) AND tag_ids @> ARRAY[%s]::bigint[]",
                [config["tag_id"], now, contact_ids, config["tag_id"]],
            )
        elif action == "set_owner":
            cursor.execute(
                "UPDATE crm_contact SET owner_id = %s, updated_at = %s WHERE id = ANY(%s)"
                " AND owner_id IS DISTINCT FROM %s",
                [config["user_id"], now, contact_ids, config["user_id"]],
            )
        elif action == "assign_conversation":
            cursor.execute(
                "UPDATE inbox_conversation SET assignee_id = %s, updated_at = %s"
                " WHERE contact_id = ANY(%s) AND channel_id = %s AND status <> 'resolved'",
                [config["user_id"], now, contact_ids, cadence.channel_id],
            )
        elif action == "add_note":
            cursor.execute(
                "INSERT INTO crm_note (contact_id, body, created_at) SELECT unnest(%s::bigint[]), %s, %s",
                [contact_ids, config.get("text", ""), now],
            )
        elif action == "notify_agent":
            from core.realtime import send_event_on_commit

            send_event_on_commit(
                {
                    "type": "cadence",
                    "op": "notify",
                    "cadence": cadence.pk,
                    "name": cadence.name,
                    "text": config.get("text", ""),
                    "contacts": contact_ids[:50],
                    "count": len(contact_ids),
                },
                user_ids=[int(config["user_id"])],
            )
