"""Branch conditions, evaluated for a whole group of enrolments in one query each."""

from __future__ import annotations

from django.db import connection

_SQL = {
    # An inbound message in any of the contact's conversations since the last cadence send (or
    # since enrolment when nothing was sent yet).
    "replied": """
        SELECT e.id FROM cadences_enrollment e
        WHERE e.id = ANY(%s) AND EXISTS (
            SELECT 1 FROM inbox_conversation cv JOIN inbox_message m ON m.conversation_id = cv.id
            WHERE cv.contact_id = e.contact_id AND m.direction = 'in'
              AND m.created_at >= COALESCE(e.last_sent_at, e.enrolled_at))
    """,
    "has_tag": """
        SELECT e.id FROM cadences_enrollment e JOIN crm_contact c ON c.id = e.contact_id
        WHERE e.id = ANY(%s) AND c.tag_ids @> ARRAY[%s]::bigint[]
    """,
    "lacks_tag": """
        SELECT e.id FROM cadences_enrollment e JOIN crm_contact c ON c.id = e.contact_id
        WHERE e.id = ANY(%s) AND NOT c.tag_ids @> ARRAY[%s]::bigint[]
    """,
    "field_equals": """
        SELECT e.id FROM cadences_enrollment e JOIN crm_contact c ON c.id = e.contact_id
        WHERE e.id = ANY(%s) AND lower(COALESCE(c.custom_fields ->> %s, '')) = lower(%s)
    """,
    # The engine's row of the last send reached read (or replied, which is above it).
    "read_last": """
        SELECT e.id FROM cadences_enrollment e JOIN campaigns_recipient r ON r.id = e.last_recipient_id
        WHERE e.id = ANY(%s) AND (r.read_at IS NOT NULL OR r.state IN ('read', 'replied'))
    """,
}


def condition_holds(config: dict, enrollment_ids: list[int]) -> set[int]:
    """The enrolments of ``enrollment_ids`` for which the branch's condition holds."""
    condition = str(config.get("condition", ""))
    if condition not in _SQL or not enrollment_ids:
        return set()
    params: list = [list(enrollment_ids)]
    if condition in ("has_tag", "lacks_tag"):
        params.append(int(config.get("tag_id") or 0))
    elif condition == "field_equals":
        params += [str(config.get("field", "")), str(config.get("value", ""))]
    with connection.cursor() as cursor:
        cursor.execute(_SQL[condition], params)
        return {row[0] for row in cursor.fetchall()}
